/**
 * The one redactor: every URL user-sync shows — in a log line, an error message, a dead letter,
 * the dashboard or the CLI — goes through it, so that no credential it carries is ever shown.
 */

/** What is shown in place of a credential. */
export const MASK = '***';

/**
 * A URL fit to show: the password of its user info masked (a user name alone, which often is a
 * token, masked too), every query value masked (`?password=` is honoured by ioredis, tokens
 * travel in queries), the fragment dropped. Scheme, host, port and path stay, so that the URL
 * still says where it points. What cannot be parsed as a URL is not shown at all.
 */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '(unparseable url)';
  }
  if (parsed.password) parsed.password = MASK;
  else if (parsed.username) parsed.username = MASK;
  for (const key of [...new Set(parsed.searchParams.keys())]) parsed.searchParams.set(key, MASK);
  parsed.hash = '';
  // URLSearchParams encodes the mask; show it as written.
  return parsed.toString().replaceAll(encodeURIComponent(MASK), MASK);
}

/** `scheme://…` runs in free text: what {@link redactText} looks for. */
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]+/gi;

/**
 * Free text (a driver's error message, a failed reason) fit to show: every URL in it redacted
 * by {@link redactUrl}, and the credentials of `knownUrls` masked wherever they appear on their
 * own (a driver may echo a password without its URL).
 */
export function redactText(text: string, knownUrls: readonly string[] = []): string {
  let out = text.replace(URL_IN_TEXT, (match) => redactUrl(match));
  for (const url of knownUrls) {
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
