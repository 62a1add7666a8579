/**
 * How the ledger, the dedupe records and BullMQ's own bookkeeping are stored: compact strings,
 * the older layout still read and replaced, keys holding something user-sync did not write
 * refused (never read as a version), event streams trimmed, retention kept out of each job.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { ForeignValueError } from '../../src/index.js';
import { parseLedger } from '../../src/jobs/ledger.js';
import { EVENT_STREAM_MAX_LEN } from '../../src/jobs/queues.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { waitFor } from '../helpers/redis.js';

describe('ledger and dedupe storage', () => {
  let h: Harness;
  afterEach(async () => h?.close());

  const quiet = { httpTargets: 1, redisTarget: false, handlerTarget: false } as const;

  it('a publish writes the ledger as one string and the dedupe record as the version, expiring with the window', async () => {
    h = await startHarness({ ...quiet, start: false, config: { dedupeWindow: 60_000 } });
    const k = h.service.deployment.keyspace.partition(0);
    const result = await h.service
      .createPublisher('accounts')
      .publishUserCreated({ id: 5, username: 'ada|lovelace' }, { id: 'evt-str' });
    expect(await h.redis.type(k.ledger('5'))).toBe('string');
    const entry = parseLedger((await h.redis.get(k.ledger('5'))) ?? '');
    expect(entry).toMatchObject({ version: 1, deleted: false, type: 'user.created', eventId: 'evt-str' });
    // A '|' inside the snapshot does not confuse the head.
    expect(JSON.parse((entry as { snapshot: string }).snapshot)).toMatchObject({
      id: 5,
      username: 'ada|lovelace',
    });
    expect(await h.redis.get(k.event('evt-str'))).toBe(String(result.version));
    const ttl = await h.redis.pttl(k.event('evt-str'));
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it("an older user-sync's hash ledger and hash dedupe record are read, and the ledger is replaced by a string at the next publish", async () => {
    h = await startHarness(quiet);
    const k = h.service.deployment.keyspace.partition(0);
    await h.redis.hset(k.ledger('3'), {
      v: '4',
      type: 'user.updated',
      eid: 'evt-old',
      snap: '{"id":3}',
      del: '0',
      ts: 'x',
    });
    await h.redis.zadd(k.users, 0, '3');
    await h.redis.hset(k.event('evt-old-dup'), { state: 'enqueued', v: '2' });
    const publisher = h.service.createPublisher('accounts');
    expect(await publisher.publishUserUpdated({ id: 3 }, undefined, { id: 'evt-old-dup' })).toMatchObject({
      version: 2,
      duplicate: true,
    });
    const next = await publisher.publishUserUpdated({ id: 3, username: 'new' });
    expect(next).toMatchObject({ version: 5, duplicate: false });
    expect(await h.redis.type(k.ledger('3'))).toBe('string');
    expect(parseLedger((await h.redis.get(k.ledger('3'))) ?? '')).toMatchObject({
      version: 5,
      eventId: next.eventId,
    });
    const server = h.http[0]!;
    await waitFor(() => server.requests.length === 1, { what: 'the delivery' });
    expect(JSON.parse(server.requests[0]!.body)).toMatchObject({ event_id: next.eventId, version: 5 });
  });

  it.each([
    [
      'a string of another shape',
      async (h: Harness, key: string) => void (await h.redis.set(key, 'v=9;hello')),
    ],
    [
      'a version of 17 digits',
      async (h: Harness, key: string) =>
        void (await h.redis.set(key, `${'9'.repeat(17)}|0|user.created|e|t|{}`)),
    ],
    ['a list', async (h: Harness, key: string) => void (await h.redis.rpush(key, '1', '2'))],
    [
      'a hash without a version',
      async (h: Harness, key: string) => void (await h.redis.hset(key, { snap: '{}' })),
    ],
  ])('a ledger key holding %s is refused by publish and left as it was', async (_what, plant) => {
    h = await startHarness({ ...quiet, start: false });
    const k = h.service.deployment.keyspace.partition(0);
    await plant(h, k.ledger('8'));
    const before = await h.redis.dump(k.ledger('8'));
    const publisher = h.service.createPublisher('accounts');
    const error = await publisher.publishUserUpdated({ id: 8 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ForeignValueError);
    expect((error as ForeignValueError).key).toBe(k.ledger('8'));
    expect(await h.redis.dump(k.ledger('8'))).toEqual(before);
    expect((await h.service.getStats()).total_tasks).toBe(0);
    // Other users are unaffected, in the same batch too.
    const batch = await publisher.publishMany([
      { type: 'user.updated', user: { id: 8 } },
      { type: 'user.created', user: { id: 9 } },
    ]);
    expect(batch.map((o) => o.ok)).toEqual([false, true]);
  });

  it.each([
    ['a string that is no version', async (h: Harness, key: string) => void (await h.redis.set(key, 'yes'))],
    ['a set', async (h: Harness, key: string) => void (await h.redis.sadd(key, 'x'))],
    [
      'a hash of another shape',
      async (h: Harness, key: string) => void (await h.redis.hset(key, { state: 'done', v: '1' })),
    ],
    [
      'a hash whose version is not a number',
      async (h: Harness, key: string) => void (await h.redis.hset(key, { state: 'enqueued', v: 'NaN' })),
    ],
  ])(
    "an event id whose dedupe record holds %s is refused, naming the key; the batch's other events go",
    async (_what, plant) => {
      h = await startHarness({ ...quiet, start: false });
      const k = h.service.deployment.keyspace.partition(0);
      await plant(h, k.event('evt-planted'));
      const publisher = h.service.createPublisher('accounts');
      const error = await publisher
        .publishUserCreated({ id: 3 }, { id: 'evt-planted' })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ForeignValueError);
      expect((error as ForeignValueError).key).toBe(k.event('evt-planted'));
      expect(await h.redis.exists(k.ledger('3'))).toBe(0);
      const batch = await publisher.publishMany([
        { type: 'user.created', user: { id: 3 }, id: 'evt-planted' },
        { type: 'user.created', user: { id: 4 } },
      ]);
      expect(batch.map((o) => o.ok)).toEqual([false, true]);
      expect((await h.service.getStats()).total_tasks).toBe(1);
    },
  );

  it('a delivery whose ledger key was overwritten with something foreign is dead-lettered, never sent', async () => {
    h = await startHarness({ ...quiet, start: false });
    const k = h.service.deployment.keyspace.partition(0);
    const published = await h.service.createPublisher('accounts').publishUserCreated({ id: 4 });
    await h.redis.set(k.ledger('4'), 'not a ledger entry');
    await h.service.start();
    const id = `${published.eventId}.http-a`;
    const record = await waitFor(async () => (await h.service.listDeadLetters({ ids: [id] })).records[0], {
      what: 'the dead letter',
    });
    expect(record).toMatchObject({ reason: 'not_in_ledger' });
    expect(record.message).toMatch(/holds something user-sync did not write/);
    expect(h.http[0]!.requests).toHaveLength(0);
    expect(await h.redis.hget(k.watermark('http-a'), '4')).toBeNull();
    // Dead once: not also counted as a retry.
    expect((await h.service.getStats()).by_target['http-a']).toMatchObject({ dead: 1, retried: 0 });
  });

  it("each delivery queue's event stream is trimmed, and retention is the workers' option, not each job's", async () => {
    h = await startHarness({ ...quiet, config: { completedRetention: 1_000 } });
    const queue = h.service.deployment.queues.delivery('http-a');
    const publisher = h.service.createPublisher('accounts');
    const events = Array.from({ length: 600 }, (_, i) => ({
      type: 'user.created' as const,
      user: { id: i + 1 },
    }));
    for (let i = 0; i < events.length; i += 200) await publisher.publishMany(events.slice(i, i + 200));
    await waitFor(async () => (await h.service.getStats()).completed_tasks === 600, {
      timeoutMs: 30_000,
      what: 'all deliveries',
    });
    // 600 adds and 600 completions wrote ~1,800 entries; trimming is by whole stream nodes (100 entries each).
    const streamLength = await h.redis.xlen(`${queue.opts.prefix}:${queue.name}:events`);
    expect(streamLength).toBeLessThanOrEqual(EVENT_STREAM_MAX_LEN + 200);
    const [first] = await queue.getJobs(['completed'], 0, 0);
    expect(first).toBeDefined();
    expect(first!.opts).not.toHaveProperty('removeOnComplete');
    expect(first!.opts).toMatchObject({ attempts: expect.any(Number) });
    // Completed jobs older than completedRetention go when later jobs complete.
    const oldId = first!.id as string;
    await waitFor(
      async () => {
        await publisher.publishUserUpdated({ id: 1 });
        return (await queue.getJob(oldId)) === undefined;
      },
      { timeoutMs: 10_000, intervalMs: 300, what: 'the old completed job removed' },
    );
  });
});
