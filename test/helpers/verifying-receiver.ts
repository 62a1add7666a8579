/**
 * A receiving service for end-to-end tests: verifies every delivery's Standard Webhooks
 * signature with the `standardwebhooks` package, applies an event only if its version is newer
 * than what it holds (a delete leaves a tombstone), records whether it ever got an older version
 * after a newer one, and serves bulk state for the sweep. Real HTTP on 127.0.0.1, port 0.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface VerifyingReceiver {
  url: string;
  bulkUrl: string;
  /** Latest version held per user (absent when none or deleted). */
  users: Map<string, number>;
  tombstones: Map<string, number>;
  /** Every (user, version) received, in arrival order. */
  received: Array<{ user: string; version: number; taskId: string }>;
  /** Deliveries whose signature did not verify (must stay 0). */
  badSignatures: number;
  /** Users that were sent an older version after a newer one was applied (must stay empty). */
  wentBackwards: Set<string>;
  /** Answer this instead of applying (e.g. 422 for some users, 503 while "down"). */
  refuse: (user: string, body: { data: { user: { username?: string } } }) => number | undefined;
  close(): Promise<void>;
}

function read(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function reply(res: ServerResponse, status: number, body: unknown = { ok: status < 300 }): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

export async function startVerifyingReceiver(secret: string): Promise<VerifyingReceiver> {
  const webhook = new Webhook(secret);
  const r: VerifyingReceiver = {
    url: '',
    bulkUrl: '',
    users: new Map(),
    tombstones: new Map(),
    received: [],
    badSignatures: 0,
    wentBackwards: new Set(),
    refuse: () => undefined,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer((req, res) => {
    void (async () => {
      const body = await read(req);
      if (req.url === '/state') {
        const { ids } = JSON.parse(body) as { ids: string[] };
        return reply(res, 200, {
          versions: Object.fromEntries(ids.map((id) => [id, r.users.get(id) ?? null])),
        });
      }
      try {
        webhook.verify(body, {
          'webhook-id': String(req.headers['webhook-id']),
          'webhook-timestamp': String(req.headers['webhook-timestamp']),
          'webhook-signature': String(req.headers['webhook-signature']),
        });
      } catch {
        r.badSignatures++;
        return reply(res, 401);
      }
      const event = JSON.parse(body) as {
        task_id: string;
        user_id: string | number;
        version: number;
        event_type: string;
        data: { user: { username?: string } };
      };
      const user = String(event.user_id);
      const refused = r.refuse(user, event);
      if (refused !== undefined) return reply(res, refused);
      r.received.push({ user, version: event.version, taskId: event.task_id });
      const held = Math.max(r.users.get(user) ?? 0, r.tombstones.get(user) ?? 0);
      if (event.version < held) r.wentBackwards.add(user);
      if (event.version > held) {
        if (event.event_type === 'user.deleted') {
          r.users.delete(user);
          r.tombstones.set(user, event.version);
        } else r.users.set(user, event.version);
      }
      reply(res, 200);
    })().catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  r.url = `${origin}/webhooks/users`;
  r.bulkUrl = `${origin}/state`;
  return r;
}
