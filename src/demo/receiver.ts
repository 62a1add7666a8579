/**
 * A sample receiving service, as another team would write one: verifies Standard Webhooks
 * signatures, drops duplicates by `webhook-id`, applies events by version, and (for the demo)
 * fails a share of requests on purpose.
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { signWebhook } from '../executors/http/signing.js';

/** Options of {@link startReceiver}. */
export interface ReceiverOptions {
  /** Name of the service, for output. */
  name: string;
  /** Port on 127.0.0.1. Default: a free one. */
  port?: number;
  /** Signing secrets (`whsec_…`) accepted; a request signed with any one of them is accepted. */
  secrets: string[];
  /** Share of valid requests answered with a failure, from 0 to 1. Default 0. */
  failRate?: number;
  /** Share of those failures answered 422 (not retryable) instead of 503 (retryable). Default 0. */
  permanentFailRate?: number;
  /** Largest clock difference accepted for `webhook-timestamp`, in seconds. Default 300. */
  toleranceSeconds?: number;
  /** Random source in [0, 1), for the failures. Default `Math.random`. */
  random?: () => number;
  /** Clock in milliseconds, for the timestamp check. Default `Date.now`. */
  now?: () => number;
}

/** What a receiver holds of one user. */
export interface ReceivedUser {
  version: number;
  user: Record<string, unknown>;
  deleted: boolean;
}

/** A running receiver. Its counters move as requests arrive. */
export interface Receiver {
  /** URL to deliver to. */
  url: string;
  name: string;
  /** Users by id (as a string), at the newest version received. */
  users: Map<string, ReceivedUser>;
  /** Requests received. */
  received: number;
  /** Requests refused for a missing or bad signature, a stale timestamp or a bad body (4xx). */
  rejected: number;
  /** Failures answered on purpose (`failRate`). */
  failed: number;
  /** Requests whose `webhook-id` had already been applied. */
  duplicates: number;
  /** Events applied (newer than what was held). */
  applied: number;
  /** Events older than what was held, acknowledged and ignored. */
  stale: number;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 1024 * 1024;
/** Remembered webhook ids, oldest forgotten first. */
const MAX_SEEN = 100_000;

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** True when one of the `v1,` signatures in `header` is the one `secret` gives for this message. */
export function verifySignature(
  msgId: string,
  timestamp: number,
  body: string,
  signatureHeader: string,
  secrets: readonly string[],
): boolean {
  const offered = signatureHeader
    .split(' ')
    .filter((entry) => entry.startsWith('v1,'))
    .map((entry) => Buffer.from(entry.slice(3), 'base64'));
  for (const secret of secrets) {
    const expected = Buffer.from(signWebhook(msgId, timestamp, body, [secret]).slice(3), 'base64');
    for (const candidate of offered) {
      if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) return true;
    }
  }
  return false;
}

function reply(res: ServerResponse, status: number, body: Record<string, unknown>): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

interface WebhookBody {
  user_id: string | number;
  event_type: string;
  version: number;
  data: { user: Record<string, unknown> };
}

function parseBody(body: string): WebhookBody | undefined {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  const data = v.data as Record<string, unknown> | undefined;
  if (
    (typeof v.user_id !== 'string' && typeof v.user_id !== 'number') ||
    typeof v.event_type !== 'string' ||
    typeof v.version !== 'number' ||
    typeof data !== 'object' ||
    data === null ||
    typeof data.user !== 'object' ||
    data.user === null
  ) {
    return undefined;
  }
  return v as unknown as WebhookBody;
}

/**
 * Starts a receiver on 127.0.0.1. Each POST is answered:
 * - 401 when the Standard Webhooks signature does not verify with any secret, or the timestamp
 *   is more than `toleranceSeconds` away; 400 when headers or body are missing or malformed;
 * - 200 `{ "ok": true, "duplicate": true }` for a `webhook-id` already applied;
 * - 503 (or 422, for `permanentFailRate` of them) for `failRate` of the rest;
 * - otherwise 200 `{ "ok": true }`, after keeping the user if the version is newer than the one
 *   held (a delete keeps it with `deleted: true`, so an older update cannot bring it back).
 */
export async function startReceiver(options: ReceiverOptions): Promise<Receiver> {
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  const failRate = options.failRate ?? 0;
  const permanentFailRate = options.permanentFailRate ?? 0;
  const toleranceSeconds = options.toleranceSeconds ?? 300;
  const seen = new Set<string>();

  const handle = (req: IncomingMessage, res: ServerResponse, body: string) => {
    receiver.received++;
    const reject = (status: number, error: string) => {
      receiver.rejected++;
      reply(res, status, { ok: false, error });
    };
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      return reject(405, 'method not allowed');
    }
    const id = header(req, 'webhook-id');
    const timestampText = header(req, 'webhook-timestamp');
    const signature = header(req, 'webhook-signature');
    if (!id || !timestampText || !signature) return reject(400, 'missing webhook headers');
    const timestamp = Number(timestampText);
    if (!/^\d+$/.test(timestampText) || !Number.isSafeInteger(timestamp)) {
      return reject(401, 'bad webhook-timestamp');
    }
    if (Math.abs(Math.floor(now() / 1000) - timestamp) > toleranceSeconds) {
      return reject(401, 'webhook-timestamp too far from now');
    }
    if (!verifySignature(id, timestamp, body, signature, options.secrets)) {
      return reject(401, 'bad signature');
    }
    if (seen.has(id)) {
      receiver.duplicates++;
      return reply(res, 200, { ok: true, duplicate: true });
    }
    const event = parseBody(body);
    if (!event) return reject(400, 'malformed body');
    if (failRate > 0 && random() < failRate) {
      receiver.failed++;
      if (permanentFailRate > 0 && random() < permanentFailRate) {
        return reply(res, 422, { ok: false, error: 'cannot process this user (simulated)' });
      }
      return reply(res, 503, { ok: false, error: 'temporarily unavailable (simulated)' });
    }
    const userId = String(event.user_id);
    const held = receiver.users.get(userId);
    if (held && held.version >= event.version) {
      receiver.stale++;
    } else {
      receiver.users.set(userId, {
        version: event.version,
        user: event.data.user,
        deleted: event.event_type === 'user.deleted',
      });
      receiver.applied++;
    }
    seen.add(id);
    if (seen.size > MAX_SEEN) {
      const oldest = seen.values().next();
      if (!oldest.done) seen.delete(oldest.value);
    }
    reply(res, 200, { ok: true });
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        receiver.received++;
        receiver.rejected++;
        reply(res, 413, { ok: false, error: 'body too large' });
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (size <= MAX_BODY_BYTES) handle(req, res, Buffer.concat(chunks).toString('utf8'));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  const receiver: Receiver = {
    url: `http://127.0.0.1:${port}/webhooks/users`,
    name: options.name,
    users: new Map(),
    received: 0,
    rejected: 0,
    failed: 0,
    duplicates: 0,
    applied: 0,
    stale: 0,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return receiver;
}
