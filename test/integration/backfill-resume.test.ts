/**
 * The backfill the issue asks for: a deployment already holding 10,000 users (published while
 * only an older target existed, left undelivered), a new HTTP target added (a real loopback
 * server counting requests by user), `user-sync backfill` killed with SIGKILL mid-run, run again
 * (it continues from its cursor), and the target ends with every live user exactly once, at the
 * ledger's version — no deleted user, no extra send — and a second full run enqueues nothing.
 *
 * The bound on duplicates: a kill loses at most the chunk in hand (its cursor is saved after its
 * jobs are added). Re-walked, each of its users is skipped — its job (same id: user, version,
 * target) is queued or done, or the watermark says it was delivered — so the interruption costs 0
 * extra sends; the test asserts exactly 0.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import {
  Deployment,
  UserSyncService,
  createLogger,
  type BackfillResult,
  type TargetConfigInput,
  type UserEventInput,
} from '../../src/index.js';
import { newSecret } from '../helpers/harness.js';
import { startHttpTarget, type HttpTarget } from '../helpers/http-target.js';
import { requireBuild, runCli, spawnCli } from '../helpers/cli.js';
import { TEST_REDIS_URL, deletePrefix, testRedis, uniquePrefix, waitFor } from '../helpers/redis.js';

const USERS = 10_000;
const UPDATED = 300; // users 1..300 at version 2
const DELETED = 200; // users 9801..10000 deleted at version 2
const LIVE = USERS - DELETED;
const log = (message: string) => process.stderr.write(`[backfill 10k] ${message}\n`);

describe('backfill of a new target over 10,000 users, interrupted and resumed', () => {
  const prefix = uniquePrefix('backfill10k');
  const secret = newSecret();
  let redis: Redis;
  let server: HttpTarget;
  let service: UserSyncService;
  let dir: string;
  let configFile: string;
  const env = { REDIS_URL: TEST_REDIS_URL, LOG_LEVEL: 'warn' };
  const ledgerVersion = (id: number) => (id <= UPDATED || id > USERS - DELETED ? 2 : 1);

  beforeAll(async () => {
    requireBuild();
    redis = testRedis();
    server = await startHttpTarget();
    const base = { prefix, partitions: 4, queueSize: 50_000 };
    // Before: only the old, in-process target; nothing delivers it.
    const before = new Deployment({ ...base, targets: [{ service: 'old', kind: 'handler' }] }, redis, {
      logger: createLogger({ silent: true }),
    });
    const publisher = before.createPublisher('accounts');
    const started = Date.now();
    const batches: UserEventInput[][] = [];
    for (let from = 1; from <= USERS; from += 1_000)
      batches.push(
        Array.from({ length: 1_000 }, (_, i) => ({
          type: 'user.created' as const,
          user: {
            id: from + i,
            username: `u${from + i}`,
            email: `u${from + i}@example.com`,
            status: 'active',
          },
        })),
      );
    batches.push(
      Array.from({ length: UPDATED }, (_, i) => ({
        type: 'user.updated' as const,
        user: { id: i + 1, username: `u${i + 1}`, email: `new${i + 1}@example.com`, status: 'active' },
      })),
      Array.from({ length: DELETED }, (_, i) => ({ type: 'user.deleted' as const, user: { id: USERS - i } })),
    );
    for (const batch of batches)
      for (const outcome of await publisher.publishMany(batch)) if (!outcome.ok) throw outcome.error;
    log(`published ${USERS + UPDATED + DELETED} events in ${Date.now() - started} ms`);
    await before.close();

    // After: the new HTTP target, delivered by a worker (the old target is left alone).
    const old: TargetConfigInput = { service: 'old', kind: 'handler' };
    const fresh: TargetConfigInput = { service: 'fresh', url: server.url, secrets: [secret] };
    const targets = [old, fresh];
    dir = mkdtempSync(path.join(tmpdir(), 'backfill-'));
    configFile = path.join(dir, 'user-sync.config.json');
    writeFileSync(configFile, JSON.stringify({ ...base, targets }));
    service = new UserSyncService(
      { ...base, workers: 16, targets: [{ ...old, enabled: false }, fresh] },
      redis,
      { logger: createLogger({ silent: true }) },
    );
    await service.start();
  }, 60_000);

  afterAll(async () => {
    await service?.close();
    await server?.close();
    await deletePrefix(redis, prefix);
    await redis?.quit();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const lastResult = (stdout: string): BackfillResult => {
    const line = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as BackfillResult & { event: string })
      .find((l) => l.event === 'result');
    if (!line) throw new Error(`no result line in ${stdout}`);
    return line;
  };

  it('sends every live user exactly once at its ledger version, across a SIGKILL, and a second run sends nothing', async () => {
    const args = [
      'backfill',
      'fresh',
      '--json',
      '--max-backlog',
      '1000',
      '--chunk-size',
      '200',
      '--rate',
      '1500',
    ];
    const started = Date.now();
    const first = spawnCli([...args, '--config', configFile], { env });
    // Killed once it has walked 3,000 to 9,999 users.
    await first.waitForOutput(/"done":[3-9]\d{3},/, 60_000);
    first.kill();
    await first.exited();
    const stored = JSON.parse((await redis.get(`${prefix}:backfill:fresh`))!) as {
      status: string;
      done: number;
      runId: string;
    };
    expect(stored.status).toBe('running');
    expect(stored.done).toBeLessThan(USERS);
    log(`killed after ${Date.now() - started} ms at ${stored.done} users walked`);

    const second = await runCli([...args, '--config', configFile], { env, timeoutMs: 60_000 });
    expect(second.code).toBe(0);
    const resumed = lastResult(second.stdout);
    expect(resumed).toMatchObject({
      status: 'done',
      resumed: true,
      runId: stored.runId,
      total: USERS,
      done: USERS,
    });
    expect(resumed.counts).toMatchObject({ deletesSkipped: DELETED, deletes: 0, unreadable: 0 });
    // Every live user was enqueued once by one of the two runs, or found already queued.
    expect(resumed.counts.enqueued + resumed.counts.inSync + resumed.counts.alreadyQueued).toBe(LIVE);
    log(`resumed run done ${Date.now() - started} ms after the start: ${JSON.stringify(resumed.counts)}`);

    await waitFor(
      async () => server.requests.length >= LIVE && (await service.deployment.queues.backlog('fresh')) === 0,
      { timeoutMs: 60_000, intervalMs: 200, what: 'every live user delivered to the new target' },
    );
    log(`all delivered ${Date.now() - started} ms after the start`);
    const byUser = new Map<number, number[]>();
    for (const request of server.requests) {
      const body = JSON.parse(request.body) as { user_id: number; version: number; event_type: string };
      byUser.set(body.user_id, [...(byUser.get(body.user_id) ?? []), body.version]);
    }
    expect(byUser.size).toBe(LIVE);
    const duplicates = [...byUser.values()].filter((v) => v.length > 1).length;
    expect(duplicates).toBe(0);
    expect(server.requests).toHaveLength(LIVE);
    for (let id = 1; id <= LIVE; id++) expect([id, byUser.get(id)]).toEqual([id, [ledgerVersion(id)]]);
    for (let id = LIVE + 1; id <= USERS; id++) expect(byUser.has(id)).toBe(false);

    // A second full run: a new run, every live user in sync, nothing enqueued.
    const again = await runCli([...args, '--config', configFile], { env, timeoutMs: 60_000 });
    const repeat = lastResult(again.stdout);
    expect(repeat).toMatchObject({ status: 'done', resumed: false, total: USERS, done: USERS });
    expect(repeat.runId).not.toBe(stored.runId);
    expect(repeat.counts).toMatchObject({ enqueued: 0, inSync: LIVE, deletesSkipped: DELETED });
    expect(await service.deployment.queues.backlog('fresh')).toBe(0);
  }, 120_000);

  it('refuses bad options and unknown targets from the command line', async () => {
    const bad = await runCli(['backfill', 'fresh', '--rate', '0', '--config', configFile], { env });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--rate.*must be a number greater than 0/);
    const unknown = await runCli(['backfill', '../fresh', '--config', configFile], { env });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('user-sync: backfill: no target named "../fresh" is configured');
  });
});
