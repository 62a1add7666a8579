/**
 * The user locks a worker holds are renewed by one timer while any is held: a delivery that runs
 * longer than `lockDuration` keeps its user's lock, and the next version waits for it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { UserLocks } from '../../src/workers/user-lock.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { deletePrefix, testRedis, uniquePrefix, waitFor } from '../helpers/redis.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('user locks', () => {
  let redis: Redis;
  const prefix = uniquePrefix('locks');
  beforeAll(() => {
    redis = testRedis();
  });
  afterAll(async () => {
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  it('keeps every held lock alive past its ttl with one timer, and lets them expire once forgotten', async () => {
    const locks = new UserLocks(redis, 300);
    const held = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const key = `${prefix}:lock:t:${i}`;
        await redis.set(key, `token-${i}`, 'PX', 300);
        return locks.hold(key, `token-${i}`);
      }),
    );
    expect(locks.size).toBe(20);
    await sleep(1_000);
    for (const lock of held) expect(await redis.get(lock.key)).toBe(lock.token);
    await held[0]!.release();
    expect(await redis.exists(held[0]!.key)).toBe(0);
    for (const lock of held.slice(1)) lock.releasedByScript();
    expect(locks.size).toBe(0);
    await sleep(600);
    for (const lock of held.slice(1)) expect(await redis.exists(lock.key)).toBe(0);
  });

  it('never renews a lock another run holds now (its token differs)', async () => {
    const locks = new UserLocks(redis, 300);
    const key = `${prefix}:lock:t:other`;
    await redis.set(key, 'mine', 'PX', 300);
    const lock = locks.hold(key, 'mine');
    await redis.set(key, 'theirs', 'PX', 300);
    await sleep(700);
    expect(await redis.exists(key)).toBe(0);
    lock.releasedByScript();
  });
});

describe('a delivery longer than lockDuration', () => {
  let h: Harness | undefined;
  afterEach(async () => h?.close());

  it('keeps its user locked: the next version waits for it, then goes', async () => {
    h = await startHarness({
      httpTargets: 0,
      redisTarget: false,
      start: false,
      config: { lockDuration: 300, workers: 4 },
    });
    const calls: Array<{ version: number; start: number; end: number }> = [];
    h.subscriber.registerHandler('*', async (event) => {
      const start = Date.now();
      if (event.version === 1) await sleep(1_200);
      calls.push({ version: event.version, start, end: Date.now() });
    });
    const publisher = h.service.createPublisher('accounts');
    await publisher.publishUserCreated({ id: 9, username: 'slow' });
    await publisher.publishUserUpdated({ id: 9, username: 'after' });
    await h.service.start();
    await waitFor(() => calls.length === 2, { timeoutMs: 10_000, what: 'both versions handled' });
    expect(calls.map((c) => c.version)).toEqual([1, 2]);
    expect(calls[1]!.start).toBeGreaterThanOrEqual(calls[0]!.end);
  });
});
