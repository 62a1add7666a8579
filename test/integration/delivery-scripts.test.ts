/**
 * The delivery scripts take a batch of deliveries (the worker sends the starts and ends of the
 * deliveries that run at the same time in one call): each delivery of a batch as if alone, in
 * order — locks, watermarks and counts hold across the batch as across calls.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { formatLedger } from '../../src/jobs/ledger.js';
import { Keyspace, type Keys } from '../../src/jobs/names.js';
import {
  beginOf,
  deliverySteps,
  type BeginDeliveryArgs,
  type DeliveryBegin,
  type FinishDeliveryArgs,
} from '../../src/jobs/delivery-steps.js';
import { deletePrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

/** A batch of starts alone, as the worker sends them in a turn without ends. */
async function beginDeliveries(
  redis: Redis,
  keys: Keys,
  batch: readonly BeginDeliveryArgs[],
): Promise<DeliveryBegin[]> {
  const results = await deliverySteps(
    redis,
    keys,
    batch.map((begin) => ({ begin })),
  );
  return results.map(beginOf);
}

/** A batch of ends alone: per delivery, whether it counted. */
async function finishDeliveries(
  redis: Redis,
  keys: Keys,
  batch: readonly FinishDeliveryArgs[],
): Promise<boolean[]> {
  const results = await deliverySteps(
    redis,
    keys,
    batch.map((finish) => ({ finish })),
  );
  return results.map((r) => r === true);
}

