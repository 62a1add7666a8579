/**
 * A partitioned deployment on a single Redis: the same guarantees and the same figures as with
 * one partition, each user's keys in its partition's hash tag, deployment-wide views whole,
 * workers split across groups, and a change of partitions refused.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { ConfigError, UserSyncService, createLogger, type SyncConfigInput } from '../../src/index.js';
import { partitionOf, partitionPrefix } from '../../src/jobs/names.js';
import { deletePrefix, TEST_REDIS_URL, testRedis, uniquePrefix, waitFor } from '../helpers/redis.js';
import { startHttpTarget, type HttpTarget } from '../helpers/http-target.js';
import type { Redis } from 'ioredis';

const silent = createLogger({ silent: true });
const PARTITIONS = 4;

describe('partitions on one Redis', () => {
  let redis: Redis;
  let prefix: string;
  let http: HttpTarget;
  const services: UserSyncService[] = [];

  afterEach(async () => {
    for (const s of services.splice(0)) await s.close();
    await http?.close();
    // Every partition's keys carry the prefix's tag extended: {prefix-pN…}.
    await deletePrefix(redis, prefix);
    for (let p = 0; p < PARTITIONS; p++) await deletePrefix(redis, partitionPrefix(prefix, p, PARTITIONS));
    await redis.quit();
  });

  async function open(overrides: Partial<SyncConfigInput> = {}, start = true) {
    const service = new UserSyncService(
      {
        prefix,
        partitions: PARTITIONS,
        retryInterval: 50,
        maxRetryInterval: 200,
        autoRepair: true,
        targets: [
          { service: 'crm', url: http.url, timeoutMs: 2_000 },
          { service: 'cache', url: TEST_REDIS_URL, keyTemplate: `${prefix}:cache:user:{id}` },
        ],
        ...overrides,
      },
      redis,
      { logger: silent },
    );
    services.push(service);
    if (start) await service.start();
    return service;
  }

  async function setup() {
    redis = testRedis();
    prefix = uniquePrefix('parts');
    http = await startHttpTarget();
  }

  const cached = async (id: number) => {
    const raw = await redis.get(`${prefix}:cache:user:${id}`);
    return raw === null ? null : (JSON.parse(raw) as { version: number }).version;
  };

  it('delivers every user in version order, its keys in its partition, with whole figures', async () => {
    await setup();
    const service = await open();
    const publisher = service.createPublisher('accounts');
    const USERS = 60;
    for (let id = 1; id <= USERS; id++) {
      // Out of order: version 2 first, then 1 (not newer: the ledger keeps 2), then a duplicate id.
      await publisher.publishUserUpdated({ id, username: `u${id}-v2` }, undefined, {
        id: `e${id}-2`,
        version: 2,
      });
      await publisher.publishUserCreated({ id, username: `u${id}-v1` }, { id: `e${id}-1`, version: 1 });
      expect(
        (await publisher.publishUserUpdated({ id }, undefined, { id: `e${id}-2`, version: 2 })).duplicate,
      ).toBe(true);
    }
    await waitFor(async () => (await service.getQueueStatus()).queue_length === 0, {
      what: 'the queues drained',
    });
    for (let id = 1; id <= USERS; id++) expect(await cached(id)).toBe(2);
    const byUser = new Map<number, number[]>();
    for (const r of http.requests) {
      const body = JSON.parse(r.body) as { user_id: number; version: number };
      byUser.set(body.user_id, [...(byUser.get(body.user_id) ?? []), body.version]);
    }
    // Never an older version after a newer one.
    for (const versions of byUser.values()) expect(versions.at(-1)).toBe(2);

    // Each user's ledger entry is in its partition, and every partition holds some.
    const spread = new Array<number>(PARTITIONS).fill(0);
    for (let id = 1; id <= USERS; id++) {
      const p = partitionOf(id, PARTITIONS);
      expect(await redis.exists(`${partitionPrefix(prefix, p, PARTITIONS)}:ledger:${id}`)).toBe(1);
      spread[p]! += 1;
    }
    for (const n of spread) expect(n).toBeGreaterThan(0);
    expect(await redis.exists(`${prefix}:ledger:1`)).toBe(0);

    // The same figures a single partition gives: 2 events x 2 targets per user.
    const stats = await service.getStats();
    expect(stats).toMatchObject({ total_tasks: USERS * 4, completed_tasks: USERS * 4, failed_tasks: 0 });
    expect(stats.by_target.cache!.delivered + stats.by_target.cache!.superseded).toBe(USERS * 2);
    expect(await service.deployment.queues.backlog('crm')).toBe(0);
  });

  it('lists and replays dead letters from every partition; the sweep walks and repairs every partition', async () => {
    await setup();
    http.respond = (req, res) => {
      const body = JSON.parse(req.body) as { username?: string };
      res.statusCode = body.username === 'refused' ? 400 : 200;
      res.end();
    };
    const service = await open();
    const publisher = service.createPublisher('accounts');
    for (let id = 1; id <= 20; id++) await publisher.publishUserCreated({ id, username: 'refused' });
    await waitFor(async () => (await service.listDeadLetters()).total === 20, { what: '20 dead letters' });
    const { records } = await service.listDeadLetters({ limit: 100 });
    expect(new Set(records.map((r) => r.partition)).size).toBe(PARTITIONS);
    for (const r of records) expect(r.partition).toBe(partitionOf(r.userId as number, PARTITIONS));

    http.respond = (_req, res) => void res.end('ok');
    expect(await service.replayDeadLetters()).toHaveLength(20);
    await waitFor(async () => (await service.getStats()).by_target.crm?.delivered === 20, {
      what: 'replays delivered',
    });

    // Drift in the cache, in every partition: the sweep finds and repairs it all.
    await waitFor(async () => (await service.getQueueStatus()).queue_length === 0, { what: 'idle' });
    for (let id = 1; id <= 20; id += 2) await redis.del(`${prefix}:cache:user:${id}`);
    const first = await service.runSweep();
    expect(first?.targets.cache).toMatchObject({ missing: 10, in_sync: 10, repairs: 10 });
    expect(first?.partitions?.map((p) => p.partition)).toEqual([0, 1, 2, 3]);
    expect(first?.passCompleted).toBe(true);
    await waitFor(async () => (await service.getQueueStatus()).queue_length === 0, { what: 'repairs done' });
    expect((await service.runSweep())?.targets.cache).toMatchObject({ in_sync: 20, missing: 0 });
  });

  it('splits partitions across worker groups: each delivers its own, together every one', async () => {
    await setup();
    const low = await open({ workerPartitions: '0-1' });
    const high = await open({ workerPartitions: '2-3' });
    const queues = low.deployment.queues;
    for (let p = 0; p < PARTITIONS; p++) expect(await queues.delivery('crm', p).getWorkersCount()).toBe(1);
    const publisher = low.createPublisher('accounts');
    for (let id = 1; id <= 40; id++) await publisher.publishUserCreated({ id });
    await waitFor(async () => (await low.getStats()).by_target.crm?.delivered === 40, {
      what: 'all 40 delivered',
    });
    expect(http.requests).toHaveLength(40);
    await high.stop();
    // Partitions 2-3 now have no worker: their deliveries wait, 0-1 go on.
    for (let id = 41; id <= 80; id++) await publisher.publishUserCreated({ id });
    await waitFor(async () => (await queues.backlogByPartition('crm')).slice(0, 2).every((n) => n === 0), {
      what: 'partitions 0-1 drained',
    });
    expect((await queues.backlogByPartition('crm')).slice(2).some((n) => n > 0)).toBe(true);
  });

  it('refuses to start with another number of partitions than the data was written with', async () => {
    await setup();
    const first = await open();
    await first.createPublisher('accounts').publishUserCreated({ id: 1 });
    await first.stop();
    const other = await open({ partitions: 2 }, false);
    const error = await other.start().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).field).toBe('partitions');
    expect((error as Error).message).toMatch(/is 2, but the deployment .* was written with 4/);
    expect(other.isRunning).toBe(false);
    await expect(other.createPublisher('accounts').publishUserCreated({ id: 2 })).rejects.toThrow(
      ConfigError,
    );
  });

  it('refuses more partitions on a deployment written before partitions existed', async () => {
    await setup();
    const legacy = await open({ partitions: 1 });
    await legacy.createPublisher('accounts').publishUserCreated({ id: 1 });
    await legacy.stop();
    await redis.del(`${prefix}:meta`); // as a deployment from before the record was kept
    const error = await (await open({}, false)).start().catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/is 4, but the deployment .* was written with 1/);
  });
});
