/**
 * The HTTP receiver every benchmark delivers to, in a process of its own: it answers 200 at
 * once, counts requests, and notes each one's latency from the publish time the benchmark put
 * in the user snapshot (`data.user.sent_at`, on the machine-wide clock of `nowAbs`).
 */
import http from 'node:http';
import { serveLocally } from '../common.js';
import { nowAbs, serve } from '../harness/ipc.js';

let received = 0;
let unparsable = 0;
let latencies: number[] = [];

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const at = nowAbs();
    received++;
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        data?: { user?: { sent_at?: unknown } };
      };
      const sent = body.data?.user?.sent_at;
      if (typeof sent === 'number' && sent > 0) latencies.push(at - sent);
    } catch {
      unparsable++;
    }
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
    res.end('ok');
  });
});

const listening = serveLocally(server);

serve({
  url: async () => `${(await listening).origin}/webhooks/users`,
  /** What arrived since the last `take`, and starts counting afresh. */
  take: () => {
    const taken = { received, unparsable, latencies };
    received = 0;
    unparsable = 0;
    latencies = [];
    return taken;
  },
  exit: async () => (await listening).close(),
});
