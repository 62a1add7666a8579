import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import type { SyncConfigInput } from '../../src/index.js';
import { ROOT, requireBuild, runCli, spawnCli, spawnScript, type CliProcess } from '../helpers/cli.js';
import { freePort } from '../helpers/redis-server.js';
import { TEST_REDIS_URL, deletePrefix, testRedis, uniquePrefix, waitFor } from '../helpers/redis.js';

/**
 * The README's walk-through, process by process: two example receivers, a worker from the
 * CLI, the example producer. The example config is used as it is but for ports, prefix and
 * cache keys, so the test does not collide with anything else on the shared Redis.
 */
describe('README walk-through with the examples', () => {
  const prefix = uniquePrefix('examples');
  const dir = mkdtempSync(path.join(tmpdir(), 'user-sync-examples-'));
  const configFile = path.join(dir, 'user-sync.config.json');
  const processes: CliProcess[] = [];
  let redis: Redis;
  let cacheTemplate = '';

  beforeAll(async () => {
    requireBuild();
    redis = testRedis();
    const example = JSON.parse(
      readFileSync(path.join(ROOT, 'examples/user-sync.config.json'), 'utf8'),
    ) as SyncConfigInput;
    const ports = [await freePort(), await freePort()];
    cacheTemplate = `${prefix}:user:{id}`;
    const targets = (example.targets ?? []).map((t, i) =>
      t.url?.startsWith('http')
        ? { ...t, url: `http://127.0.0.1:${ports[i]}/webhooks/users` }
        : { ...t, url: TEST_REDIS_URL, keyTemplate: cacheTemplate },
    );
    writeFileSync(configFile, JSON.stringify({ ...example, prefix, redisUrl: TEST_REDIS_URL, targets }));
    for (const [i, port] of ports.entries()) {
      const receiver = spawnScript(path.join(ROOT, 'examples/receiver.mjs'), [], {
        env: { WEBHOOK_SECRET: targets[i]!.secrets![0], PORT: String(port) },
      });
      processes.push(receiver);
      await receiver.waitForOutput(/listening/);
    }
  });

  afterAll(async () => {
    for (const p of processes) p.kill();
    await Promise.all(processes.map((p) => p.exited().catch(() => undefined)));
    await deletePrefix(redis, prefix);
    await redis.quit();
    rmSync(dir, { recursive: true, force: true });
  });

  it('events published by the producer arrive at both services and the Redis cache', async () => {
    const worker = spawnCli(['worker', '--config', configFile]);
    processes.push(worker);
    await worker.waitForOutput(/worker running/);
    const producer = await spawnScript(path.join(ROOT, 'examples/producer.mjs'), [], {
      env: { USER_SYNC_CONFIG: configFile },
    }).exited();
    expect(producer.code).toBe(0);
    expect(producer.stdout).toMatch(/created \{/);
    const [orders, billing] = processes as [CliProcess, CliProcess];
    // Each service ends at the ledger's latest version of each user (intermediate versions
    // may be coalesced away); billing does not take status changes, so it ends at v2 of 42.
    await waitFor(
      () => /user=42 v3/.test(orders.stdout()) && /user\.deleted user=43 v2/.test(orders.stdout()),
      {
        what: 'latest versions at orders',
      },
    );
    await waitFor(
      () => /user=42 v2/.test(billing.stdout()) && /user\.deleted user=43 v2/.test(billing.stdout()),
      {
        what: 'latest versions at billing',
      },
    );
    expect(billing.stdout()).not.toMatch(/status_changed|user=42 v3/);
    const cached = await waitFor(
      async () => {
        const raw = await redis.get(cacheTemplate.replace('{id}', '42'));
        return raw && (JSON.parse(raw) as { version: number }).version === 3 ? raw : undefined;
      },
      { what: 'user 42 at version 3 in the cache' },
    );
    expect((JSON.parse(cached) as { user: unknown }).user).toMatchObject({ id: 42, status: 'suspended' });
    expect(await redis.exists(cacheTemplate.replace('{id}', '43'))).toBe(0);

    const stats = await runCli(['stats', '--json', '--config', configFile]);
    expect(stats.code).toBe(0);
    const { stats: figures } = JSON.parse(stats.stdout) as {
      stats: { failed_tasks: number; completed_tasks: number };
    };
    expect(figures).toMatchObject({ failed_tasks: 0, completed_tasks: 14 });

    worker.child.kill('SIGTERM');
    expect((await worker.exited(10_000)).code).toBe(0);
  });
});
