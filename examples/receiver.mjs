// A service that receives user-sync webhooks: verifies the Standard Webhooks signature, drops
// duplicates by webhook-id, and applies each user only if its version is newer than what it
// holds. No dependency beyond Node.js; written to face the internet.
//
//   WEBHOOK_SECRET=whsec_... PORT=4001 node examples/receiver.mjs
//
// WEBHOOK_SECRET may list several secrets separated by spaces, while rotating them.
// HOST is the address to listen on: 127.0.0.1 by default, 0.0.0.0 in a container.
// MAX_SEEN_IDS is how many applied webhook-ids are remembered to drop duplicates (10000).
//
// Every request is answered (user-sync retries 408, 429 and 5xx, and dead-letters other 4xx):
//   405  not a POST
//   413  a body over 1 MiB (not kept: up to 8 MiB more is read and thrown away, then the connection is cut)
//   400  webhook headers missing, repeated or malformed (a webhook-timestamp that is not digits,
//        an id over 256 characters), or a correctly signed body that is not a user-sync event
//   401  a webhook-timestamp more than 5 minutes from now, or no signature that verifies
//   200  {"ok":true}, or {"ok":true,"duplicate":true} for an id applied already
//   500  anything unexpected (the process stays up)
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';

const MAX_BODY_BYTES = 1024 * 1024;
const TOLERANCE_SECONDS = 5 * 60;
const MAX_ID_LENGTH = 256;
/** Signatures looked at per request: a rotation needs two or three, not thousands. */
const MAX_SIGNATURES = 10;

const port = Number(process.env.PORT ?? 4001);
const host = process.env.HOST ?? '127.0.0.1';
const maxSeen = Number(process.env.MAX_SEEN_IDS ?? 10_000);
const keys = (process.env.WEBHOOK_SECRET ?? '')
  .split(/\s+/)
  .filter(Boolean)
  .map((secret) => {
    const encoded = secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : '';
    const key = Buffer.from(encoded, 'base64');
    return /^[A-Za-z0-9+/]+={0,2}$/.test(encoded) && key.length >= 16 ? key : undefined;
  });
if (keys.length === 0 || keys.includes(undefined)) {
  console.error('set WEBHOOK_SECRET to the whsec_... secret of this target in user-sync.config.json');
  process.exit(1);
}
if (!Number.isSafeInteger(maxSeen) || maxSeen < 1) {
  console.error('MAX_SEEN_IDS must be a whole number >= 1');
  process.exit(1);
}

const users = new Map(); // user id -> { version, user, deleted }
/** The last `maxSeen` webhook-ids applied, oldest first (a Set keeps insertion order). */
const seen = new Set();

function remember(id) {
  seen.add(id);
  if (seen.size > maxSeen) seen.delete(seen.values().next().value);
}

/** Standard Webhooks: some `v1,<base64>` entry is HMAC-SHA256 of "<id>.<timestamp>.<body>". */
function verify(id, timestamp, signatures, body) {
  const offered = signatures
    .split(' ')
    .slice(0, MAX_SIGNATURES)
    .filter((entry) => entry.startsWith('v1,'))
    .map((entry) => Buffer.from(entry.slice(3), 'base64'));
  return keys.some((key) => {
    const expected = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest();
    // Compared in constant time; a length mismatch says nothing about the key.
    return offered.some((given) => given.length === expected.length && timingSafeEqual(given, expected));
  });
}

/** The event, if `body` is the JSON of one (as user-sync sends it); undefined otherwise. */
function parseEvent(body) {
  let event;
  try {
    event = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  const ok =
    typeof event === 'object' &&
    event !== null &&
    (typeof event.user_id === 'string' || Number.isSafeInteger(event.user_id)) &&
    typeof event.event_type === 'string' &&
    Number.isSafeInteger(event.version) &&
    event.version >= 0 &&
    typeof event.data === 'object' &&
    event.data !== null &&
    typeof event.data.user === 'object' &&
    event.data.user !== null;
  return ok ? event : undefined;
}

/** A header given once; undefined when missing or repeated. */
function single(req, name) {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

function reply(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** What is still read (and thrown away) of a refused body, so the client sees the 413 rather than a reset. */
const DISCARD_BYTES = 8 * 1024 * 1024;

/**
 * Answers 413 and throws away what the client still sends, never keeping it, up to
 * DISCARD_BYTES (the connection then serves the next request); past that it is cut. Closing at
 * once, with the body unread, would make the kernel reset the connection, and the client could
 * lose the answer.
 */
function refuseTooLarge(req, res, alreadyRead = 0) {
  reply(res, 413, { ok: false, error: 'body too large' });
  let discarded = alreadyRead;
  req.on('data', (chunk) => {
    discarded += chunk.length;
    if (discarded > DISCARD_BYTES) req.destroy();
  });
  req.resume();
}

function handle(req, res, body) {
  const id = single(req, 'webhook-id');
  const timestamp = single(req, 'webhook-timestamp');
  const signatures = single(req, 'webhook-signature');
  if (!id || !timestamp || !signatures)
    return reply(res, 400, { ok: false, error: 'missing webhook headers' });
  if (id.length > MAX_ID_LENGTH) return reply(res, 400, { ok: false, error: 'webhook-id too long' });
  if (!/^\d{1,12}$/.test(timestamp)) return reply(res, 400, { ok: false, error: 'bad webhook-timestamp' });
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > TOLERANCE_SECONDS) {
    return reply(res, 401, { ok: false, error: 'webhook-timestamp too far from now' });
  }
  if (!verify(id, timestamp, signatures, body)) return reply(res, 401, { ok: false, error: 'bad signature' });
  if (seen.has(id)) return reply(res, 200, { ok: true, duplicate: true });
  const event = parseEvent(body);
  if (!event) return reply(res, 400, { ok: false, error: 'body is not a user-sync event' });
  const userId = String(event.user_id);
  const current = users.get(userId);
  if (!current || current.version < event.version) {
    users.set(userId, {
      version: event.version,
      user: event.data.user,
      deleted: event.event_type === 'user.deleted',
    });
    console.log(`${event.event_type} user=${userId} v${event.version}`);
  }
  remember(id);
  reply(res, 200, { ok: true });
}

const server = createServer((req, res) => {
  if (req.method !== 'POST') {
    res.setHeader('allow', 'POST');
    reply(res, 405, { ok: false, error: 'method not allowed' });
    req.resume();
    return;
  }
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) return refuseTooLarge(req, res);
  const chunks = [];
  let size = 0;
  let refused = false;
  req.on('data', (chunk) => {
    if (refused) return;
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      refused = true;
      chunks.length = 0;
      refuseTooLarge(req, res, size);
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (refused) return;
    try {
      handle(req, res, Buffer.concat(chunks));
    } catch (error) {
      console.error('receiver error:', error instanceof Error ? error.message : error);
      if (!res.headersSent) reply(res, 500, { ok: false, error: 'internal error' });
    }
  });
  req.on('error', () => res.destroy());
});
// Slow clients cannot hold connections open for ever.
server.headersTimeout = 10_000;
server.requestTimeout = 30_000;
server.listen(port, host, () => console.log(`receiver listening on http://${host}:${port}`));
