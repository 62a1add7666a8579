import { afterEach, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import {
  QueueFullError,
  UserEventSubscriber,
  UserSyncService,
  ValidationError,
  createLogger,
  type UserEventInput,
} from '../../src/index.js';
import { parseLedger } from '../../src/jobs/ledger.js';
import { partitionOf } from '../../src/jobs/names.js';
import { MAX_SCRIPT_BATCH } from '../../src/producers/publisher.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { uniquePrefix } from '../helpers/redis.js';
import { startOwnRedis } from '../helpers/redis-server.js';

const created = (id: number | string, extra: Partial<UserEventInput> = {}): UserEventInput => ({
  type: 'user.created',
  user: { id, username: `user-${id}` },
  ...extra,
});

/**
 * Counts the scripts a Redis runs while `body` runs: `INFO commandstats` before and after. The
 * Redis must be this test's own (no other test's traffic). MONITOR was used before; ioredis can
 * lose its footing when monitor lines arrive in the same read as MONITOR's own OK, which a busy
 * shared Redis made happen.
 */
async function scriptsRun(redis: Redis, body: () => Promise<void>): Promise<number> {
  const calls = async () => {
    const info = await redis.info('commandstats');
    // Scripts that ran: an EVALSHA refused with NOSCRIPT (a failed call) is followed by its EVAL.
    let n = 0;
    for (const m of info.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+),.*failed_calls=(\d+)/gm))
      n += Number(m[1]) - Number(m[2]);
    return n;
  };
  const before = await calls();
  await body();
  return (await calls()) - before;
}

