/**
 * A secret in a URL (`?token=`, `?password=`, `svc:<secret>@`) appears in no output: not in the
 * logs of a real worker process delivering to targets that fail, nor in its dead letters, its
 * failed jobs' failedReason and stacktrace, the dashboard's `lastError` (readTargets), a config
 * error, or a CLI run. Each check also proves its output is there to look at.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { readTargets } from '../../src/dashboard/targets.js';
import {
  DeliveryError,
  Deployment,
  UserSyncService,
  createLogger,
  type Executor,
  type SyncConfigInput,
} from '../../src/index.js';
import { captureLogger } from '../helpers/capture-logger.js';
import { requireBuild, runCli, spawnCli, type CliProcess } from '../helpers/cli.js';
import { startHttpTarget, type HttpTarget } from '../helpers/http-target.js';
import { freePort } from '../helpers/redis-server.js';
import { TEST_REDIS_URL, deletePrefix, testRedis, uniquePrefix, waitFor } from '../helpers/redis.js';

const SECRET = 's3cr3t-value';

/** Everything a deployment shows about its failures, as one text. */
async function everythingShown(deployment: Deployment): Promise<{ text: string; failedReasons: string[] }> {
  const { records } = await deployment.listDeadLetters();
  const failedReasons: string[] = [];
  const stacks: string[] = [];
  for (const target of deployment.config.targets) {
    const queue = deployment.queues.delivery(target.service);
    for (const job of [...(await queue.getFailed(0, 100)), ...(await queue.getDelayed(0, 100))]) {
      failedReasons.push(job.failedReason);
      stacks.push(...(job.stacktrace ?? []));
    }
  }
  const targets = await readTargets(deployment, Date.now());
  return {
    text: JSON.stringify({ records, failedReasons, stacks, targets }),
    failedReasons,
  };
}

