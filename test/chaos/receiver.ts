import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** What a receiver holds for one user, by version. */
export interface HeldUser {
  version: number;
  deleted: boolean;
}

/** One request the receiver answered 200 and applied (or found not newer). */
export interface Accepted {
  userId: string;
  version: number;
  type: string;
  webhookId: string;
  /** Whether it changed the state (its version was newer). */
  applied: boolean;
  at: number;
}

/** How a receiver that is down refuses requests. */
export type OutageMode = '503' | 'reset' | 'refused';

export interface ReceiverCounts {
  requests: number;
  accepted: number;
  applied: number;
  /** 503 answers: random failures and outage. */
  failed503: number;
  /** Connections destroyed during a `reset` outage. */
  reset: number;
  badSignature: number;
  badBody: number;
}

/**
 * A receiving service as the README asks them to be: verifies the Standard Webhooks signature,
 * applies a body only if its version is newer than the user's (a delete marks the user
 * deleted), and answers 200 for anything valid, newer or not. It logs every accepted request,
 * and can fail a share of requests (503) or go down entirely for a while.
 */
export class VersionedReceiver {
  readonly users = new Map<string, HeldUser>();
  readonly accepted: Accepted[] = [];
  readonly counts: ReceiverCounts = {
    requests: 0,
    accepted: 0,
    applied: 0,
    failed503: 0,
    reset: 0,
    badSignature: 0,
    badBody: 0,
  };
  /** Share of requests answered 503 at random while up. */
  failureRate = 0;
  /** Accepted requests are answered after a random delay up to this (the change is applied first). */
  maxLatencyMs = 0;
  private outage: OutageMode | undefined;
  private readonly webhook: Webhook;
  private readonly server = createServer((req, res) => this.handle(req, res));
  private readonly sockets = new Set<Socket>();
  private port = 0;
  private listening = false;
  private closed = false;

  constructor(
    readonly name: string,
    secret: string,
    /** Random numbers in [0, 1) for failures and latency (seeded by the test). */
    private readonly random: () => number,
  ) {
    this.webhook = new Webhook(secret);
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/webhooks/users`;
  }

  get down(): OutageMode | undefined {
    return this.outage;
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
    this.listening = true;
  }

  /** Goes down: answers 503 to everything, resets every connection, or stops listening. */
  async goDown(mode: OutageMode): Promise<void> {
    this.outage = mode;
    if (mode === 'refused') await this.stopListening();
  }

  /** Comes back up (same port). */
  async comeUp(): Promise<void> {
    const mode = this.outage;
    this.outage = undefined;
    if (mode === 'refused' && !this.closed) await this.listen();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.outage = undefined;
    await this.stopListening();
  }

  private async stopListening(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    this.server.closeAllConnections();
    await closed;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      this.counts.requests++;
      if (this.outage === 'reset' || this.outage === 'refused') {
        this.counts.reset++;
        req.socket.destroy();
        return;
      }
      if (this.outage === '503' || this.random() < this.failureRate) {
        this.counts.failed503++;
        res.statusCode = 503;
        res.end('unavailable');
        return;
      }
      const body = Buffer.concat(chunks).toString('utf8');
      try {
        this.webhook.verify(body, {
          'webhook-id': String(req.headers['webhook-id'] ?? ''),
          'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''),
          'webhook-signature': String(req.headers['webhook-signature'] ?? ''),
        });
      } catch {
        this.counts.badSignature++;
        res.statusCode = 401;
        res.end('bad signature');
        return;
      }
      let parsed: { user_id?: unknown; version?: unknown; event_type?: unknown };
      try {
        parsed = JSON.parse(body) as typeof parsed;
      } catch {
        parsed = {};
      }
      const { user_id: userId, version, event_type: type } = parsed;
      if (
        (typeof userId !== 'number' && typeof userId !== 'string') ||
        typeof version !== 'number' ||
        typeof type !== 'string'
      ) {
        this.counts.badBody++;
        res.statusCode = 400;
        res.end('bad body');
        return;
      }
      // Applied and logged before answering, in arrival order: this is the moment the
      // receiver's state changes, whatever happens to the answer.
      const id = String(userId);
      const held = this.users.get(id);
      const applied = !held || version > held.version;
      if (applied) this.users.set(id, { version, deleted: type === 'user.deleted' });
      this.counts.accepted++;
      if (applied) this.counts.applied++;
      this.accepted.push({
        userId: id,
        version,
        type,
        webhookId: String(req.headers['webhook-id']),
        applied,
        at: Date.now(),
      });
      const latency = Math.floor(this.random() * this.maxLatencyMs);
      if (latency > 0) setTimeout(() => res.end('ok'), latency);
      else res.end('ok');
    });
  }
}