describe('publishMany', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('reports a bad event by its index and still publishes the others, each all or nothing', async () => {
    h = await startHarness({ start: false, httpTargets: 1, redisTarget: false, handlerTarget: false });
    const publisher = h.service.createPublisher('accounts');
    const outcomes = await publisher.publishMany([
      created(1),
      created(-5), // invalid id
      created(2, { version: 7 }),
      { type: 'user.renamed' as never, user: { id: 3 } }, // invalid type
      created(2, { version: 7, id: 'evt-other' }), // version 7 is held by another event
      created(4),
    ]);
    expect(outcomes.map((o) => o.ok)).toEqual([true, false, true, false, false, true]);
    const error = (i: number) => (outcomes[i] as { ok: false; error: Error }).error;
    expect(error(1)).toBeInstanceOf(ValidationError);
    expect((error(1) as ValidationError).field).toBe('user.id');
    expect((error(3) as ValidationError).field).toBe('type');
    expect((error(4) as ValidationError).field).toBe('version');
    expect(error(4).message).toMatch(/7 is already recorded for user 2/);
    const results = outcomes.flatMap((o) => (o.ok ? [o.result] : []));
    expect(results.map((r) => [r.version, r.tasks.length, r.duplicate])).toEqual([
      [1, 1, false],
      [7, 1, false],
      [1, 1, false],
    ]);
    // Exactly the three good events were enqueued.
    expect((await h.service.getQueueStatus()).queue_length).toBe(3);
    expect(await h.redis.zcard(`${h.prefix}:users`)).toBe(3);
  });

  it('a target at its cap refuses the events that go to it, not the rest of the batch', async () => {
    h = await startHarness({
      start: false,
      httpTargets: 2,
      redisTarget: false,
      handlerTarget: false,
      config: { queueSize: 2 },
      targetOverrides: { 'http-b': { events: ['user.deleted'] } },
    });
    const publisher = h.service.createPublisher('accounts');
    const outcomes = await publisher.publishMany([
      created(1),
      created(2),
      created(3), // http-a is full now
      { type: 'user.deleted', user: { id: 9 } }, // goes to http-a too: refused
      created(4),
    ]);
    expect(outcomes.map((o) => o.ok)).toEqual([true, true, false, false, false]);
    for (const i of [2, 3, 4]) {
      const { error } = outcomes[i] as { ok: false; error: Error };
      expect(error).toBeInstanceOf(QueueFullError);
      expect(error.message).toMatch(/target "http-a" has 2 deliveries waiting/);
    }
    // Nothing of the refused events: no ledger entry, no dedupe record, no job.
    expect(await h.redis.zrange(`${h.prefix}:users`, 0, -1)).toEqual(['1', '2']);
  });

  it("keeps one user's events in batch order: versions assigned in order, the ledger holds the last", async () => {
    h = await startHarness({ start: false, httpTargets: 1, redisTarget: false, handlerTarget: false });
    const publisher = h.service.createPublisher('accounts');
    const outcomes = await publisher.publishMany([
      created(7),
      { type: 'user.updated', user: { id: 7, username: 'second' } },
      { type: 'user.updated', user: { id: 8, username: 'other user' } },
      { type: 'user.updated', user: { id: 7, username: 'third' } },
      created(7, { id: 'evt-again' }),
      created(7, { id: 'evt-again' }), // the same id twice in one batch: the second is a duplicate
    ]);
    const results = outcomes.map((o) => (o.ok ? o.result : undefined));
    expect(results.map((r) => [r?.version, r?.duplicate])).toEqual([
      [1, false],
      [2, false],
      [1, false],
      [3, false],
      [4, false],
      [4, true],
    ]);
    const ledger = parseLedger((await h.redis.get(`${h.prefix}:ledger:7`)) ?? '');
    expect(ledger).toMatchObject({ version: 4, eventId: 'evt-again', type: 'user.created' });
  });

  it('one script per partition touched, and per MAX_SCRIPT_BATCH events of one partition', async () => {
    // A Redis of its own: the scripts counted are this test's only.
    const own = await startOwnRedis({ persistence: false });
    const redis = new Redis(own.url);
    const service = new UserSyncService(
      {
        prefix: uniquePrefix('scripts'),
        partitions: 4,
        queueSize: 100_000,
        targets: [{ service: 'audit', kind: 'handler' }],
      },
      redis,
      { subscriber: new UserEventSubscriber(), logger: createLogger({ silent: true }) },
    );
    try {
      const publisher = service.createPublisher('accounts');
      await publisher.publishMany([created(0)]); // loads the script, checks the partitions: outside the count
      const ids = Array.from({ length: 40 }, (_, i) => i + 1);
      const touched = new Set(ids.map((id) => partitionOf(id, 4)));
      expect(touched.size).toBe(4);
      const scripts = await scriptsRun(redis, async () => {
        const outcomes = await publisher.publishMany(ids.map((id) => created(id)));
        expect(outcomes.every((o) => o.ok)).toBe(true);
      });
      expect(scripts).toBe(4);

      // A large batch of one partition is cut into calls of MAX_SCRIPT_BATCH, in order.
      const samePartition = Array.from({ length: 2_000 }, (_, i) => 1_000 + i)
        .filter((id) => partitionOf(id, 4) === 0)
        .slice(0, MAX_SCRIPT_BATCH * 2 + 1);
      const big = await scriptsRun(redis, async () => {
        const events = samePartition.flatMap((id) => [created(id), created(id, { type: 'user.updated' })]);
        const outcomes = await publisher.publishMany(events);
        expect(outcomes.every((o) => o.ok)).toBe(true);
        expect(outcomes.map((o) => (o.ok ? o.result.version : 0))).toEqual(events.map((_, i) => (i % 2) + 1));
      });
      expect(big).toBe(Math.ceil((samePartition.length * 2) / MAX_SCRIPT_BATCH));
    } finally {
      await service.stop();
      await redis.quit();
      await own.destroy();
    }
  });

  it('an empty batch does nothing', async () => {
    h = await startHarness({ start: false, httpTargets: 1, redisTarget: false, handlerTarget: false });
    expect(await h.service.createPublisher('accounts').publishMany([])).toEqual([]);
  });
});
