/**
 * Standard Webhooks signing (https://www.standardwebhooks.com/): pure functions, no I/O. The
 * timestamp is an argument so the signature of a given attempt is reproducible in tests.
 */
import { createHmac } from 'node:crypto';

const SECRET_PREFIX = 'whsec_';
const BASE64_RE = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * The HMAC key of a Standard Webhooks secret: the bytes of the base64 after `whsec_` (the
 * prefix is optional, as in the reference libraries). Throws when the secret is not base64;
 * the message never repeats the secret.
 */
export function signatureKey(secret: string): Buffer {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  if (!BASE64_RE.test(encoded)) {
    throw new TypeError('signing secret must be "whsec_" followed by base64');
  }
  return Buffer.from(encoded, 'base64');
}

/**
 * The `webhook-signature` header value for one message: `v1,<base64 HMAC-SHA256 of
 * "<msgId>.<timestampSeconds>.<body>">` per secret, in the order given, separated by spaces,
 * so that receivers holding any one of the secrets (old or new, during a rotation) accept it.
 * `body` must be the exact string sent. Returns an empty string when `secrets` is empty.
 */
export function signWebhook(
  msgId: string,
  timestampSeconds: number,
  body: string,
  secrets: readonly string[],
): string {
  if (!Number.isSafeInteger(timestampSeconds)) {
    throw new RangeError(`webhook timestamp must be whole unix seconds, got ${timestampSeconds}`);
  }
  const content = `${msgId}.${timestampSeconds}.${body}`;
  return signatureKeys(secrets)
    .map((key) => `v1,${createHmac('sha256', key).update(content, 'utf8').digest('base64')}`)
    .join(' ');
}

/** The HMAC keys of a list of secrets, decoded once per list (a target's, from its config). */
const decodedKeys = new WeakMap<readonly string[], readonly Buffer[]>();

function signatureKeys(secrets: readonly string[]): readonly Buffer[] {
  let keys = decodedKeys.get(secrets);
  if (!keys) {
    keys = secrets.map(signatureKey);
    decodedKeys.set(secrets, keys);
  }
  return keys;
}

/** What the key of a derived state secret is an HMAC of: see {@link stateSecret}. */
export const STATE_SECRET_CONTEXT = 'user-sync state request v1';

/**
 * The secret that signs state requests (the consistency sweep's reads) for a target whose
 * `state.secrets` are not set, derived from one of its delivery secrets, so that a state
 * request never verifies as a delivery (and a captured one can never be replayed as an event):
 *
 *     key       = the bytes of `secret` (the base64 after `whsec_`)
 *     state key = HMAC-SHA256(key, UTF-8 "user-sync state request v1")   (32 bytes)
 *     returns     "whsec_" + base64(state key)
 *
 * A receiver that serves state computes it from the delivery secret it already holds (this
 * function is exported from the package for that) and verifies state requests with it alone.
 */
export function stateSecret(secret: string): string {
  const derived = createHmac('sha256', signatureKey(secret)).update(STATE_SECRET_CONTEXT, 'utf8').digest();
  return `${SECRET_PREFIX}${derived.toString('base64')}`;
}
