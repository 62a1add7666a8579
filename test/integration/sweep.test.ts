import { afterEach, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { UserSyncService, createLogger, type SyncConfigInput } from '../../src/index.js';
import { deletePrefix, TEST_REDIS_URL, testRedis, uniquePrefix, waitFor } from '../helpers/redis.js';

const silent = createLogger({ silent: true });

interface Setup {
  redis: Redis;
  prefix: string;
  cacheKey: (id: number | string) => string;
  service: (overrides?: Partial<SyncConfigInput>) => UserSyncService;
  cleanup(): Promise<void>;
}

/** A Redis cache target on the test Redis, under its own prefix; services closed by cleanup. */
function setup(): Setup {
  const redis = testRedis();
  const prefix = uniquePrefix('sweep');
  const template = `${prefix}:cache:user:{id}`;
  const services: UserSyncService[] = [];
  return {
    redis,
    prefix,
    cacheKey: (id) => template.replace('{id}', String(id)),
    service: (overrides = {}) => {
      const service = new UserSyncService(
        {
          prefix,
          retryInterval: 50,
          targets: [{ service: 'cache', url: TEST_REDIS_URL, keyTemplate: template }],
          ...overrides,
        },
        redis,
        { logger: silent },
      );
      services.push(service);
      return service;
    },
    cleanup: async () => {
      for (const s of services) await s.close();
      await deletePrefix(redis, prefix);
      await redis.quit();
    },
  };
}

/** Publishes users 1..n (one create each) and waits until the cache holds them all. */
async function seed(s: Setup, service: UserSyncService, n: number) {
  const publisher = service.createPublisher('accounts');
  for (let id = 1; id <= n; id++) await publisher.publishUserCreated({ id, username: `u${id}` });
  await waitFor(async () => (await service.getStats()).completed_tasks === n, { what: `${n} cached` });
  return publisher;
}

const version = async (s: Setup, id: number) => {
  const raw = await s.redis.get(s.cacheKey(id));
  return raw ? (JSON.parse(raw) as { version: number }).version : null;
};

describe('consistency sweep', () => {
  let s: Setup;
  afterEach(async () => s?.cleanup());

  it('finds each kind of drift and, with autoRepair, repairs it within one run', async () => {
    s = setup();
    const service = s.service({ autoRepair: true });
    await service.start();
    const publisher = await seed(s, service, 10);
    // Drift, injected behind user-sync's back:
    await s.redis.del(s.cacheKey(1), s.cacheKey(2)); // the target lost users
    await publisher.publishUserUpdated({ id: 3, username: 'u3', role: 'new' }); // v2 …
    await waitFor(async () => (await version(s, 3)) === 2, { what: 'user 3 at v2' });
    await s.redis.set(s.cacheKey(3), JSON.stringify({ version: 1, user: { id: 3 } })); // … but holds v1
    await publisher.publishUserDeleted({ id: 4 });
    await waitFor(async () => (await version(s, 4)) === null, { what: 'user 4 deleted' });
    await s.redis.set(s.cacheKey(4), JSON.stringify({ version: 1, user: { id: 4 } })); // holds a deleted user
    await s.redis.del(`${s.cacheKey(4)}:tombstone`);
    await service.stop(); // no delivery repairs it before the sweep looks
    await publisher.publishUserDeleted({ id: 5 }); // the delete is never delivered: misses a delete

    const run = await service.runSweep();
    expect(run).toBeDefined();
    expect(run!.usersChecked).toBe(10);
    expect(run!.passCompleted).toBe(true);
    expect(run!.targets.cache).toMatchObject({
      in_sync: 5,
      missing: 2,
      stale: 1,
      extra: 2,
      unreachable: 0,
      repairs: 5,
    });
    expect(run!.repairsEnqueued).toBe(5);
    await service.start();
    await waitFor(async () => (await version(s, 1)) === 1 && (await version(s, 2)) === 1, {
      what: 'lost users back',
    });
    await waitFor(async () => (await version(s, 3)) === 2, { what: 'stale user updated' });
    await waitFor(async () => (await version(s, 4)) === null && (await version(s, 5)) === null, {
      what: 'deleted users gone',
    });
    await waitFor(async () => (await service.getQueueStatus()).queue_length === 0, {
      what: 'queues drained',
    });
    const again = await service.runSweep();
    expect(again!.targets.cache).toMatchObject({ in_sync: 10, missing: 0, stale: 0, extra: 0, repairs: 0 });
    expect((await service.getSweepRuns()).map((r) => r.id)).toEqual([again!.id, run!.id]);
  });

  it('without autoRepair, reports and enqueues nothing; repeated sweeps do not pile up repairs', async () => {
    s = setup();
    const service = s.service({ autoRepair: false });
    await service.start();
    await seed(s, service, 6);
    await service.stop();
    await s.redis.del(s.cacheKey(1), s.cacheKey(2));
    const queue = service.deployment.queues.delivery('cache');
    const before = await queue.getJobCounts('wait', 'delayed');
    const run = await service.runSweep();
    expect(run!.targets.cache).toMatchObject({ in_sync: 4, missing: 2, repairs: 0 });
    expect(run!.repairsEnqueued).toBe(0);
    expect(await queue.getJobCounts('wait', 'delayed')).toEqual(before);

    const repairing = s.service({ autoRepair: true });
    await repairing.runSweep();
    await repairing.runSweep();
    // Two sweeps, one repair per mismatch: deterministic ids.
    expect((await queue.getWaiting()).map((j) => j.id).sort()).toEqual([
      'repair-v1-1.cache',
      'repair-v1-2.cache',
    ]);
  });

  it('repairs the same drift again when it comes back after its repair ran', async () => {
    s = setup();
    const service = s.service({ autoRepair: true });
    await service.start();
    await seed(s, service, 2);
    for (let round = 1; round <= 2; round++) {
      await s.redis.del(s.cacheKey(1));
      const run = await service.runSweep();
      expect(run!.targets.cache).toMatchObject({ missing: 1, repairs: 1 });
      await waitFor(async () => (await version(s, 1)) === 1, { what: `user 1 restored (round ${round})` });
    }
  });

  it('walks a large ledger across runs within the budget, and resumes at its cursor', async () => {
    s = setup();
    const service = s.service({ sweep: { chunkSize: 4, maxUsersPerRun: 10 } });
    await service.start();
    await seed(s, service, 23);
    const first = await service.runSweep();
    expect(first).toMatchObject({ usersChecked: 10, stoppedBy: 'users', passCompleted: false, chunks: 3 });
    const second = await service.runSweep();
    expect(second).toMatchObject({ usersChecked: 10, stoppedBy: 'users', cursorFrom: first!.cursorTo });
    const third = await service.runSweep();
    expect(third).toMatchObject({ usersChecked: 3, stoppedBy: 'end', passCompleted: true, cursorTo: '' });
    expect(
      first!.targets.cache!.in_sync + second!.targets.cache!.in_sync + third!.targets.cache!.in_sync,
    ).toBe(23);

    // A run stopped half way (here: aborted after its first chunk) leaves the cursor there.
    const controller = new AbortController();
    const interrupted = await service.runSweep({
      onProgress: () => controller.abort(),
      signal: controller.signal,
    });
    expect(interrupted).toMatchObject({ usersChecked: 4, stoppedBy: 'aborted' });
    const resumed = await service.runSweep();
    expect(resumed!.cursorFrom).toBe(interrupted!.cursorTo);
    expect(resumed!.usersChecked).toBe(10);
  });

  it('reports a target that is down as unreachable and sends it no blind repairs', async () => {
    s = setup();
    const service = s.service({ autoRepair: true });
    await service.start();
    await seed(s, service, 3);
    await service.stop();
    const down = new UserSyncService(
      {
        prefix: s.prefix,
        autoRepair: true,
        targets: [{ service: 'cache', url: 'redis://127.0.0.1:1', keyTemplate: 'x:{id}', timeoutMs: 300 }],
      },
      s.redis,
      { logger: silent },
    );
    try {
      const run = await down.runSweep();
      expect(run!.targets.cache).toMatchObject({ unreachable: 3, in_sync: 0, missing: 0, repairs: 0 });
      expect(run!.repairsEnqueued).toBe(0);
    } finally {
      await down.close();
    }
  });

  it('a repair racing with a fresh publish never leaves the older version in place', async () => {
    s = setup();
    const service = s.service({ autoRepair: true });
    await service.start();
    const publisher = await seed(s, service, 1);
    await service.stop();
    await s.redis.del(s.cacheKey(1));
    const run = await service.runSweep(); // enqueues a repair carrying v1
    expect(run!.repairsEnqueued).toBe(1);
    await publisher.publishUserUpdated({ id: 1, username: 'newer' }); // v2, published after the sweep read v1
    const queue = service.deployment.queues.delivery('cache');
    // Both wait: the repair (v1) and the fresh delivery (v2). Whichever runs first, v1 must
    // not be what stays.
    expect((await queue.getWaiting()).map((j) => j.id)).toContain('repair-v1-1.cache');
    await service.start();
    await waitFor(async () => (await service.getQueueStatus()).queue_length === 0, { what: 'drained' });
    expect(await version(s, 1)).toBe(2);
    const cached = JSON.parse((await s.redis.get(s.cacheKey(1))) ?? '{}') as { user: { username: string } };
    expect(cached.user.username).toBe('newer');
  });

  it('runs on the maintenance scheduler: two worker processes never sweep the same interval twice', async () => {
    s = setup();
    const config = { consistencyCheck: true, checkInterval: 500 };
    const one = s.service(config);
    const two = s.service(config);
    await Promise.all([one.start(), two.start()]);
    const scheduler = await one.deployment.queues.maintenance.getJobSchedulers();
    expect(scheduler).toHaveLength(1);
    await waitFor(async () => (await one.getSweepRuns(100)).length >= 4, {
      timeoutMs: 10_000,
      what: 'four runs',
    });
    await one.stop();
    await two.stop();
    const runs = await one.getSweepRuns(100);
    const intervals = runs.map((r) => r.interval);
    expect(runs.every((r) => r.trigger === 'scheduled' && r.interval)).toBe(true);
    expect(new Set(intervals).size).toBe(intervals.length);
    expect((await one.deployment.queues.maintenance.getJobs(['failed'])).length).toBe(0);
  });
});

describe('sweep: bugs fixed on the way', () => {
  let s: Setup;
  afterEach(async () => s?.cleanup());

  it('releases its lock when the run fails right after taking it (reading the cursor)', async () => {
    s = setup();
    const service = s.service();
    const keys = service.deployment.keyspace.partition(0);
    await s.redis.hset(keys.sweepCursor, 'not', 'a string');
    const run = await service.runSweep();
    expect(run).toMatchObject({ stoppedBy: 'error', usersChecked: 0 });
    expect(run?.error).toMatch(/WRONGTYPE/);
    expect(await s.redis.exists(service.deployment.keyspace.deployment.sweepLock)).toBe(0);
    // The next run is not locked out for maxRunTime + 60 s.
    await s.redis.del(keys.sweepCursor);
    expect(await service.runSweep()).toMatchObject({ stoppedBy: 'end' });
  });

  it('repairs a user whose id is 128 characters long (the longest valid id)', async () => {
    s = setup();
    const service = s.service({ autoRepair: true });
    await service.start();
    const userId = `u${'x'.repeat(127)}`;
    await service.createPublisher('accounts').publishUserCreated({ id: userId, username: 'long' });
    await waitFor(async () => (await service.getStats()).completed_tasks === 1, { what: 'cached' });
    await s.redis.del(s.cacheKey(userId));
    const run = await service.runSweep();
    expect(run?.targets.cache).toMatchObject({ missing: 1, repairs: 1 });
    await waitFor(async () => (await s.redis.get(s.cacheKey(userId))) !== null, {
      what: 'the repair delivered',
    });
    expect((await service.listDeadLetters()).total).toBe(0);
    expect((await service.runSweep())?.targets.cache).toMatchObject({ in_sync: 1, missing: 0, repairs: 0 });
  });
});
