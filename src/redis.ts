import { createHash } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';

export type { Redis } from 'ioredis';

/** The Redis used when neither the config nor `REDIS_URL` names one. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** Connects to a Redis URL with options fit for user-sync's own commands (not BullMQ's blocking ones). */
export function connectRedis(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: 20, ...options });
}

/**
 * A connection BullMQ may use for workers: same server and options as `base`, with
 * `maxRetriesPerRequest: null` as BullMQ requires for blocking commands.
 */
export function workerConnection(base: Redis): Redis {
  return base.duplicate({ maxRetriesPerRequest: null });
}

/** Redacts the password of a redis:// URL, for logs and errors. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable url)';
  }
}

/** A Lua script run with EVALSHA, loaded on first NOSCRIPT (after a restart or on a new server). */
export class LuaScript {
  readonly sha: string;
  constructor(
    readonly source: string,
    readonly numberOfKeys: number,
  ) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(redis: Redis, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    if (keys.length !== this.numberOfKeys)
      throw new Error(`script expects ${this.numberOfKeys} keys, got ${keys.length}`);
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.includes('NOSCRIPT')) throw error;
      return redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}
