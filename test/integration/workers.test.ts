import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import type { SyncConfigInput } from '../../src/config/schema.js';
import { createLogger } from '../../src/logger.js';
import { UserSyncService } from '../../src/service.js';
import { requireBuild, spawnCli, type CliProcess } from '../helpers/cli.js';
import { startHttpTarget, type HttpTarget } from '../helpers/http-target.js';
import { TEST_REDIS_URL, deletePrefix, testRedis, uniquePrefix, waitFor } from '../helpers/redis.js';

const EVENTS = 200;
const RESPONSE_DELAY_MS = 20;
/** Per worker process: low, so that neither process can empty the backlog alone in an instant. */
const CONCURRENCY = 2;

/** The task ids of the `delivery delivered` lines in a worker's JSON log output. */
function deliveredTasks(output: string): string[] {
  const tasks: string[] = [];
  for (const line of output.split('\n')) {
    if (!line.includes('delivery delivered')) continue;
    try {
      const entry = JSON.parse(line) as { message?: unknown; task_id?: unknown };
      if (entry.message === 'delivery delivered' && typeof entry.task_id === 'string')
        tasks.push(entry.task_id);
    } catch {
      // not a JSON log line
    }
  }
  return tasks;
}

/**
 * Two `user-sync worker` processes started against one backlog share it: every event is
 * delivered, each process delivers part of it, and both stop cleanly on SIGTERM.
 */
describe('two worker processes', () => {
  const prefix = uniquePrefix('workers');
  const workers: CliProcess[] = [];
  let dir: string;
  let configPath: string;
  let redis: Redis;
  let server: HttpTarget;
  let service: UserSyncService | undefined;
  /** Opened once both workers are running: until then the target holds its answers. */
  let openGate: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (openGate = resolve));

  beforeAll(async () => {
    requireBuild();
    dir = await mkdtemp(path.join(tmpdir(), 'user-sync-workers-'));
    redis = testRedis();
    server = await startHttpTarget(async (_req, res) => {
      await gate;
      await new Promise((resolve) => setTimeout(resolve, RESPONSE_DELAY_MS));
      res.end('ok');
    });
    const config: SyncConfigInput = {
      prefix,
      workers: CONCURRENCY,
      retryInterval: '100ms',
      maxRetries: 3,
      shutdownTimeout: '5s',
      targets: [{ service: 'svc', url: server.url, timeoutMs: 10_000 }],
    };
    configPath = path.join(dir, 'user-sync.config.json');
    await writeFile(configPath, JSON.stringify(config));
  });

  afterAll(async () => {
    openGate();
    for (const worker of workers) worker.kill();
    await Promise.all(workers.map((w) => w.exited(5_000).catch(() => undefined)));
    await service?.close().catch(() => undefined);
    await server?.close();
    if (redis) {
      await deletePrefix(redis, prefix);
      await redis.quit();
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('share one backlog: every event delivered, both deliver, both exit 0 on SIGTERM', async () => {
    // The backlog, published before any worker runs.
    service = new UserSyncService(
      {
        prefix,
        workers: CONCURRENCY,
        targets: [{ service: 'svc', url: server.url }],
      },
      redis,
      { logger: createLogger({ silent: true }) },
    );
    const publisher = service.createPublisher('workers-test');
    const expected = new Set<string>();
    for (let id = 1; id <= EVENTS; id++) {
      const result = await publisher.publishUserCreated({
        id,
        username: `u${id}`,
        email: `u${id}@example.com`,
      });
      for (const task of result.tasks) expected.add(task);
    }
    expect(expected.size).toBe(EVENTS);
    await service.close();
    service = undefined;

    for (let i = 0; i < 2; i++) {
      workers.push(
        spawnCli(['worker', '--config', configPath], {
          cwd: dir,
          env: { REDIS_URL: TEST_REDIS_URL, USER_SYNC_CONFIG: undefined, LOG_LEVEL: 'info' },
        }),
      );
    }
    const [first, second] = workers as [CliProcess, CliProcess];
    await Promise.all(workers.map((w) => w.waitForOutput(/worker running/, 20_000)));
    openGate();

    const delivered = () => [
      deliveredTasks(first.stdout() + first.stderr()),
      deliveredTasks(second.stdout() + second.stderr()),
    ];
    await waitFor(
      () => {
        const all = new Set(delivered().flat());
        return [...expected].every((task) => all.has(task));
      },
      { timeoutMs: 30_000, intervalMs: 100, what: `all ${EVENTS} deliveries` },
    );

    const [byFirst, bySecond] = delivered() as [string[], string[]];
    const all = new Set([...byFirst, ...bySecond]);
    expect([...expected].filter((task) => !all.has(task))).toEqual([]);
    expect([...all].filter((task) => !expected.has(task))).toEqual([]);
    expect(byFirst.length).toBeGreaterThan(0);
    expect(bySecond.length).toBeGreaterThan(0);
    // The target saw every task, under its webhook-id.
    const seen = new Set(server.requests.map((r) => String(r.headers['webhook-id'])));
    expect([...expected].filter((task) => !seen.has(task))).toEqual([]);

    for (const worker of workers) worker.child.kill('SIGTERM');
    const results = await Promise.all(workers.map((w) => w.exited(10_000)));
    for (const result of results) {
      expect({ code: result.code, signal: result.signal }).toEqual({ code: 0, signal: null });
      expect(result.stdout).toContain('worker stopped');
    }
  }, 90_000);
});
