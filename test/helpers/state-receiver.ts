/** A receiving service with state endpoints, for sweep tests (real HTTP on 127.0.0.1, port 0). */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A service that receives user-sync's webhooks and keeps each user at the highest version it
 * got (a delete leaves a tombstone, so an older update cannot bring the user back), and that
 * answers user-sync's state endpoints from what it holds:
 * - `POST /state/bulk` `{ "ids": [...] }` → `{ "versions": { "<id>": n | null } }`;
 * - `GET /state/users/<id>` → 200 `{ "version": n }`, or 404 when it holds no such user.
 */
export interface StateReceiver {
  origin: string;
  webhookUrl: string;
  bulkUrl: string;
  singleUrl: string;
  /** What it holds, by user id. Tests change it behind user-sync's back to inject drift. */
  users: Map<string, { version: number; user: unknown }>;
  tombstones: Map<string, number>;
  /** When set, the state endpoints answer 500 (deliveries are still accepted). */
  stateFails: boolean;
  stateRequests: number;
  webhooks: number;
  close(): Promise<void>;
}

interface WebhookBody {
  user_id: string | number;
  event_type: string;
  version: number;
  data: { user: unknown };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export async function startStateReceiver(): Promise<StateReceiver> {
  const receiver: StateReceiver = {
    origin: '',
    webhookUrl: '',
    bulkUrl: '',
    singleUrl: '',
    users: new Map(),
    tombstones: new Map(),
    stateFails: false,
    stateRequests: 0,
    webhooks: 0,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const held = (id: string) => receiver.users.get(id)?.version ?? null;
  const server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const url = req.url ?? '';
      if (req.method === 'POST' && url === '/webhooks/users') {
        receiver.webhooks++;
        const event = JSON.parse(body) as WebhookBody;
        const id = String(event.user_id);
        const current = Math.max(held(id) ?? 0, receiver.tombstones.get(id) ?? 0);
        if (event.version > current) {
          if (event.event_type === 'user.deleted') {
            receiver.users.delete(id);
            receiver.tombstones.set(id, event.version);
          } else {
            receiver.users.set(id, { version: event.version, user: event.data.user });
          }
        }
        res.end('ok');
        return;
      }
      if (url === '/state/bulk' || url.startsWith('/state/users/')) {
        receiver.stateRequests++;
        if (receiver.stateFails) return json(res, 500, { error: 'state store down' });
      }
      if (req.method === 'POST' && url === '/state/bulk') {
        const { ids } = JSON.parse(body) as { ids: string[] };
        return json(res, 200, { versions: Object.fromEntries(ids.map((id) => [id, held(id)])) });
      }
      if (req.method === 'GET' && url.startsWith('/state/users/')) {
        const version = held(decodeURIComponent(url.slice('/state/users/'.length)));
        return version === null ? json(res, 404, { error: 'no such user' }) : json(res, 200, { version });
      }
      json(res, 404, { error: 'not found' });
    })().catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  receiver.webhookUrl = `${receiver.origin}/webhooks/users`;
  receiver.bulkUrl = `${receiver.origin}/state/bulk`;
  receiver.singleUrl = `${receiver.origin}/state/users/{id}`;
  return receiver;
}
