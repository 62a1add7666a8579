import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import type { SyncConfigInput } from '../../src/config/schema.js';
import { createLogger } from '../../src/logger.js';
import { UserSyncService } from '../../src/service.js';
import { SWEEP_SCHEDULER_ID } from '../../src/sweep/maintenance-worker.js';
import type { SweepRun } from '../../src/sweep/classify.js';
import { requireBuild, spawnCli, type CliProcess } from '../helpers/cli.js';
import { TEST_REDIS_URL, deletePrefix, testRedis, uniquePrefix, waitFor } from '../helpers/redis.js';

const USERS = 30;
const CHECK_INTERVAL_MS = 500;
const RUNS = 4;

/** The `sweep finished` lines in a worker's JSON log output. */
function sweepsFinished(output: string): number {
  let count = 0;
  for (const line of output.split('\n')) {
    if (!line.includes('sweep finished')) continue;
    try {
      if ((JSON.parse(line) as { message?: unknown }).message === 'sweep finished') count++;
    } catch {
      // not a JSON log line
    }
  }
  return count;
}

/**
 * Two `user-sync worker` processes started at once with `consistencyCheck` on share one
 * scheduler in the maintenance queue: each interval is swept once, by one of them.
 */
describe('consistency sweep in two worker processes', () => {
  const prefix = uniquePrefix('sweep-procs');
  const keyTemplate = `${prefix}:cache:user:{id}`;
  const workers: CliProcess[] = [];
  let dir: string;
  let configPath: string;
  let redis: Redis;
  let reader: UserSyncService;

  beforeAll(async () => {
    requireBuild();
    dir = await mkdtemp(path.join(tmpdir(), 'user-sync-sweep-procs-'));
    redis = testRedis();
    const config: SyncConfigInput = {
      prefix,
      consistencyCheck: true,
      checkInterval: CHECK_INTERVAL_MS,
      retryInterval: '100ms',
      shutdownTimeout: '5s',
      targets: [{ service: 'cache', url: TEST_REDIS_URL, keyTemplate }],
    };
    configPath = path.join(dir, 'user-sync.config.json');
    await writeFile(configPath, JSON.stringify(config));
    // Never started: it publishes the users and reads the runs and the scheduler.
    reader = new UserSyncService(config, redis, { logger: createLogger({ silent: true }) });
  });

  afterAll(async () => {
    for (const worker of workers) worker.kill();
    await Promise.all(workers.map((w) => w.exited(5_000).catch(() => undefined)));
    await reader?.close().catch(() => undefined);
    if (redis) {
      await deletePrefix(redis, prefix);
      await redis.quit();
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('one scheduler, one run per interval, every run covering the whole ledger', async () => {
    const publisher = reader.createPublisher('sweep-procs-test');
    for (let id = 1; id <= USERS; id++) await publisher.publishUserCreated({ id, username: `u${id}` });

    // Both at the same time: neither has created the scheduler when the other starts.
    for (let i = 0; i < 2; i++) {
      workers.push(
        spawnCli(['worker', '--config', configPath], {
          cwd: dir,
          env: { REDIS_URL: TEST_REDIS_URL, USER_SYNC_CONFIG: undefined, LOG_LEVEL: 'info' },
        }),
      );
    }
    await Promise.all(workers.map((w) => w.waitForOutput(/worker running/, 20_000)));

    // At least four runs, the newest after the workers delivered every user to the cache.
    await waitFor(
      async () => {
        const runs = await reader.getSweepRuns(100);
        return runs.length >= RUNS && runs[0]?.targets.cache?.in_sync === USERS;
      },
      { timeoutMs: 20_000, intervalMs: 100, what: `${RUNS} sweep runs, the last one all in sync` },
    );

    for (const worker of workers) worker.child.kill('SIGTERM');
    const results = await Promise.all(workers.map((w) => w.exited(10_000)));
    for (const result of results) {
      expect({ code: result.code, signal: result.signal }).toEqual({ code: 0, signal: null });
      expect(result.stdout).toContain('worker stopped');
    }

    const schedulers = await reader.deployment.queues.maintenance.getJobSchedulers();
    expect(schedulers).toHaveLength(1);
    expect(schedulers[0]).toMatchObject({ key: SWEEP_SCHEDULER_ID, every: CHECK_INTERVAL_MS });

    const runs = await reader.getSweepRuns(100);
    expect(runs.length).toBeGreaterThanOrEqual(RUNS);
    for (const run of runs) {
      expect(run.trigger).toBe('scheduled');
      expect(typeof run.interval).toBe('string');
      expect(run.interval).not.toBe('');
    }
    const intervals = runs.map((r) => r.interval);
    expect(new Set(intervals).size).toBe(intervals.length);
    // BullMQ names a scheduler's job after the time it is due: the runs' intervals are
    // distinct ticks of the one scheduler, at least checkInterval apart.
    const ticks = intervals.map((interval) => {
      const match = /^repeat:consistency-sweep:(\d+)$/.exec(interval ?? '');
      expect(match).not.toBeNull();
      return Number(match?.[1]);
    });
    ticks.sort((a, b) => a - b);
    for (let i = 1; i < ticks.length; i++) {
      expect((ticks[i] as number) - (ticks[i - 1] as number)).toBeGreaterThanOrEqual(CHECK_INTERVAL_MS);
    }
    // Each run was made by exactly one of the processes: their logs hold as many finished
    // sweeps as there are runs.
    const finished = workers.map((w) => sweepsFinished(w.stdout() + w.stderr()));
    expect(finished.reduce((a, b) => a + b, 0)).toBe(runs.length);

    // The figures: every run walked the whole ledger once, in one chunk, and no pair was
    // counted twice or left out.
    for (const run of runs) {
      expect(run).toMatchObject({
        usersChecked: USERS,
        chunks: 1,
        cursorFrom: '',
        cursorTo: '',
        passCompleted: true,
        stoppedBy: 'end',
        autoRepair: false,
        repairsEnqueued: 0,
      });
      expect(run.error).toBeUndefined();
      expect(Object.keys(run.targets)).toEqual(['cache']);
      const figures = run.targets.cache as SweepRun['targets'][string];
      expect(figures).toMatchObject({
        stale: 0,
        extra: 0,
        unreachable: 0,
        unchecked: 0,
        filtered: 0,
        repairs: 0,
      });
      // Early runs may look before the workers delivered every user: those are missing.
      expect(figures.in_sync + figures.missing).toBe(USERS);
      const started = Date.parse(run.startedAt);
      const finished = Date.parse(run.finishedAt);
      expect(finished - started).toBe(run.durationMs);
      expect(run.durationMs).toBeGreaterThanOrEqual(0);
    }
    expect(runs[0]?.targets.cache?.in_sync).toBe(USERS);

    // One sweep at a time: the runs, oldest first, never overlap.
    const byStart = [...runs].sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
    for (let i = 1; i < byStart.length; i++) {
      const previous = byStart[i - 1] as SweepRun;
      expect(Date.parse((byStart[i] as SweepRun).startedAt)).toBeGreaterThanOrEqual(
        Date.parse(previous.finishedAt),
      );
    }
    // No scheduled sweep job failed in either process.
    expect(await reader.deployment.queues.maintenance.getJobs(['failed'])).toHaveLength(0);
  }, 60_000);
});
