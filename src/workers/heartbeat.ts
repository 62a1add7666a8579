/**
 * Worker processes announce themselves in one sorted set, scored by when their announcement
 * expires: a member per process says where it runs and its delivery concurrency, so that any
 * process can count the live workers of the deployment.
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { toError } from '../errors.js';
import type { DeploymentKeys } from '../jobs/names.js';
import type { Logger } from '../logger.js';
import type { Redis } from '../redis.js';

/** How often a live process renews its announcement, and how long one lives. */
export const HEARTBEAT_MS = 5_000;
export const HEARTBEAT_TTL_MS = 15_000;

/** One live worker process. */
export interface WorkerMember {
  host: string;
  pid: number;
  /** Unique per process start. */
  id: string;
  /** Its `workers` setting: concurrent deliveries per target queue. */
  concurrency: number;
}

/** This process, as a new member. */
export function thisProcess(concurrency: number): WorkerMember {
  return { host: hostname(), pid: process.pid, id: randomUUID(), concurrency };
}

/** The sorted-set member of a process: `host|pid|id|concurrency`. */
export function encodeMember(member: WorkerMember): string {
  return [member.host.replaceAll('|', '_'), member.pid, member.id, member.concurrency].join('|');
}

/** Reads a member back; undefined for anything that is not one. */
export function decodeMember(text: string): WorkerMember | undefined {
  const parts = text.split('|');
  if (parts.length !== 4) return undefined;
  const [host, pid, id, concurrency] = parts as [string, string, string, string];
  const member = { host, pid: Number(pid), id, concurrency: Number(concurrency) };
  return Number.isSafeInteger(member.pid) && Number.isSafeInteger(member.concurrency) ? member : undefined;
}

/** The live worker processes of the deployment. */
export async function readLiveWorkers(
  redis: Redis,
  keys: DeploymentKeys,
  now = Date.now(),
): Promise<WorkerMember[]> {
  const members = await redis.zrangebyscore(keys.workers, now, '+inf');
  return members.map(decodeMember).filter((m): m is WorkerMember => m !== undefined);
}

/** Announces this process while it runs workers. */
export class Heartbeat {
  private timer: NodeJS.Timeout | undefined;
  private readonly encoded: string;

  constructor(
    private readonly redis: Redis,
    private readonly keys: DeploymentKeys,
    member: WorkerMember,
    private readonly logger: Logger,
  ) {
    this.encoded = encodeMember(member);
  }

  /** Announces now, then every HEARTBEAT_MS; expired members of dead processes are dropped. */
  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => void this.beat(), HEARTBEAT_MS);
    this.timer.unref();
  }

  /** Stops announcing and withdraws the member. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.redis.zrem(this.keys.workers, this.encoded).catch(() => undefined);
  }

  private async beat(): Promise<void> {
    try {
      const now = Date.now();
      await this.redis
        .multi()
        .zadd(this.keys.workers, now + HEARTBEAT_TTL_MS, this.encoded)
        .zremrangebyscore(this.keys.workers, '-inf', now)
        .exec();
    } catch (error) {
      this.logger.warn('heartbeat failed', { error: toError(error).message });
    }
  }
}
