/**
 * What a user lookup shows of a snapshot: its field names, and its values with the personal ones
 * masked. An allow-list, not a block-list: only fields known to say nothing about the person
 * (`id`, `status`, `role`, timestamps, …) are shown as they are; every other value is masked,
 * so a field a service adds tomorrow (`address`, `birthday`) is never shown by accident. An
 * operator may ask for the values unmasked (`reveal`).
 */

/** Fields whose values are shown as they are (when they are plain values). */
export const PLAIN_FIELDS: ReadonlySet<string> = new Set([
  'id',
  'status',
  'role',
  'roles',
  'version',
  'plan',
  'tier',
  'created_at',
  'updated_at',
  'deleted_at',
  'createdAt',
  'updatedAt',
  'deletedAt',
]);

/** What a masked value is shown as when nothing of it can be shown. */
export const REDACTED = '[redacted]';

/** Most fields listed; the rest are counted. */
const MAX_FIELDS = 200;
/** Longest plain string shown. */
const MAX_PLAIN_LENGTH = 128;

const EMAIL_RE = /^([^\s@])[^\s@]*@([^\s@]+)$/;
const PHONE_RE = /^\+?[0-9][0-9 ().-]{2,31}$/;

/** Field names that hold phone numbers (`phone`, `mobile_phone`, `tel`, `mobile`, …). */
const PHONE_FIELD_RE = /phone|mobile|^tel|_tel$|fax/i;

/**
 * `ada@example.com` → `a***@example.com`; a phone number in a phone field → `***58`; anything
 * else → `[redacted]` (a date could look like a phone number: only phone fields are read so).
 */
export function maskValue(value: unknown, field = ''): string {
  if (typeof value === 'string') {
    const email = EMAIL_RE.exec(value);
    if (email) return `${email[1]}***@${email[2]}`;
    if (PHONE_FIELD_RE.test(field) && PHONE_RE.test(value)) {
      const digits = value.replace(/\D/g, '');
      return digits.length >= 6 ? `***${digits.slice(-2)}` : REDACTED;
    }
  }
  return REDACTED;
}

function isPlain(value: unknown): boolean {
  if (typeof value === 'string') return value.length <= MAX_PLAIN_LENGTH;
  return typeof value === 'number' || typeof value === 'boolean' || value === null;
}

/** A value of an allow-listed field: shown if it is plain (or a short list of plain values), else masked. */
function showPlain(value: unknown): unknown {
  if (isPlain(value)) return value;
  if (Array.isArray(value) && value.length <= 20 && value.every(isPlain)) return value;
  return REDACTED;
}

/** A snapshot as a lookup shows it. */
export interface SnapshotSummary {
  /** Its field names, in order. */
  fields: string[];
  /** Its values: personal ones masked unless revealed. */
  values: Record<string, unknown>;
  /** True when values were masked (not revealed). */
  redacted: boolean;
  /** Fields beyond the first 200, counted, not shown. */
  moreFields?: number;
}

/**
 * Summarizes a snapshot's JSON. `reveal`: the values as they are (operators only; the caller
 * checks the role). A snapshot that does not parse as an object is shown as no fields.
 */
export function summarizeSnapshot(snapshot: string | undefined, reveal: boolean): SnapshotSummary {
  let parsed: unknown;
  try {
    parsed = snapshot === undefined ? undefined : JSON.parse(snapshot);
  } catch {
    parsed = undefined;
  }
  const object =
    typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : {};
  const keys = Object.keys(object);
  const shown = keys.slice(0, MAX_FIELDS);
  const values: Record<string, unknown> = {};
  for (const key of shown) {
    const value = object[key];
    values[key] = reveal ? value : PLAIN_FIELDS.has(key) ? showPlain(value) : maskValue(value, key);
  }
  return {
    fields: shown,
    values,
    redacted: !reveal,
    ...(keys.length > MAX_FIELDS ? { moreFields: keys.length - MAX_FIELDS } : {}),
  };
}
