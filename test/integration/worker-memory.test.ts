/**
 * A real worker process (`node dist/cli.js worker`) delivering to targets that answer 400 MiB
 * keeps its memory: its peak RSS (VmHWM in /proc/<pid>/status) after those deliveries is
 * within a few MiB of its peak after the same number of ordinary ones (same statuses, small
 * bodies), measured in the same run. Before the response limit, a single such answer raised
 * it by more than 400 MiB.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { Deployment, createLogger, type SyncConfigInput } from '../../src/index.js';
import { requireBuild, spawnCli, type CliProcess } from '../helpers/cli.js';
import { MiB, startHugeTarget, type HugeTarget } from '../helpers/huge-target.js';
import { TEST_REDIS_URL, deletePrefix, testRedis, uniquePrefix, waitFor } from '../helpers/redis.js';

/** Peak resident set size of a process, in bytes (Linux). */
function peakRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = /^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kib === undefined) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(kib) * 1024;
}

const mib = (bytes: number) => Math.round((bytes / MiB) * 10) / 10;

describe('worker process memory against a 400 MiB answer', () => {
  const prefix = uniquePrefix('memory');
  const dir = mkdtempSync(path.join(tmpdir(), 'user-sync-memory-'));
  const configFile = path.join(dir, 'user-sync.config.json');
  let redis: Redis;
  let server: HugeTarget;
  let worker: CliProcess | undefined;
  let deployment: Deployment | undefined;

  beforeAll(async () => {
    requireBuild();
    redis = testRedis();
    // /<size>/ok answers 200, /<size>/fail 500; /huge/… with 400 MiB of body, /small/… with 16 bytes.
    server = await startHugeTarget((req) => ({
      status: req.url?.endsWith('/ok') ? 200 : 500,
      bytes: req.url?.startsWith('/huge/') ? 400 * MiB : 16,
    }));
  });

  afterAll(async () => {
    worker?.kill();
    await worker?.exited().catch(() => undefined);
    await deployment?.close();
    await server.close();
    await deletePrefix(redis, prefix);
    await redis.quit();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stays within 20 MiB of its baseline peak RSS', async () => {
    const config: SyncConfigInput = {
      prefix,
      redisUrl: TEST_REDIS_URL,
      workers: 4,
      retryInterval: 20,
      maxRetryInterval: 50,
      maxRetries: 2,
      // The failing targets are to fail every attempt here, not to be held by their breakers.
      circuitBreaker: { enabled: false },
      // Created events go to the ordinary targets, updates to the huge ones: the same work.
      targets: [
        { service: 'small-ok', url: `${server.origin}/small/ok`, events: ['user.created'] },
        { service: 'small-fail', url: `${server.origin}/small/fail`, events: ['user.created'] },
        { service: 'huge-ok', url: `${server.origin}/huge/ok`, events: ['user.updated'] },
        { service: 'huge-fail', url: `${server.origin}/huge/fail`, events: ['user.updated'] },
      ],
    };
    writeFileSync(configFile, JSON.stringify(config));
    deployment = new Deployment(config, redis, { logger: createLogger({ silent: true }) });
    const publisher = deployment.createPublisher('memory-test');
    const stats = async () => (await deployment!.getStats()).by_target;

    worker = spawnCli(['worker', '--config', configFile]);
    await worker.waitForOutput(/worker running/, 20_000);
    const pid = worker.child.pid as number;

    // Each event: one 2xx (delivered) and three 500s (dead after 2 retries) to its pair of targets.
    const USERS = 8;
    const settled = (ok: string, fail: string) => async () => {
      const now = await stats();
      return now[ok]?.delivered === USERS && now[fail]?.dead === USERS;
    };

    // Baseline: the same process after the same work with small answers (got, agents, BullMQ,
    // dead letters all warmed up).
    for (let id = 1; id <= USERS; id++) await publisher.publishUserCreated({ id, username: `u${id}` });
    await waitFor(settled('small-ok', 'small-fail'), { what: 'ordinary deliveries', timeoutMs: 30_000 });
    const baseline = peakRss(pid);

    for (let id = 1; id <= USERS; id++) await publisher.publishUserUpdated({ id, username: `u${id}-2` });
    await waitFor(settled('huge-ok', 'huge-fail'), { what: 'huge deliveries', timeoutMs: 30_000 });
    const after = peakRss(pid);

    const huge = server.requests.flatMap((request, i) =>
      request.url.startsWith('/huge/') ? [server.sent[i] ?? 0] : [],
    );
    const attempts = huge.length;
    expect(attempts).toBe(USERS * 4);
    const sent = huge.reduce((a, b) => a + b, 0);
    // What the worker was offered, what the server managed to write, and the peaks, for the record.
    process.stdout.write(
      `worker memory: ${attempts} answers of 400 MiB offered (${mib(attempts * 400 * MiB)} MiB), ` +
        `${mib(sent)} MiB written by the server before the worker cut it off; ` +
        `peak RSS ${mib(baseline)} MiB after ordinary deliveries, ${mib(after)} MiB after the huge ones ` +
        `(+${mib(after - baseline)} MiB)\n`,
    );
    expect(after - baseline).toBeLessThan(20 * MiB);
    expect(worker.stdout() + worker.stderr()).toContain('response_too_large');

    worker.child.kill('SIGTERM');
    expect((await worker.exited(15_000)).code).toBe(0);
  }, 90_000);
});
