import { afterEach, describe, expect, it } from '@jest/globals';
import { Queue } from 'bullmq';
import {
  ConfigError,
  QueueFullError,
  UserEventPublisher,
  UserSyncIntegration,
  UserSyncService,
  ValidationError,
  createLogger,
  deliveryQueueName,
  parseConfig,
} from '../../src/index.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { deletePrefix, testRedis, uniquePrefix, waitFor } from '../helpers/redis.js';

const silent = createLogger({ silent: true });

/** Every key under the prefix: what a rejected publish must leave untouched. */
async function keysUnder(h: Harness): Promise<string[]> {
  return (await h.redis.keys(`${h.prefix}*`)).sort();
}

describe('publishing', () => {
  let h: Harness;
  afterEach(async () => h?.close());

  it('publishing the same event id again creates no second delivery', async () => {
    h = await startHarness();
    const publisher = h.service.createPublisher('accounts');
    const first = await publisher.publishUserCreated({ id: 1, username: 'ada' }, { id: 'evt-fixed-1' });
    await waitFor(async () => (await h.service.getStats()).completed_tasks === 4, {
      what: 'first delivery everywhere',
    });
    const again = await publisher.publishUserCreated({ id: 1, username: 'ada' }, { id: 'evt-fixed-1' });
    expect(again).toMatchObject({
      eventId: 'evt-fixed-1',
      version: first.version,
      duplicate: true,
      tasks: first.tasks,
    });
    // Even after the delivered jobs were removed from the queues, the id is remembered.
    for (const service of ['http-a', 'http-b', 'cache', 'audit']) {
      const queue = new Queue(deliveryQueueName(service), { connection: h.redis, prefix: h.prefix });
      await queue.clean(0, 1000, 'completed');
      await queue.close();
    }
    expect(
      (await publisher.publishUserCreated({ id: 1, username: 'ada' }, { id: 'evt-fixed-1' })).duplicate,
    ).toBe(true);
    expect((await h.service.getStats()).total_tasks).toBe(4);
    // A different event published after the duplicates goes to the same four targets: once it
    // has been delivered everywhere and no queue holds anything more, a delivery of a duplicate
    // would have happened already. Each target saw the first event once, then this one.
    await publisher.publishUserCreated({ id: 2, username: 'grace' }, { id: 'evt-fixed-2' });
    await waitFor(async () => (await h.service.getStats()).completed_tasks === 8, {
      what: 'the later event delivered everywhere',
    });
    for (const service of ['http-a', 'http-b', 'cache', 'audit']) {
      const queue = new Queue(deliveryQueueName(service), { connection: h.redis, prefix: h.prefix });
      expect(await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed')).toEqual({
        waiting: 0,
        active: 0,
        delayed: 0,
        prioritized: 0,
        failed: 0,
      });
      await queue.close();
    }
    h.http.forEach((server, i) => {
      const service = `http-${String.fromCharCode(97 + i)}`;
      expect(server.requests.map((r) => r.headers['webhook-id'])).toEqual([
        `evt-fixed-1.${service}`,
        `evt-fixed-2.${service}`,
      ]);
    });
    expect(h.handled.map((e) => e.id)).toEqual(['evt-fixed-1', 'evt-fixed-2']);
    expect(await h.redis.exists(h.cacheKey(1), h.cacheKey(2))).toBe(2);
    expect((await h.service.getStats()).total_tasks).toBe(8);
  });

  it('a publish an older user-sync left half way is completed by publishing the same id again, without duplicates', async () => {
    h = await startHarness({ handlerTarget: false, redisTarget: false });
    // Publishing took two steps before it took one: step 1 happened (the event id reserved, the
    // ledger written), the jobs were never added — a crash in between, as such a process leaves it.
    const k = h.service.deployment.keyspace.partition(0);
    await h.redis.hset(k.ledger('9'), {
      v: '1',
      type: 'user.created',
      eid: 'evt-half',
      snap: '{"id":9}',
      del: '0',
      ts: 'x',
    });
    await h.redis.zadd(k.users, 0, '9');
    await h.redis.hset(k.event('evt-half'), { state: 'pending', v: '1' });
    const result = await h.service
      .createPublisher('accounts')
      .publishUserCreated({ id: 9, username: 'z' }, { id: 'evt-half' });
    expect(result).toMatchObject({ eventId: 'evt-half', version: 1, duplicate: false });
    await waitFor(async () => (await h.service.getStats()).completed_tasks === 2, {
      what: 'both deliveries',
    });
    expect((await h.service.getStats()).total_tasks).toBe(2);
    for (const server of h.http) expect(server.requests).toHaveLength(1);
  });

  it('assigns per-user versions atomically when the caller gives none', async () => {
    h = await startHarness({ start: false });
    const publisher = h.service.createPublisher('accounts');
    const results = await Promise.all(
      Array.from({ length: 25 }, (_, i) => publisher.publishUserUpdated({ id: 'same', role: `r${i}` })),
    );
    expect(results.map((r) => r.version).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 25 }, (_, i) => i + 1),
    );
    const other = await publisher.publishUserCreated({ id: 'other' });
    expect(other.version).toBe(1);
    // A caller's own version is kept, and the next assigned one follows it.
    expect((await publisher.publishUserUpdated({ id: 'same' }, undefined, { version: 100 })).version).toBe(
      100,
    );
    expect((await publisher.publishUserUpdated({ id: 'same' })).version).toBe(101);
  });

  it('only targets whose filter matches get a delivery, each in its own queue', async () => {
    h = await startHarness({
      start: false,
      targetOverrides: { 'http-b': { events: ['user.deleted'] }, cache: { enabled: false } },
    });
    const publisher = h.service.createPublisher('accounts');
    const created = await publisher.publishUserCreated({ id: 3 });
    expect(created.tasks).toEqual([`${created.eventId}.http-a`, `${created.eventId}.audit`]);
    const deleted = await publisher.publishUserDeleted({ id: 3 });
    expect(deleted.tasks).toEqual([
      `${deleted.eventId}.http-a`,
      `${deleted.eventId}.http-b`,
      `${deleted.eventId}.audit`,
    ]);
    const queueB = new Queue(deliveryQueueName('http-b'), { connection: h.redis, prefix: h.prefix });
    expect((await queueB.getWaiting()).map((j) => j.id)).toEqual([`${deleted.eventId}.http-b`]);
    const job = (await queueB.getJob(`${deleted.eventId}.http-b`))!;
    expect(job.data).not.toHaveProperty('url');
    expect(job.opts.attempts).toBe(4);
    await queueB.close();
  });

  it('rejects invalid input naming the field, and enqueues nothing', async () => {
    h = await startHarness({ start: false });
    const publisher = h.service.createPublisher('accounts');
    const before = await keysUnder(h);
    const cases: Array<[Promise<unknown>, string]> = [
      [publisher.publishUserCreated({ id: -1 }), 'user.id'],
      [publisher.publishUserCreated({ id: 'has space' }), 'user.id'],
      [publisher.publishUserCreated({ id: 1, email: 'not-an-email' }), 'user.email'],
      [publisher.publishUserCreated({ id: 1, status: 'sleeping' }), 'user.status'],
      [publisher.publishUserCreated({ id: 1, bio: 'x'.repeat(70_000) }), 'user'],
      [publisher.publishUserCreated({ id: 1 }, { version: 0 }), 'version'],
      [publisher.publishUserCreated({ id: 1 }, { id: 'bad:id' }), 'id'],
      [publisher.publish({ type: 'user.renamed' as never, user: { id: 1 } }), 'type'],
      [publisher.publishUserStatusChanged({ id: 1 }), 'user.status'],
    ];
    for (const [promise, field] of cases) {
      const error = await promise.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field).toBe(field);
      expect((error as Error).message).toContain(field);
    }
    expect(await keysUnder(h)).toEqual(before);
  });

  it('refuses a publish when a target backlog reaches queueSize, with nothing enqueued', async () => {
    h = await startHarness({ start: false, config: { queueSize: 3 } });
    const publisher = h.service.createPublisher('accounts');
    for (let i = 0; i < 3; i++) await publisher.publishUserCreated({ id: i + 1 });
    const before = await keysUnder(h);
    const error = await publisher.publishUserCreated({ id: 99 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueueFullError);
    expect((error as Error).message).toMatch(/target "http-a" has 3 deliveries waiting \(queueSize 3\)/);
    expect(await keysUnder(h)).toEqual(before);
    expect((await h.service.getQueueStatus()).queue_length).toBe(12);
  });

  it('answers a re-publish of an enqueued event id as a duplicate even when its queue is full', async () => {
    h = await startHarness({ start: false, config: { queueSize: 2 } });
    const publisher = h.service.createPublisher('accounts');
    await publisher.publishUserCreated({ id: 1 }, { id: 'evt-first' });
    await publisher.publishUserCreated({ id: 2 });
    const before = await keysUnder(h);
    // The queues are full now; the first event again is a duplicate, not a refusal.
    const again = await publisher.publishUserCreated({ id: 1 }, { id: 'evt-first' });
    expect(again).toMatchObject({ eventId: 'evt-first', duplicate: true, version: 1 });
    expect(await keysUnder(h)).toEqual(before);
    // A new event is still refused.
    await expect(publisher.publishUserCreated({ id: 3 })).rejects.toBeInstanceOf(QueueFullError);
  });

  it('with enabled: false, publishing is a no-op that says so, and start() runs no workers', async () => {
    h = await startHarness({ start: false, config: { enabled: false } });
    const publisher = h.service.createPublisher('accounts');
    const before = await keysUnder(h);
    const result = await publisher.publishUserCreated({ id: 1 });
    expect(result).toMatchObject({ enabled: false, tasks: [] });
    expect(await keysUnder(h)).toEqual(before);
    await h.service.start();
    expect((await h.service.getQueueStatus()).is_running).toBe(false);
  });

  it("UserSyncIntegration takes the Go package's arguments", async () => {
    h = await startHarness({ httpTargets: 1, redisTarget: false });
    const sync = new UserSyncIntegration(h.service.createPublisher('accounts'));
    // One at a time: a delivery whose user already has a newer version in the ledger is
    // superseded (coalesced), and this test wants to see every event's arguments arrive.
    const handled = (n: number) => waitFor(() => h.handled.length === n, { what: `event ${n} handled` });
    await sync.onUserCreated(1, 'testuser', 'test@example.com', 'guest', 'active', '');
    await handled(1);
    await sync.onUserUpdated(1, 'testuser', 'new@example.com', 'guest', 'active', '+15550100', {
      email: 'new@example.com',
    });
    await handled(2);
    await sync.onUserStatusChanged(1, 'testuser', 'active', 'suspended');
    await handled(3);
    await sync.onUserDeleted(1, 'testuser', 'new@example.com');
    await handled(4);
    expect(h.handled.map((e) => [e.type, e.version])).toEqual([
      ['user.created', 1],
      ['user.updated', 2],
      ['user.status_changed', 3],
      ['user.deleted', 4],
    ]);
    expect(h.handled[0]!.user).toEqual({
      id: 1,
      username: 'testuser',
      email: 'test@example.com',
      role: 'guest',
      status: 'active',
    });
    expect(h.handled[1]!.user.phone).toBe('+15550100');
    expect(h.handled[2]!.changes).toEqual({ status: { from: 'active', to: 'suspended' } });
  });
});

