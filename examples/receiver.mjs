// A service that receives user-sync webhooks: verifies the Standard Webhooks signature, drops
// duplicates by webhook-id, and applies each user only if its version is newer than what it
// holds. No dependency beyond Node.js.
//
//   WEBHOOK_SECRET=whsec_... PORT=4001 node examples/receiver.mjs
//
// HOST is the address to listen on: 127.0.0.1 by default, 0.0.0.0 in a container.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';

const secret = process.env.WEBHOOK_SECRET ?? '';
const port = Number(process.env.PORT ?? 4001);
const host = process.env.HOST ?? '127.0.0.1';
if (!secret.startsWith('whsec_')) {
  console.error('set WEBHOOK_SECRET to the whsec_... secret of this target in user-sync.config.json');
  process.exit(1);
}
const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
const users = new Map(); // user id -> { version, user, deleted }
const seen = new Set(); // webhook-ids already applied

/** Standard Webhooks: any `v1,<base64>` entry matching HMAC-SHA256 of "<id>.<timestamp>.<body>". */
function verify(id, timestamp, signatures, body) {
  if (!id || !timestamp || !signatures) return false;
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) return false; // replay window: 5 minutes
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest();
  return signatures.split(' ').some((entry) => {
    const [version, signature] = entry.split(',');
    const given = Buffer.from(signature ?? '', 'base64');
    return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
  });
}

createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    const id = req.headers['webhook-id'];
    if (!verify(id, req.headers['webhook-timestamp'], req.headers['webhook-signature'], body)) {
      res.writeHead(401).end('bad signature'); // 4xx: user-sync dead-letters it, no retry
      return;
    }
    if (!seen.has(id)) {
      seen.add(id);
      const event = JSON.parse(body);
      const current = users.get(String(event.user_id));
      if (!current || current.version < event.version) {
        users.set(String(event.user_id), {
          version: event.version,
          user: event.data.user,
          deleted: event.event_type === 'user.deleted',
        });
        console.log(`${event.event_type} user=${event.user_id} v${event.version}`);
      }
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
}).listen(port, host, () => console.log(`receiver listening on http://${host}:${port}`));
