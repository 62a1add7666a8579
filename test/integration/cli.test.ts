import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { Webhook } from 'standardwebhooks';
import { pingRedis } from '../../src/redis.js';
import { partitionKeys as keys } from '../../src/jobs/names.js';
import { requireBuild, runCli, spawnCli, type CliProcess, type CliResult } from '../helpers/cli.js';
import { newSecret } from '../helpers/harness.js';
import { startHttpTarget, type HttpTarget } from '../helpers/http-target.js';
import { TEST_REDIS_URL, deletePrefix, testRedis, uniquePrefix, waitFor } from '../helpers/redis.js';

/** The user the test target refuses for good (422), so that it is dead-lettered at once. */
const REFUSED_USER = 6;

function json<T>(result: CliResult): T {
  if (result.code !== 0) throw new Error(`exit ${String(result.code)}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

/** stderr's lines, without blank ones. */
function errorLines(result: CliResult): string[] {
  return result.stderr.split('\n').filter((line) => line.trim() !== '');
}

interface StatsJson {
  stats: {
    total_tasks: number;
    completed_tasks: number;
    failed_tasks: number;
    by_target: Record<string, { delivered: number; dead: number; replayed: number }>;
  };
  queue: { queue_length: number; processes: number; enabled: boolean };
}

describe('user-sync CLI', () => {
  let dir: string;
  let prefix: string;
  let redis: Redis;
  let server: HttpTarget;
  let secret: string;
  let configPath: string;
  const running: CliProcess[] = [];
  const cli = (args: string[], env: Record<string, string | undefined> = {}) =>
    runCli(['--config', configPath, ...args], {
      cwd: dir,
      env: { REDIS_URL: TEST_REDIS_URL, USER_SYNC_CONFIG: undefined, LOG_LEVEL: undefined, ...env },
    });

  beforeAll(async () => {
    requireBuild();
    dir = await mkdtemp(path.join(tmpdir(), 'user-sync-cli-'));
    prefix = uniquePrefix('cli');
    redis = testRedis();
    secret = newSecret();
    server = await startHttpTarget((req, res) => {
      const body = JSON.parse(req.body) as { user_id: number };
      res.statusCode = body.user_id === REFUSED_USER ? 422 : 200;
      res.end(body.user_id === REFUSED_USER ? 'no such account' : 'ok');
    });
    configPath = path.join(dir, 'user-sync.config.json');
    await writeFile(
      configPath,
      JSON.stringify({
        prefix,
        retryInterval: '100ms',
        maxRetries: 1,
        shutdownTimeout: '2s',
        targets: [{ service: 'svc', url: server.url, secrets: [secret], timeoutMs: 2_000 }],
      }),
    );
  });

  afterAll(async () => {
    for (const child of running) child.kill();
    await server?.close();
    if (redis) {
      await deletePrefix(redis, prefix);
      await redis.quit();
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('--help lists every command', async () => {
    const result = await runCli(['--help']);
    expect(result.code).toBe(0);
    for (const command of ['worker', 'publish', 'stats', 'dlq', 'demo']) {
      expect(result.stdout).toMatch(new RegExp(`^\\s+${command}\\b`, 'm'));
    }
    const dlq = await runCli(['dlq', '--help']);
    expect(dlq.code).toBe(0);
    for (const command of ['list', 'replay', 'purge'])
      expect(dlq.stdout).toMatch(new RegExp(`^\\s+${command}\\b`, 'm'));
    const publish = await runCli(['publish', '--help']);
    expect(publish.stdout).toContain('--user <json>');
    expect(publish.stdout).toContain('--config <file>');
  });

  let created: { eventId: string; version: number; tasks: string[] };

  it('publish prints the result and enqueues one delivery per target', async () => {
    created = json(
      await cli(['publish', 'created', '--user', '{"id":5,"username":"x","email":"x@example.com"}']),
    );
    expect(created).toMatchObject({ version: 1, enabled: true, duplicate: false, ledgerUpdated: true });
    expect(created.tasks).toEqual([`${created.eventId}.svc`]);
    const { stats, queue } = json<StatsJson>(await cli(['stats', '--json']));
    expect(stats.total_tasks).toBe(1);
    expect(queue.queue_length).toBe(1);
    expect(server.requests).toHaveLength(0);
  });

  let refusedTask: string;

  it('worker delivers, dead-letters what the target refuses, and exits 0 within 5 s of SIGTERM', async () => {
    const worker = spawnCli(['worker', '--config', configPath, '--concurrency', '2'], {
      cwd: dir,
      env: { REDIS_URL: TEST_REDIS_URL, USER_SYNC_CONFIG: undefined },
    });
    running.push(worker);
    const request = await waitFor(() => server.requests[0], {
      timeoutMs: 20_000,
      what: 'the first delivery',
    });
    expect(request.headers['webhook-id']).toBe(created.tasks[0]);
    const verified = new Webhook(secret).verify(request.body, {
      'webhook-id': String(request.headers['webhook-id']),
      'webhook-timestamp': String(request.headers['webhook-timestamp']),
      'webhook-signature': String(request.headers['webhook-signature']),
    });
    expect(verified).toMatchObject({ user_id: 5, event_type: 'user.created', version: 1 });

    const refused = json<{ tasks: string[] }>(
      await cli(['publish', 'user.created', '--user', `{"id":${REFUSED_USER},"email":"r@example.com"}`]),
    );
    refusedTask = refused.tasks[0] as string;
    await waitFor(async () => (await redis.hget(keys(prefix).targetStats('svc'), 'dead')) === '1', {
      timeoutMs: 15_000,
      what: 'a dead letter',
    });

    worker.child.kill('SIGTERM');
    const result = await worker.exited(5_000);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('worker stopped');
  });

  it('stats shows the counts, as JSON and as a table', async () => {
    const { stats, queue } = json<StatsJson>(await cli(['stats', '--json']));
    expect(stats).toMatchObject({ total_tasks: 2, completed_tasks: 1, failed_tasks: 1 });
    expect(stats.by_target.svc).toMatchObject({ delivered: 1, dead: 1, replayed: 0 });
    expect(queue).toMatchObject({ queue_length: 0, processes: 0, enabled: true });
    const table = await cli(['stats']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^TARGET\s+DELIVERED\s+SUPERSEDED\s+RETRIED\s+DEAD\s+REPLAYED$/m);
    expect(table.stdout).toMatch(/^svc\s+1\s+0\s+0\s+1\s+0$/m);
  });

  it('dlq list shows the dead letter; replay needs a filter or --all; purge needs --yes without a terminal', async () => {
    const listed = json<{ total: number; records: Array<{ id: string; status?: number; reason: string }> }>(
      await cli(['dlq', 'list', '--json']),
    );
    expect(listed.total).toBe(1);
    expect(listed.records[0]).toMatchObject({ id: refusedTask, status: 422, reason: 'non_retryable' });
    const table = await cli(['dlq', 'list', '--target', 'svc', '--since', '1h']);
    expect(table.stdout).toContain(refusedTask);
    const none = json<{ total: number }>(await cli(['dlq', 'list', '--json', '--target', 'other']));
    expect(none.total).toBe(0);

    const refusedReplay = await cli(['dlq', 'replay']);
    expect(refusedReplay.code).toBe(1);
    expect(errorLines(refusedReplay)).toEqual([
      expect.stringMatching(/^user-sync: refusing to replay every dead letter/),
    ]);

    const refusedPurge = await cli(['dlq', 'purge', '--target', 'svc']);
    expect(refusedPurge.code).toBe(1);
    expect(refusedPurge.stderr).toMatch(/^user-sync: refusing to purge without confirmation: pass --yes/);

    const replayed = json<{ replayed: string[] }>(await cli(['dlq', 'replay', '--all', '--json']));
    expect(replayed.replayed).toEqual([refusedTask]);
    expect(json<{ total: number }>(await cli(['dlq', 'list', '--json'])).total).toBe(0);
    const { stats, queue } = json<StatsJson>(await cli(['stats', '--json']));
    expect(stats.by_target.svc?.replayed).toBe(1);
    expect(queue.queue_length).toBe(1);

    const purged = json<{ purged: string[] }>(await cli(['dlq', 'purge', '--all', '--yes', '--json']));
    expect(purged.purged).toEqual([]);
  });

  it('a bad config file: exit 1 and one line naming the field', async () => {
    const bad = path.join(dir, 'bad.json');
    await writeFile(
      bad,
      JSON.stringify({ targets: [{ service: 'svc', kind: 'http', url: 'ftp://example.com' }] }),
    );
    const result = await runCli(['stats', '--config', bad], { cwd: dir, env: { REDIS_URL: TEST_REDIS_URL } });
    expect(result.code).toBe(1);
    expect(errorLines(result)).toEqual([
      expect.stringMatching(
        /^user-sync: invalid config \(.*bad\.json\): targets\[0\]\.url: must use http: or https:/,
      ),
    ]);
    const missing = await runCli(['stats', '--config', path.join(dir, 'missing.json')], { cwd: dir });
    expect(missing.code).toBe(1);
    expect(errorLines(missing)).toHaveLength(1);
    expect(missing.stderr).toMatch(/^user-sync: invalid config: \(file\): cannot read/);
  });

  it('publish refuses bad input with one line naming the field, and enqueues nothing', async () => {
    const before = json<StatsJson>(await cli(['stats', '--json'])).stats.total_tasks;
    const result = await cli(['publish', 'created', '--user', '{"id":7,"email":"not-an-email"}']);
    expect(result.code).toBe(1);
    expect(errorLines(result)).toEqual([expect.stringMatching(/^user-sync: invalid event: user\.email: /)]);
    const notJson = await cli(['publish', 'created', '--user', '{id: 7}']);
    expect(notJson.code).toBe(1);
    expect(errorLines(notJson)).toEqual([expect.stringMatching(/^user-sync: --user: is not valid JSON/)]);
    const badType = await cli(['publish', 'renamed', '--user', '{"id":7}']);
    expect(badType.code).toBe(1);
    expect(badType.stderr).toMatch(/^user-sync: .*must be one of created, updated, deleted, status_changed/);
    expect(json<StatsJson>(await cli(['stats', '--json'])).stats.total_tasks).toBe(before);
  });

  it('unknown commands and options: exit 1 with a user-sync: line; --verbose adds the stack', async () => {
    const unknown = await runCli(['frobnicate']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^user-sync: unknown command 'frobnicate'/);
    const verbose = await cli(['publish', 'created', '--user', '[]', '--verbose']);
    expect(verbose.code).toBe(1);
    expect(verbose.stderr).toMatch(/^user-sync: --user: must be a JSON object/);
    expect(verbose.stderr).toMatch(/\n\s+at /);
  });

  it('an unreachable Redis or a missing option: exit 1 with one line saying what to do', async () => {
    const down = await runCli(['worker', '--config', configPath], {
      cwd: dir,
      env: { REDIS_URL: 'redis://127.0.0.1:1' },
    });
    expect(down.code).toBe(1);
    expect(errorLines(down)).toEqual([
      expect.stringMatching(
        /^user-sync: cannot connect to Redis at redis:\/\/127\.0\.0\.1:1\/? \(connect ECONNREFUSED/,
      ),
    ]);
    const noUser = await cli(['publish', 'created']);
    expect(noUser.code).toBe(1);
    expect(errorLines(noUser)).toEqual(["user-sync: required option '-u, --user <json>' not specified"]);
  });

  it('demo runs for --duration, keeps the healthy targets in sync with the ledger, and exits 0', async () => {
    const demoDir = await mkdtemp(path.join(tmpdir(), 'user-sync-demo-'));
    const demoPrefix = uniquePrefix('demo');
    try {
      const demo = spawnCli(['demo', '--duration', '4', '--rate', '20', '--prefix', demoPrefix], {
        cwd: demoDir,
        env: { REDIS_URL: undefined, USER_SYNC_CONFIG: undefined, HOME: demoDir },
      });
      running.push(demo);
      const result = await demo.exited(40_000);
      expect(result.code).toBe(0);
      const local = (await pingRedis('redis://127.0.0.1:6379')).ok;
      expect(result.stdout).toContain(local ? '(already running)' : '(embedded redis-server');
      expect(existsSync(path.join(demoDir, '.redis'))).toBe(!local);
      const published = Number(/Summary: (\d+) events/.exec(result.stdout)?.[1]);
      expect(published).toBeGreaterThanOrEqual(60);
      for (const target of ['orders', 'cache']) {
        const row = new RegExp(`^${target}\\s+\\d+\\s+\\d+\\s+\\d+\\s+\\d+\\s+(\\d+)/(\\d+)$`, 'm').exec(
          result.stdout,
        );
        expect(row).not.toBeNull();
        expect(row?.[1]).toBe(row?.[2]);
      }
      expect(result.stdout).toMatch(/^billing\s+\d+/m);
    } finally {
      await deletePrefix(redis, demoPrefix);
      await rm(demoDir, { recursive: true, force: true });
    }
  });
});