describe('redaction: a real worker process', () => {
  const prefix = uniquePrefix('redact');
  const dir = mkdtempSync(path.join(tmpdir(), 'user-sync-redact-'));
  const configFile = path.join(dir, 'user-sync.config.json');
  let redis: Redis;
  let server: HttpTarget;
  let worker: CliProcess | undefined;
  let deployment: Deployment | undefined;

  beforeAll(async () => {
    requireBuild();
    redis = testRedis();
    // A target that echoes the URL it was called at, as many frameworks do in an error page.
    server = await startHttpTarget((req, res) => {
      res.statusCode = req.url.startsWith('/flaky') ? 503 : 404;
      res.end(`no route for ${req.url}`);
    });
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

  it('shows no secret in its logs, dead letters, failed reasons, lastError or `dlq list`', async () => {
    const origin = new URL(server.url).origin;
    const config: SyncConfigInput = {
      prefix,
      redisUrl: TEST_REDIS_URL,
      retryInterval: 20,
      maxRetryInterval: 50,
      maxRetries: 1,
      targets: [
        { service: 'echo', url: `${origin}/hook?token=${SECRET}` },
        {
          service: 'flaky',
          url: `http://svc:${SECRET}@127.0.0.1:${new URL(origin).port}/flaky?token=${SECRET}`,
        },
        {
          service: 'cache',
          url: `redis://:${SECRET}@127.0.0.1:${await freePort()}/0?password=${SECRET}`,
          timeoutMs: 1_000,
        },
      ],
    };
    writeFileSync(configFile, JSON.stringify(config));
    worker = spawnCli(['worker', '--config', configFile], { env: { LOG_LEVEL: 'debug' } });
    await worker.waitForOutput(/worker running/, 20_000);
    deployment = new Deployment(config, redis, { logger: createLogger({ silent: true }) });
    await deployment.createPublisher('redaction-test').publishUserCreated({ id: 1, username: 'ada' });
    await waitFor(
      async () => {
        const byTarget = (await deployment!.getStats()).by_target;
        return ['echo', 'flaky', 'cache'].every((t) => byTarget[t]?.dead === 1);
      },
      { what: 'a dead letter per target', timeoutMs: 20_000 },
    );

    const { text, failedReasons } = await everythingShown(deployment);
    expect(text).not.toContain(SECRET);
    // There was something to show, and it says what happened.
    const { records } = await deployment.listDeadLetters();
    const byService = Object.fromEntries(records.map((r) => [r.service, r]));
    expect(byService.echo).toMatchObject({ code: 'http_404', excerpt: 'no route for /hook?token=***' });
    expect(byService.flaky).toMatchObject({ code: 'http_503', excerpt: 'no route for /flaky?token=***' });
    expect(byService.cache?.message).toContain('redis://:***@127.0.0.1:');
    expect(failedReasons).toHaveLength(3);
    const targets = await readTargets(deployment, Date.now());
    expect(targets.map((t) => t.lastError?.source)).toEqual(['failed', 'failed', 'failed']);

    const list = await runCli(['dlq', 'list', '--config', configFile]);
    const listJson = await runCli(['dlq', 'list', '--json', '--config', configFile]);
    for (const result of [list, listJson]) {
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('flaky');
      expect(result.stdout).not.toContain(SECRET);
    }

    worker.child.kill('SIGTERM');
    const exit = await worker.exited(15_000);
    expect(exit.code).toBe(0);
    const logs = exit.stdout + exit.stderr;
    expect(logs).toMatch(/"outcome":"retry"/);
    expect(logs).toMatch(/"outcome":"dead"/);
    expect(logs).not.toContain(SECRET);
  }, 60_000);
});

describe('redaction: what any executor throws', () => {
  it('is redacted before it becomes a log line, a dead letter, a failedReason, a stacktrace or lastError', async () => {
    const prefix = uniquePrefix('redact-exec');
    const redis = testRedis();
    const { logger, lines } = captureLogger();
    // A driver whose errors carry the URL it was given, credentials and all.
    const leaky = (retryable: boolean): Executor => ({
      async execute() {
        const message = `POST https://svc:${SECRET}@search.internal/index?api_key=${SECRET} failed: 503`;
        if (retryable) throw new Error(message);
        throw new DeliveryError(message, {
          retryable: false,
          failureCode: 'rejected',
          excerpt: `key ${SECRET}`,
        });
      },
    });
    const service = new UserSyncService(
      {
        prefix,
        retryInterval: 20,
        maxRetryInterval: 50,
        maxRetries: 1,
        targets: [
          { service: 'search', kind: 'leaky-retry' },
          // The excerpt repeats the key alone: masked as a credential of the target's own URL.
          { service: 'index', kind: 'leaky-dead', url: `https://search.internal/index?api_key=${SECRET}` },
        ],
      },
      redis,
      { logger, executors: { 'leaky-retry': leaky(true), 'leaky-dead': leaky(false) } },
    );
    try {
      await service.start();
      await service.createPublisher('redaction-test').publishUserCreated({ id: 7, username: 'grace' });
      await waitFor(
        async () => {
          const byTarget = (await service.getStats()).by_target;
          return byTarget.search?.dead === 1 && byTarget.index?.dead === 1;
        },
        { what: 'both dead', timeoutMs: 15_000 },
      );
      const { text, failedReasons } = await everythingShown(service.deployment);
      expect(text).not.toContain(SECRET);
      expect(failedReasons.sort()).toEqual([
        'non_retryable: POST https://svc:***@search.internal/index?api_key=*** failed: 503',
        'retries_exhausted: POST https://svc:***@search.internal/index?api_key=*** failed: 503',
      ]);
      const { records } = await service.listDeadLetters();
      expect(records.find((r) => r.service === 'index')?.excerpt).toBe('key ***');
      expect(lines.some((line) => line.includes('"outcome":"retry"'))).toBe(true);
      for (const line of lines) expect(line).not.toContain(SECRET);
    } finally {
      await service.close();
      await deletePrefix(redis, prefix);
      await redis.quit();
    }
  });
});

describe('redaction: the CLI', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'user-sync-redact-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('shows a Redis it cannot reach redacted, stack included', async () => {
    const env = {
      REDIS_URL: `redis://:${SECRET}@127.0.0.1:1/0?password=${SECRET}`,
      USER_SYNC_CONFIG: undefined,
    };
    for (const args of [['stats'], ['stats', '--verbose']]) {
      const result = await runCli(args, { cwd: dir, env });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(
        'user-sync: cannot connect to Redis at redis://:***@127.0.0.1:1/0?password=*** (',
      );
      expect(result.stdout + result.stderr).not.toContain(SECRET);
    }
  });

  it('shows a config error redacted', async () => {
    const file = path.join(dir, 'bad.json');
    writeFileSync(
      file,
      JSON.stringify({
        targets: [{ service: 'orders', url: `https://svc:${SECRET}@exa mple.com/hook?token=${SECRET}` }],
      }),
    );
    const result = await runCli(['stats', '--config', file], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `user-sync: invalid config (${file}): targets[0].url: is not a valid URL: "https://svc:***@exa mple.com/hook?token=***"\n`,
    );
  });

  it('shows a bad USER_SYNC_LOCAL_REDIS_URL without its credentials', async () => {
    const result = await runCli(['stats'], {
      cwd: dir,
      env: {
        REDIS_URL: undefined,
        USER_SYNC_CONFIG: undefined,
        USER_SYNC_LOCAL_REDIS_URL: `redis//:${SECRET}@cache`,
      },
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('USER_SYNC_LOCAL_REDIS_URL: must be a redis:// URL');
    expect(result.stderr).not.toContain(SECRET);
  });
});