describe('configuration errors', () => {
  it('a bad config is rejected naming the field, before anything touches Redis', () => {
    expect(() => parseConfig({ workers: 0 })).toThrow(/workers/);
    expect(() => parseConfig({ targets: [{ service: 'a', url: 'ftp://x' }] })).toThrow(ConfigError);
    const error = (() => {
      try {
        new UserSyncService({
          targets: [
            { service: 'ok', url: 'http://127.0.0.1:1' },
            { service: 'bad', url: 'https://x', secrets: ['nope'] },
          ],
        });
      } catch (e) {
        return e as ConfigError;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.field).toBe('targets[1].secrets[0]');
  });

  it('a handler target without a subscriber, or an unknown kind, fails start() naming the target', async () => {
    const redis = testRedis();
    const prefix = uniquePrefix('cfg');
    try {
      for (const [target, field] of [
        [{ service: 'h', kind: 'handler' }, 'targets[0].kind'],
        [{ service: 'c', kind: 'carrier-pigeon' }, 'targets[0].kind'],
      ] as const) {
        const service = new UserSyncService({ prefix, targets: [target] }, redis, { logger: silent });
        const error = await service.start().catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ConfigError);
        expect((error as ConfigError).field).toBe(field);
        expect(service.isRunning).toBe(false);
        await service.close();
      }
      const publisher = new UserEventPublisher(redis, 'x', {
        config: parseConfig({ prefix }),
        logger: silent,
      });
      await publisher.close();
    } finally {
      await deletePrefix(redis, prefix);
      await redis.quit();
    }
  });
});
