/**
 * Backfill through the SDK on a small deployment without workers: what each target gets (deletes
 * only where tombstones are kept or deletes are asked for), dry runs, the backlog bound, an abort
 * and its resumption, idempotence, a restored-empty target, and hostile stored state and options.
 * The 10,000-user run with a CLI killed mid-way is backfill-resume.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { Deployment, createLogger, type BackfillProgress, type SyncConfigInput } from '../../src/index.js';
import { repairEventId } from '../../src/sweep/classify.js';
import { newSecret } from '../helpers/harness.js';
import { TEST_REDIS_URL, deletePrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const USERS = 50;
const DELETED = new Set(Array.from({ length: 10 }, (_, i) => String(i * 5 + 1)));

describe('backfill (SDK)', () => {
  const prefix = uniquePrefix('backfill');
  let redis: Redis;
  let deployment: Deployment;
  const versions = new Map<string, number>();
  const config: SyncConfigInput = {
    prefix,
    partitions: 2,
    queueSize: 1_000,
    targets: [
      { service: 'fresh', url: 'http://127.0.0.1:9/hook', secrets: [newSecret()] },
      {
        service: 'hooks',
        url: 'http://127.0.0.1:9/hook',
        secrets: [newSecret()],
        events: ['user.created', 'user.updated'],
      },
      { service: 'cache', url: TEST_REDIS_URL, keyTemplate: `${prefix}:cache:{id}` },
      { service: 'restored', url: 'http://127.0.0.1:9/hook', secrets: [newSecret()] },
      { service: 'off', url: 'http://127.0.0.1:9/hook', secrets: [newSecret()], enabled: false },
    ],
  };
  const stateKey = (service: string) => `${prefix}:backfill:${service}`;

  beforeAll(async () => {
    redis = testRedis();
    // Published while only a handler target existed: the ledger holds every user, no queue of these targets.
    const before = new Deployment(
      { prefix, partitions: 2, targets: [{ service: 'old', kind: 'handler' }] },
      redis,
      { logger: createLogger({ silent: true }) },
    );
    const publisher = before.createPublisher('accounts');
    const ids = Array.from({ length: USERS }, (_, i) => String(i + 1));
    const created = await publisher.publishMany(
      ids.map((id) => ({
        type: 'user.created' as const,
        user: { id: Number(id), email: `u${id}@example.com` },
      })),
    );
    const deleted = await publisher.publishMany(
      [...DELETED].map((id) => ({ type: 'user.deleted' as const, user: { id: Number(id) } })),
    );
    for (const outcome of [...created, ...deleted]) if (!outcome.ok) throw outcome.error;
    ids.forEach((id) => versions.set(id, DELETED.has(id) ? 2 : 1));
    await before.close();
    deployment = new Deployment(config, redis, { logger: createLogger({ silent: true }) });
  });

  afterAll(async () => {
    await deployment?.close();
    await deletePrefix(redis, prefix);
    await redis?.quit();
  });

  it('a dry run counts what each target would get, and enqueues and stores nothing', async () => {
    const fresh = await deployment.backfill('fresh', { dryRun: true });
    expect(fresh).toMatchObject({ status: 'done', dryRun: true, total: USERS, done: USERS });
    expect(fresh.counts).toMatchObject({
      enqueued: 40,
      deletes: 0,
      deletesSkipped: 10,
      inSync: 0,
      filtered: 0,
    });
    const hooks = await deployment.backfill('hooks', { dryRun: true });
    expect(hooks.counts).toMatchObject({ enqueued: 40, filtered: 10, deletesSkipped: 0 });
    expect(await redis.exists(stateKey('fresh'), stateKey('hooks'))).toBe(0);
    expect(await deployment.queues.backlog('fresh')).toBe(0);
  });

  it('sends deletes to a target that keeps tombstones (Redis), every user at its ledger version', async () => {
    const result = await deployment.backfill('cache');
    expect(result.counts).toMatchObject({ enqueued: USERS, deletes: 10 });
    const jobs = (
      await Promise.all(deployment.queues.deliveriesOf('cache').map((q) => q.getWaiting()))
    ).flat();
    expect(jobs).toHaveLength(USERS);
    for (const job of jobs) {
      const id = String((job.data as { userId: number }).userId);
      expect(job.id).toBe(`${repairEventId(id, versions.get(id)!)}.cache`);
      expect(job.name).toBe(DELETED.has(id) ? 'user.deleted' : 'user.created');
      expect(job.data).toMatchObject({
        version: versions.get(id),
        repair: true,
        source: 'user-sync-backfill',
      });
    }
  });

  it('keeps the backlog at its bound, stops on abort with its cursor saved, and the next run continues', async () => {
    const stop = new AbortController();
    const seen: BackfillProgress[] = [];
    const first = await deployment.backfill('fresh', {
      maxBacklog: 10,
      chunkSize: 5,
      signal: stop.signal,
      onProgress: (p) => {
        seen.push(p);
        if (p.waitingForBacklog) stop.abort();
      },
    });
    expect(first.status).toBe('aborted');
    // It waited because the next chunk would not fit under the bound: the backlog never passed it.
    const waiting = seen.at(-1)?.waitingForBacklog;
    expect(waiting?.maxBacklog).toBe(10);
    expect(waiting!.backlog).toBeLessThanOrEqual(10);
    expect(waiting!.backlog).toBeGreaterThan(5);
    expect(await deployment.queues.backlog('fresh')).toBe(waiting!.backlog);
    const stored = JSON.parse((await redis.get(stateKey('fresh')))!) as {
      status: string;
      runId: string;
      done: number;
    };
    expect(stored).toMatchObject({ status: 'running', runId: first.runId });
    expect(stored.done).toBeGreaterThan(0);
    expect(stored.done).toBeLessThan(USERS);

    const second = await deployment.backfill('fresh', { chunkSize: 5 });
    expect(second).toMatchObject({
      status: 'done',
      resumed: true,
      runId: first.runId,
      total: USERS,
      done: USERS,
    });
    // 40 live users, each once, whichever run enqueued it.
    expect(second.counts.enqueued).toBe(40);
    expect(await deployment.queues.backlog('fresh')).toBe(40);
    // A new run finds every delivery already queued: nothing doubles.
    const third = await deployment.backfill('fresh');
    expect(third).toMatchObject({ resumed: false, status: 'done' });
    expect(third.runId).not.toBe(first.runId);
    expect(third.counts).toMatchObject({ enqueued: 0, alreadyQueued: 40 });
    expect(await deployment.queues.backlog('fresh')).toBe(40);
  });

  it('skips users the watermark says the target has, unless told the target was restored empty', async () => {
    const keys = deployment.keyspace;
    for (const [id, version] of versions)
      await redis.hset(keys.forUser(id).watermark('restored'), id, version);
    const trusted = await deployment.backfill('restored');
    expect(trusted.counts).toMatchObject({ enqueued: 0, inSync: USERS });
    const restored = await deployment.backfill('restored', { ignoreWatermarks: true });
    expect(restored.counts).toMatchObject({ enqueued: 40, inSync: 0, deletesSkipped: 10 });
  });

  it('refuses stored state it did not write, and --restart starts over', async () => {
    for (const bad of [
      'not json',
      '{"runId":"x"}',
      JSON.stringify({ ...JSON.parse((await redis.get(stateKey('hooks'))) ?? '{}'), service: 'other' }),
    ]) {
      await redis.set(stateKey('hooks'), bad);
      await expect(deployment.backfill('hooks')).rejects.toThrow(
        /backfill state at .* is not readable .*--restart/,
      );
    }
    const restarted = await deployment.backfill('hooks', { restart: true });
    expect(restarted).toMatchObject({ status: 'done', resumed: false });
    expect(restarted.counts).toMatchObject({ enqueued: 40, filtered: 10 });
  });

  it('refuses unknown and disabled targets and bad options', async () => {
    await expect(deployment.backfill('nope')).rejects.toThrow(
      'backfill: no target named "nope" is configured',
    );
    await expect(deployment.backfill('../x')).rejects.toThrow(/no target named/);
    await expect(deployment.backfill('off')).rejects.toThrow(
      'backfill: target off is disabled: enable it first',
    );
    for (const options of [
      { rate: 0 },
      { rate: Number.NaN },
      { maxBacklog: 0 },
      { chunkSize: -1 },
      { maxBacklog: Infinity },
    ])
      await expect(deployment.backfill('fresh', options)).rejects.toThrow(/must be a number above 0/);
  });

  it('one backfill of a target at a time', async () => {
    await redis.set(`${prefix}:backfill:fresh:lock`, 'someone-else', 'PX', 60_000);
    try {
      await expect(deployment.backfill('fresh')).rejects.toThrow(
        'backfill: another backfill of fresh is running',
      );
    } finally {
      await redis.del(`${prefix}:backfill:fresh:lock`);
    }
  }, 15_000);
});