describe('delivery scripts, in batches', () => {
  let redis: Redis;
  const prefix = uniquePrefix('scripts');
  const keys = new Keyspace(prefix, 1).partition(0);
  beforeAll(() => {
    redis = testRedis();
  });
  afterAll(async () => {
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  const begin = (
    userId: string,
    token: string,
    extra: Partial<BeginDeliveryArgs> = {},
  ): BeginDeliveryArgs => ({
    target: 'orders',
    userId,
    token,
    lockTtlMs: 10_000,
    snapshot: 'newer-or-equal',
    version: 1,
    jobKey: keys.job(keys.deliveryQueue('orders'), `evt-${userId}.orders`),
    rereadJob: false,
    ordered: true,
    ...extra,
  });
  const finish = (
    userId: string,
    token: string,
    extra: Partial<FinishDeliveryArgs> = {},
  ): FinishDeliveryArgs => ({
    target: 'orders',
    userId,
    token,
    jobKey: keys.job(keys.deliveryQueue('orders'), `evt-${userId}.orders`),
    version: 1,
    counter: 'delivered',
    latencyMs: 12,
    finishedAt: Date.now(),
    ...extra,
  });

  it('answers each delivery of a batch in order: a second delivery of the same user waits, another user goes', async () => {
    await redis.set(
      keys.ledger('a'),
      formatLedger({
        version: 2,
        deleted: false,
        type: 'user.updated',
        eventId: 'evt-a',
        timestamp: 'T',
        snapshot: '{"id":"a"}',
      }),
    );
    await redis.hset(keys.watermark('orders'), 'b', '5');
    const answers = await beginDeliveries(redis, keys, [
      begin('a', 'run-1'),
      begin('a', 'run-2'),
      begin('b', 'run-3'),
    ]);
    expect(answers).toEqual([
      {
        locked: true,
        watermark: 0,
        ledger: {
          version: 2,
          type: 'user.updated',
          eventId: 'evt-a',
          snapshot: '{"id":"a"}',
          deleted: false,
          timestamp: 'T',
        },
      },
      { locked: false },
      { locked: true, watermark: 5, ledger: undefined },
    ]);
    expect(await redis.get(keys.lock('orders', 'a'))).toBe('run-1');
  });

  it('ends each delivery of a batch once: the same job twice counts once, locks go only with their own token', async () => {
    await beginDeliveries(redis, keys, [begin('c', 'run-c'), begin('d', 'run-d')]);
    // The jobs' BullMQ hashes, where the counted outcome is remembered.
    for (const user of ['c', 'd']) await redis.hset(finish(user, '').jobKey, 'name', 'user.updated');
    const counted = await finishDeliveries(redis, keys, [
      finish('c', 'run-c', { version: 3 }),
      finish('c', 'run-c', { version: 2 }),
      finish('d', 'someone-else', { counter: 'superseded', version: undefined }),
    ]);
    expect(counted).toEqual([true, false, true]);
    // The watermark is raised once, never lowered by the later, older version.
    expect(await redis.hget(keys.watermark('orders'), 'c')).toBe('3');
    expect(await redis.hget(keys.watermark('orders'), 'd')).toBeNull();
    expect(await redis.exists(keys.lock('orders', 'c'))).toBe(0);
    expect(await redis.get(keys.lock('orders', 'd'))).toBe('run-d');
    expect(await redis.hgetall(keys.targetStats('orders'))).toMatchObject({
      delivered: '1',
      superseded: '1',
    });
  });

  it('runs the ends of a mixed batch before its starts, and answers each step at its own index', async () => {
    await beginDeliveries(redis, keys, [begin('m', 'run-m1')]);
    await redis.hset(finish('m', '').jobKey, 'name', 'user.created');
    await redis.hset(keys.watermark('orders'), 'n', '7');
    // A start listed before the end that frees its user's lock still finds it free: ends go first.
    const answers = await deliverySteps(redis, keys, [
      { begin: begin('m', 'run-m2', { version: 2, snapshot: 'none' }) },
      { finish: finish('m', 'run-m1', { version: 1 }) },
      { begin: begin('n', 'run-n') },
      { finish: finish('m', 'run-m1', { version: 1 }) },
    ]);
    expect(answers).toEqual([
      { locked: true, watermark: 1, ledger: undefined },
      true,
      { locked: true, watermark: 7, ledger: undefined },
      false,
    ]);
    expect(await redis.get(keys.lock('orders', 'm'))).toBe('run-m2');
    expect(await redis.get(keys.lock('orders', 'n'))).toBe('run-n');
    // An empty batch is one call that does nothing.
    expect(await deliverySteps(redis, keys, [])).toEqual([]);
  });

  it('lets deliveries that waited for the lock go in version order, a newer one waiting behind an older', async () => {
    await redis.set(keys.lock('orders', 'e'), 'holder', 'PX', 10_000);
    const at = (version: number, token: string) => begin('e', token, { version });
    expect(await beginDeliveries(redis, keys, [at(3, 'run-3'), at(2, 'run-2')])).toEqual([
      { locked: false },
      { locked: false },
    ]);
    expect(await redis.get(keys.turn('orders', 'e'))).toBe('2');
    await redis.del(keys.lock('orders', 'e'));
    // Lock free: version 3 still waits behind 2, and 4, new, too; 2 goes and its turn is over.
    expect(await beginDeliveries(redis, keys, [at(3, 'run-3'), at(4, 'run-4')])).toEqual([
      { locked: false },
      { locked: false },
    ]);
    const [two] = await beginDeliveries(redis, keys, [at(2, 'run-2')]);
    expect(two).toMatchObject({ locked: true });
    expect(await redis.exists(keys.turn('orders', 'e'))).toBe(0);
    // 3 finds 2 holding the lock, leaves its turn, and goes once 2 is done.
    expect(await beginDeliveries(redis, keys, [at(4, 'run-4'), at(3, 'run-3')])).toEqual([
      { locked: false },
      { locked: false },
    ]);
    expect(await redis.get(keys.turn('orders', 'e'))).toBe('3');
    await finishDeliveries(redis, keys, [finish('e', 'run-2', { version: 2 })]);
    expect(await beginDeliveries(redis, keys, [at(4, 'run-4'), at(3, 'run-3')])).toEqual([
      { locked: false },
      expect.objectContaining({ locked: true }),
    ]);
  });

  it("leaves a newer version's turn alone when an older one finds the lock free, and renews a turn whose holder waits again", async () => {
    await redis.set(keys.lock('orders', 'i'), 'holder', 'PX', 10_000);
    const at = (version: number, token: string) => begin('i', token, { version, lockTtlMs: 2_000 });
    expect(await beginDeliveries(redis, keys, [at(3, 'run-3')])).toEqual([{ locked: false }]);
    await redis.pexpire(keys.turn('orders', 'i'), 500);
    expect(await beginDeliveries(redis, keys, [at(3, 'run-3')])).toEqual([{ locked: false }]);
    expect(await redis.pttl(keys.turn('orders', 'i'))).toBeGreaterThan(1_000);
    await redis.del(keys.lock('orders', 'i'));
    // 2, older, goes; 3 keeps its turn, so 4 (new) cannot slip in before it once 2 is done.
    expect(await beginDeliveries(redis, keys, [at(2, 'run-2')])).toEqual([
      expect.objectContaining({ locked: true }),
    ]);
    expect(await redis.get(keys.turn('orders', 'i'))).toBe('3');
    await finishDeliveries(redis, keys, [finish('i', 'run-2', { version: 2 })]);
    expect(await beginDeliveries(redis, keys, [at(4, 'run-4'), at(3, 'run-3')])).toEqual([
      { locked: false },
      expect.objectContaining({ locked: true }),
    ]);
  });

  it('keeps no turns for a coalescing target: the newest version may go first', async () => {
    await redis.set(keys.lock('orders', 'h'), 'holder', 'PX', 10_000);
    const at = (version: number, token: string) => begin('h', token, { version, ordered: false });
    expect(await beginDeliveries(redis, keys, [at(2, 'run-2')])).toEqual([{ locked: false }]);
    expect(await redis.exists(keys.turn('orders', 'h'))).toBe(0);
    await redis.del(keys.lock('orders', 'h'));
    expect(await beginDeliveries(redis, keys, [at(3, 'run-3')])).toEqual([
      expect.objectContaining({ locked: true }),
    ]);
  });

  it.each([
    ['not a version', async (key: string) => redis.set(key, 'soon', 'PX', 10_000)],
    ['a version without an expiry', async (key: string) => redis.set(key, '1')],
    ['another type', async (key: string) => redis.rpush(key, '1')],
  ])('ignores a turn key holding %s: no delivery waits on it forever', async (_what, plant) => {
    const user = `f-${_what.length}`;
    await plant(keys.turn('orders', user));
    const [answer] = await beginDeliveries(redis, keys, [begin(user, 'run-f', { version: 5 })]);
    expect(answer).toMatchObject({ locked: true });
  });

  it("returns a format 3 job's data as stored now when the ledger has moved past it, only when asked", async () => {
    const ledger = (version: number) =>
      formatLedger({
        version,
        deleted: false,
        type: 'user.updated',
        eventId: `evt-g${version}`,
        timestamp: 'T',
        snapshot: '{"id":"g"}',
      });
    const jobKey = begin('g', '').jobKey;
    await redis.hset(jobKey, 'data', '{"version":1,"v":2,"whole":true}');
    await redis.set(keys.ledger('g'), ledger(2));
    const [asked] = await beginDeliveries(redis, keys, [begin('g', 'run-g1', { rereadJob: true })]);
    expect(asked).toMatchObject({ locked: true, storedData: '{"version":1,"v":2,"whole":true}' });
    await finishDeliveries(redis, keys, [finish('g', 'run-g1')]);
    const [notAsked] = await beginDeliveries(redis, keys, [begin('g', 'run-g2')]);
    expect(notAsked).not.toHaveProperty('storedData');
    await finishDeliveries(redis, keys, [finish('g', 'run-g2')]);
    // Its own event still the latest: nothing to read again.
    await redis.set(keys.ledger('g'), ledger(1));
    const [own] = await beginDeliveries(redis, keys, [begin('g', 'run-g3', { rereadJob: true })]);
    expect(own).not.toHaveProperty('storedData');
  });

  it('takes the largest batch the worker sends (64) in one call', async () => {
    const batch = Array.from({ length: 64 }, (_, i) => begin(`many-${i}`, `t-${i}`));
    const answers = await beginDeliveries(redis, keys, batch);
    expect(answers.filter((a) => a.locked)).toHaveLength(64);
    const ends = await finishDeliveries(
      redis,
      keys,
      batch.map((b) => finish(b.userId, b.token)),
    );
    expect(ends.every(Boolean)).toBe(true);
  });
});
