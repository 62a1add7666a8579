import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { deleteMatching, escapeGlob } from '../../src/redis.js';

export const TEST_REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A prefix no other test run uses, hash-tagged like the default. */
export function uniquePrefix(label = 'test'): string {
  return `{us-${label}-${randomBytes(4).toString('hex')}}`;
}

export function testRedis(): Redis {
  return new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 3 });
}

/**
 * Deletes every key of a deployment: those that start with `prefix`, and, for a prefix that is
 * a hash tag (`{name}`), its partitions' (`{name-p<n>…}`).
 */
export async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  const patterns = [`${escapeGlob(prefix)}*`];
  const tag = /^\{([^}]+)\}$/.exec(prefix);
  if (tag) patterns.push(`{${escapeGlob(tag[1] as string)}-p*`);
  for (const pattern of patterns) await deleteMatching(redis, pattern);
}

/** Polls `check` until it returns a truthy value, or fails after `timeoutMs`. */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  {
    timeoutMs = 10_000,
    intervalMs = 25,
    what = 'condition',
  }: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
}
