/**
 * The one redactor: every URL user-sync shows — in a log line, an error message, a dead letter,
 * the dashboard or the CLI — goes through it, so that no credential it carries is ever shown.
 *
 * - {@link redactUrl}: one URL.
 * - {@link redactText}: free text (error messages, failed reasons, excerpts).
 * - {@link redactValue}: a structured value (a log line's fields), recursively and bounded.
 * - {@link redactError}: an error about to be stored or shown (its message and stack).
 */

/** What is shown in place of a credential. */
export const MASK = '***';

/** `scheme://` authority, path, `?query`; what follows (the `#fragment`) is dropped. */
const URL_PARTS = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)([^?#]*)(\?[^#]*)?/i;

/**
 * A URL fit to show: the password of its user info masked (a user name alone, which often is a
 * token, masked too), every query value masked (`?password=` is honoured by ioredis, tokens
 * travel in queries), the fragment dropped. Scheme, host, port and path stay as written, so
 * that the URL still says where it points — and why it is wrong, in an error about a URL that
 * does not parse (a space in the host, a bad port). Anything that does not start with
 * `scheme://` is not shown at all.
 *
 * The masking works on the text, the way the URL parser splits it: the user info is all of the
 * authority (up to the first `/`, `?` or `#`) before its last `@`; the query runs from the
 * first `?` to the `#`. Masking what is masked already changes nothing.
 */
export function redactUrl(url: string): string {
  const parts = URL_PARTS.exec(url);
  if (!parts) return '(unparseable url)';
  const [, scheme = '', authority = '', path = '', query] = parts;
  const at = authority.lastIndexOf('@');
  let host = authority;
  if (at >= 0) {
    const userInfo = authority.slice(0, at);
    const colon = userInfo.indexOf(':');
    host = `${colon >= 0 ? `${userInfo.slice(0, colon)}:${MASK}` : MASK}${authority.slice(at)}`;
  }
  const masked =
    query === undefined || query === '?'
      ? ''
      : `?${query
          .slice(1)
          .split('&')
          .map((pair) => `${pair.split('=')[0] ?? ''}=${MASK}`)
          .join('&')}`;
  return `${scheme}${host}${path}${masked}`;
}

/** `scheme://…` runs in free text: what {@link redactText} looks for. */
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]+/gi;

/**
 * Free text (a driver's error message, a failed reason) fit to show: every URL in it redacted
 * by {@link redactUrl}, and the credentials of `knownUrls` masked wherever they appear on their
 * own (a driver may echo a password without its URL, a target may echo its own path and query).
 */
export function redactText(text: string, knownUrls: ReadonlyArray<string | undefined> = []): string {
  let out = text.replace(URL_IN_TEXT, (match) => redactUrl(match));
  for (const url of knownUrls) {
    if (url === undefined) continue;
    for (const secret of credentialsOf(url)) out = out.split(secret).join(MASK);
  }
  return out;
}

/** The credentials a URL carries, raw and percent-decoded: user info and query values. */
function credentialsOf(url: string): string[] {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return [];
  }
  const raw = [parsed.password || parsed.username, ...parsed.searchParams.values()].filter(
    (value) => value.length >= 4,
  );
  const out = new Set<string>();
  for (const value of raw) {
    out.add(value);
    try {
      out.add(decodeURIComponent(value));
    } catch {
      // a malformed escape: the raw form is masked already
    }
  }
  return [...out].filter((value) => value.length >= 4);
}

/** Bounds of {@link redactValue}: what lies beyond them is replaced, never shown unredacted. */
export const REDACT_LIMITS = {
  /** Levels of nesting followed; deeper values are shown as `[nested too deep]`. */
  depth: 6,
  /** Keys kept per object and items per array; the rest are summed up in one entry. */
  entries: 200,
} as const;

/**
 * A structured value (the fields of a log line) fit to show: every string in it through
 * {@link redactText}, objects and arrays copied (the value given is never changed), errors
 * shown as `{ name, message, code? }`, values with `toJSON` (URL, Date) by what it returns.
 * Bounded by {@link REDACT_LIMITS} and safe on cycles.
 */
export function redactValue(value: unknown, depth = 0, seen: WeakSet<object> = new WeakSet()): unknown {
  if (typeof value === 'string') return redactText(value);
  if (typeof value !== 'object' || value === null) return value;
  if (depth >= REDACT_LIMITS.depth) return '[nested too deep]';
  if (seen.has(value)) return '[circular]';
  seen.add(value);
  try {
    if (value instanceof Error) {
      const code: unknown = (value as { code?: unknown }).code;
      return {
        name: value.name,
        message: redactText(value.message),
        ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}),
      };
    }
    if (ArrayBuffer.isView(value)) return `[${value.byteLength} bytes]`;
    const toJSON: unknown = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return redactValue(toJSON.call(value) as unknown, depth + 1, seen);
    const limit = REDACT_LIMITS.entries;
    if (Array.isArray(value)) {
      const items: unknown[] = value.slice(0, limit).map((item) => redactValue(item, depth + 1, seen));
      if (value.length > limit) items.push(`[${value.length - limit} more]`);
      return items;
    }
    const out: Record<string, unknown> = {};
    const keys = Object.keys(value);
    for (const key of keys.slice(0, limit))
      out[key] = redactValue((value as Record<string, unknown>)[key], depth + 1, seen);
    if (keys.length > limit) out['…'] = `[${keys.length - limit} more keys]`;
    return out;
  } finally {
    seen.delete(value);
  }
}

/**
 * An error fit to store or show: its `message` and its `stack` (whose first line repeats the
 * message as it was when the error was made) through {@link redactText}. BullMQ keeps the
 * message of the error a processor throws as the job's `failedReason` and its stack in the
 * job's `stacktrace`, both shown by Bull Board.
 *
 * The error is redacted in place and returned, so that its class and fields (a DeliveryError's
 * `retryable`, `retryAfterMs`, …) still reach whoever reads it next. One that cannot be changed
 * (frozen) is replaced by a plain Error carrying the redacted message, name and stack.
 */
export function redactError(error: Error, knownUrls: ReadonlyArray<string | undefined> = []): Error {
  const message = redactText(error.message, knownUrls);
  const stack = typeof error.stack === 'string' ? redactText(error.stack, knownUrls) : undefined;
  if (message === error.message && stack === error.stack) return error;
  try {
    // defineProperty rather than assignment: some errors (DOMException) have a getter-only message.
    Object.defineProperty(error, 'message', { value: message, writable: true, configurable: true });
    if (stack !== undefined)
      Object.defineProperty(error, 'stack', { value: stack, writable: true, configurable: true });
    return error;
  } catch {
    const copy = new Error(message);
    copy.name = error.name;
    if (stack !== undefined) copy.stack = stack;
    return copy;
  }
}
