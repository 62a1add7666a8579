/**
 * The pure half of reading an HTTP target's state (README, "Consistency sweep"): the URL of a
 * single-user request, the body of a bulk request, and the parsing and validation of the
 * answers. No I/O; state.ts sends the requests.
 */

/**
 * The single-user state URL: every `{id}` in `template` replaced by the percent-encoded user
 * id (`encodeURIComponent`), so that an id can never add path segments, a query or a fragment.
 * Throws when the template has no `{id}` (every user would read the same resource).
 */
export function stateUrl(template: string, userId: string): string {
  if (!template.includes('{id}')) throw new Error('state url template must contain "{id}"');
  return template.replaceAll('{id}', encodeURIComponent(userId));
}

/** The body of a bulk state request, exactly as sent and signed. */
export function bulkStateBody(ids: readonly string[]): string {
  return JSON.stringify({ ids });
}

/** Whether `value` is a version a target may report: a non-negative safe integer, or null. */
export function isStateVersion(value: unknown): value is number | null {
  return value === null || (Number.isSafeInteger(value) && (value as number) >= 0);
}

/** A short, printable rendering of an unexpected JSON value, for error messages. */
function describeValue(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

function parseJson(body: string | Buffer): unknown {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new Error('answer is not JSON');
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Parses the 200 answer of a single-user state request: `{ "version": n }` with n a
 * non-negative integer. Throws an Error naming the user when the body is anything else.
 */
export function parseSingleState(body: string | Buffer, userId: string): number {
  const parsed = parseJson(body);
  if (!isPlainObject(parsed) || !Object.hasOwn(parsed, 'version')) {
    throw new Error(`answer for user ${JSON.stringify(userId)} is not { "version": n }`);
  }
  const version = parsed.version;
  if (version === null || !isStateVersion(version)) {
    throw new Error(
      `answer for user ${JSON.stringify(userId)} has version ${describeValue(version)}, not a non-negative integer`,
    );
  }
  return version;
}

/**
 * Parses the 200 answer of a bulk state request for `ids`: `{ "versions": { "<id>": n | null } }`.
 * Every id asked for must be there with a non-negative integer or null; ids not asked for are
 * ignored. Throws an Error naming the first id missing or holding something else.
 */
export function parseBulkState(body: string | Buffer, ids: readonly string[]): Map<string, number | null> {
  const parsed = parseJson(body);
  if (!isPlainObject(parsed) || !isPlainObject(parsed.versions)) {
    throw new Error('answer is not { "versions": { "<id>": n | null } }');
  }
  const versions = parsed.versions;
  const result = new Map<string, number | null>();
  const missing: string[] = [];
  for (const id of ids) {
    if (!Object.hasOwn(versions, id)) {
      missing.push(id);
      continue;
    }
    const version = versions[id];
    if (!isStateVersion(version)) {
      throw new Error(
        `answer has version ${describeValue(version)} for user ${JSON.stringify(id)}, not a non-negative integer or null`,
      );
    }
    result.set(id, version);
  }
  if (missing.length > 0) {
    throw new Error(
      `answer leaves out ${missing.length} of the ${ids.length} ids asked for, first ${JSON.stringify(missing[0])}`,
    );
  }
  return result;
}

/** `items` cut into consecutive slices of at most `size`. */
export function batches<T>(items: readonly T[], size: number): T[][] {
  if (!Number.isSafeInteger(size) || size < 1) throw new RangeError(`batch size must be >= 1, got ${size}`);
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
