/**
 * The target registry from the outside, as another team would use it: `user-sync targets apply`
 * and `list` from the built CLI, and a producer that is a separate process with nothing but
 * REDIS_URL and a prefix, whose events a worker in this test delivers.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import {
  UserEventSubscriber,
  UserSyncService,
  createLogger,
  loadConfig,
  type HandledEvent,
  type PublishResult,
} from '../../src/index.js';
import { CLOSED } from '../../src/dashboard/breaker-view.js';
import { deploymentKeys } from '../../src/jobs/names.js';
import { openBreaker } from '../helpers/breaker.js';
import { ROOT, requireBuild, runCli, spawnCli, spawnScript } from '../helpers/cli.js';
import { newSecret } from '../helpers/harness.js';
import { startHttpTarget, type HttpTarget } from '../helpers/http-target.js';
import { TEST_REDIS_URL, deletePrefix, testRedis, uniquePrefix, waitFor } from '../helpers/redis.js';

const PRODUCER = path.join(ROOT, 'examples/producer-only.mjs');

describe('target registry from the CLI and a producer-only process', () => {
  const prefix = uniquePrefix('regcli');
  const secret = newSecret();
  const env = { REDIS_URL: TEST_REDIS_URL, USER_SYNC_CONFIG: undefined, USER_SYNC_PREFIX: undefined };
  let redis: Redis;
  let dir: string;
  let configPath: string;
  let server: HttpTarget;

  beforeAll(async () => {
    requireBuild();
    redis = testRedis();
    server = await startHttpTarget();
    dir = await mkdtemp(path.join(tmpdir(), 'user-sync-registry-'));
    configPath = path.join(dir, 'deployment.json');
    await writeFile(
      configPath,
      JSON.stringify({
        prefix,
        retryInterval: '100ms',
        shutdownTimeout: '2s',
        targets: [
          {
            service: 'inbox',
            url: server.url.replace('http://', 'http://hook-user:hook-pass-123@'),
            secrets: [secret],
            timeoutMs: 2_000,
          },
          { service: 'audit', kind: 'handler', events: ['user.created'] },
          {
            service: 'paused',
            url: 'https://paused.example/hooks',
            headers: { 'x-api-key': 'hdr-secret-xyz' },
            enabled: false,
          },
        ],
      }),
    );
  });

  afterAll(async () => {
    await server?.close();
    await deletePrefix(redis, prefix);
    await redis.quit();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a producer-only process with no registry is refused, saying where it looked', async () => {
    const producer = spawnScript(PRODUCER, [], { cwd: dir, env: { ...env, USER_SYNC_PREFIX: prefix } });
    const result = await producer.exited();
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('ConfigError');
    expect(result.stderr).toContain('there are no targets to publish to');
    expect(result.stderr).toContain(`${prefix}:registry`);
    expect(result.stderr).toContain('user-sync targets apply');
    expect(await redis.keys(`${prefix}*`)).toEqual([]);
  });

  it('targets apply --dry-run writes nothing and prints what it would write, without secrets', async () => {
    const result = await runCli(['targets', 'apply', '--dry-run', '--config', configPath], { env });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('dry run: nothing written');
    expect(result.stdout).toContain('Now: no registry. Would write rev 1');
    expect(result.stdout).toContain('inbox (http, enabled, all events)');
    expect(result.stdout).toContain('paused (http, disabled, all events)');
    for (const secretText of [
      'hook-pass-123',
      'hook-user',
      secret,
      'hdr-secret-xyz',
      'paused.example',
      server.url,
    ])
      expect(result.stdout).not.toContain(secretText);
    expect(await redis.exists(`${prefix}:registry`)).toBe(0);
  });

  it('targets apply writes the registry once, and again changes nothing', async () => {
    const help = await runCli(['targets', '--help']);
    for (const command of ['apply', 'list'])
      expect(help.stdout).toMatch(new RegExp(`^\\s+${command}\\b`, 'm'));
    const applied = await runCli(['targets', 'apply', '--config', configPath], { env });
    expect(applied.code).toBe(0);
    expect(applied.stdout).toContain(`Target registry ${prefix}:registry: rev 1 written (3 targets).`);
    const again = await runCli(['targets', 'apply', '--config', configPath], { env });
    expect(again.stdout).toContain("already holds this config's targets (rev 1)");
  });

  it('targets list shows the registry with nothing but the prefix; --json for scripts', async () => {
    // list needs only the prefix: no config file.
    const listed = await runCli(['targets', 'list', '--json'], {
      env: { ...env, USER_SYNC_PREFIX: prefix },
      cwd: dir,
    });
    expect(listed.code).toBe(0);
    const json = JSON.parse(listed.stdout) as Record<string, unknown>;
    expect(json).toEqual({
      key: `${prefix}:registry`,
      rev: 1,
      updated: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      writer: expect.stringMatching(/^cli \S+:\d+$/),
      settings: expect.objectContaining({ prefix, enabled: true, partitions: 1, queueSize: 10_000 }),
      targets: [
        { service: 'inbox', kind: 'http', events: null, enabled: true, paused: false, breaker: CLOSED },
        {
          service: 'audit',
          kind: 'handler',
          events: ['user.created'],
          enabled: true,
          paused: false,
          breaker: CLOSED,
        },
        { service: 'paused', kind: 'http', events: null, enabled: false, paused: false, breaker: CLOSED },
      ],
    });
    const table = await runCli(['targets', 'list'], { env: { ...env, USER_SYNC_PREFIX: prefix }, cwd: dir });
    expect(table.stdout).toMatch(/rev 1, updated \S+ by cli /);
    expect(table.stdout).toMatch(/^audit\s+handler\s+yes\s+user\.created\s+no\s+closed$/m);
    expect(table.stdout).toMatch(/^paused\s+http\s+no\s+all\s+no\s+closed$/m);
    const none = await runCli(['targets', 'list', '--json'], {
      env: { ...env, USER_SYNC_PREFIX: uniquePrefix('none') },
      cwd: dir,
    });
    expect(JSON.parse(none.stdout)).toMatchObject({ rev: null, targets: [] });
    const empty = await runCli(['targets', 'apply'], { env: { ...env, USER_SYNC_PREFIX: prefix }, cwd: dir });
    expect(empty.code).toBe(1);
    expect(empty.stderr).toContain('the config lists no targets');
  });

  it('targets pause and resume a target; list shows it paused, and a breaker that is open', async () => {
    const withConfig = { env: { ...env }, cwd: dir };
    const paused = await runCli(['targets', 'pause', 'inbox', '--config', configPath], withConfig);
    expect(paused.code).toBe(0);
    expect(paused.stdout).toContain('Target inbox paused');
    const config = loadConfig({ file: configPath });
    await openBreaker(redis, deploymentKeys(prefix).breaker('audit'), config.circuitBreaker);
    const table = await runCli(['targets', 'list', '--config', configPath], withConfig);
    expect(table.stdout).toMatch(/^SERVICE\s+KIND\s+ENABLED\s+EVENTS\s+PAUSED\s+BREAKER$/m);
    expect(table.stdout).toMatch(/^inbox\s+http\s+yes\s+all\s+yes\s+closed$/m);
    expect(table.stdout).toMatch(
      /^audit\s+.*\s+open since \S+, next probe \S+: 5 failed attempts in a row \(last: http_503\)$/m,
    );
    const json = JSON.parse(
      (await runCli(['targets', 'list', '--json', '--config', configPath], withConfig)).stdout,
    ) as {
      targets: Array<{ service: string; paused: boolean; breaker: { state: string } }>;
    };
    expect(json.targets.find((t) => t.service === 'inbox')).toMatchObject({
      paused: true,
      breaker: { state: 'closed' },
    });
    expect(json.targets.find((t) => t.service === 'audit')).toMatchObject({
      paused: false,
      breaker: { state: 'open' },
    });

    const resumed = await runCli(['targets', 'resume', 'inbox', '--config', configPath], withConfig);
    expect(resumed.stdout).toContain('Target inbox resumed');
    expect(
      JSON.parse((await runCli(['targets', 'list', '--json', '--config', configPath], withConfig)).stdout),
    ).toMatchObject({
      targets: expect.arrayContaining([
        expect.objectContaining({ service: 'inbox', paused: false }),
      ]) as unknown,
    });
    // An unknown target, or one that is not a name at all: refused, nothing paused.
    for (const bad of ['nobody', '../x:y', '*']) {
      const refused = await runCli(['targets', 'pause', bad, '--config', configPath], withConfig);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/no target named .* is known to this deployment/);
    }
    // An operator closes the breaker by hand.
    const closed = await runCli(['targets', 'close-breaker', 'audit', '--config', configPath], withConfig);
    expect(closed.stdout).toContain('Target audit: circuit breaker closed.');
    const after = await runCli(['targets', 'list', '--config', configPath], withConfig);
    expect(after.stdout).toMatch(/^audit\s+handler\s+yes\s+user\.created\s+no\s+closed$/m);
    await redis.del(deploymentKeys(prefix).breaker('audit'));
  });

  it("the dashboard writes its config's targets to the registry too", async () => {
    const other = uniquePrefix('regdash');
    const dashboard = spawnCli(['dashboard', '--insecure-local', '--port', '0', '--config', configPath], {
      env: { ...env, USER_SYNC_PREFIX: other },
    });
    try {
      await dashboard.waitForOutput(/Dashboard: http:\/\/127\.0\.0\.1:\d+/);
      expect(await redis.hget(`${other}:registry`, 'writer')).toMatch(/^dashboard \S+:\d+$/);
      expect(await redis.hget(`${other}:registry`, 'rev')).toBe('1');
    } finally {
      dashboard.kill();
      await dashboard.exited();
      await deletePrefix(redis, other);
    }
  });

  it("a producer-only process publishes to the registry's targets and a worker delivers", async () => {
    const handled: HandledEvent[] = [];
    const subscriber = new UserEventSubscriber().registerHandler('*', (event) => void handled.push(event));
    const service = new UserSyncService(loadConfig({ file: configPath, env: {} }), redis, {
      subscriber,
      logger: createLogger({ silent: true }),
    });
    await service.start();
    try {
      const producer = spawnScript(PRODUCER, [], { cwd: dir, env: { ...env, USER_SYNC_PREFIX: prefix } });
      const result = await producer.exited();
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      // Its results, among the publisher's own log lines (stdout, as any process's by default).
      const [created, updated] = result.stdout
        .split('\n')
        .filter((line) => line.startsWith('{"eventId"'))
        .map((line) => JSON.parse(line) as PublishResult);
      expect(created?.tasks).toEqual([`${created?.eventId}.inbox`, `${created?.eventId}.audit`]);
      expect(updated?.tasks).toEqual([`${updated?.eventId}.inbox`]);
      // The target holds the user at version 2 (the first delivery may carry it already: coalescing).
      await waitFor(
        () =>
          handled.length === 1 &&
          server.requests.some((r) => (JSON.parse(r.body) as { version: number }).version === 2),
        { what: 'the update delivered to inbox, the creation to audit' },
      );
      for (const request of server.requests)
        expect([`${created?.eventId}.inbox`, `${updated?.eventId}.inbox`]).toContain(
          request.headers['webhook-id'],
        );
      expect(handled.map((e) => e.id)).toEqual([created?.eventId]);
    } finally {
      await service.close();
    }
  });
});
