/**
 * The benchmarks' own Redis: a private redis-server without persistence on a free port,
 * flushed between runs and stopped at the end, so that nothing else's keys or traffic are in
 * its figures; and what it says of itself (commands served, memory used).
 */
import { Redis } from 'ioredis';
import { startOwnRedis } from '../../test/helpers/redis-server.js';

export interface BenchRedis {
  url: string;
  /** A connection for the benchmark's own reads, flushes and INFO. */
  admin: Redis;
  version: string;
  /** Empties it and lets memory settle. */
  flush(): Promise<void>;
  stop(): Promise<void>;
}

export async function startBenchRedis(): Promise<BenchRedis> {
  const server = await startOwnRedis({ persistence: false });
  const admin = new Redis(server.url, { maxRetriesPerRequest: 3 });
  const stopServer = () => void server.destroy();
  process.once('exit', stopServer);
  const info = await admin.info('server');
  return {
    url: server.url,
    admin,
    version: /redis_version:(\S+)/.exec(info)?.[1] ?? '?',
    flush: async () => {
      await admin.flushall('SYNC');
      await admin.call('MEMORY', 'PURGE');
    },
    stop: async () => {
      await admin.quit().catch(() => undefined);
      await server.destroy();
      process.off('exit', stopServer);
    },
  };
}

/** Commands served between two `storeCommandCalls` (store.ts), less the benchmark's own INFO calls. */
export function commandsBetween(before: Map<string, number>, after: Map<string, number>): number {
  let total = 0;
  for (const [name, n] of after) if (name !== 'info') total += n - (before.get(name) ?? 0);
  return total;
}

/** Bytes Redis has allocated (INFO memory used_memory). */
export async function usedMemory(redis: Redis): Promise<number> {
  await redis.call('MEMORY', 'PURGE');
  return Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1]);
}
