/**
 * user-sync on a Redis Cluster of 3 masters and 3 replicas, end to end as a deployment runs it:
 * 16 partitions, two `user-sync worker` processes, HTTP targets that verify signatures, a Redis
 * target, SDK publishes of every event type with versions out of order and duplicate ids, dead
 * letters listed and replayed, `stats`, `dlq` and `sweep` from the CLI — every figure what a
 * single Redis gives — one user found in any partition (`user`), a dry-run backfill over every
 * partition, and the keys and queue traffic spread over the three masters.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { clusterNodes, parseConfig } from '../../src/config/parse.js';
import type { SyncConfigInput } from '../../src/config/schema.js';
import { Deployment } from '../../src/deployment.js';
import type { BackfillResult } from '../../src/ops/backfill.js';
import type { UserLookup } from '../../src/ops/user-lookup.js';
import { createLogger } from '../../src/logger.js';
import { UserEventPublisher } from '../../src/producers/publisher.js';
import { connectCluster, type Cluster } from '../../src/redis.js';
import { newSecret } from '../helpers/harness.js';
import { requireBuild, runCli, spawnCli, type CliProcess } from '../helpers/cli.js';
import { deletePrefix, TEST_REDIS_URL, testRedis, uniquePrefix, waitFor } from '../helpers/redis.js';
import { startRedisCluster, type RedisCluster } from '../helpers/redis-cluster.js';
import { startVerifyingReceiver, type VerifyingReceiver } from '../helpers/verifying-receiver.js';

const USERS = 300;
const PARTITIONS = 16;
/** Users whose username target `b` refuses (422) until told otherwise. */
const REFUSED = new Set(['1', '2', '3', '4', '5']);
const log = (message: string) => process.stderr.write(`[cluster e2e] ${message}\n`);

describe('user-sync on Redis Cluster', () => {
  let cluster: RedisCluster;
  let client: Cluster;
  let plain: Redis;
  let a: VerifyingReceiver;
  let b: VerifyingReceiver;
  let deployment: Deployment;
  let dir: string;
  let configFile: string;
  let config: SyncConfigInput;
  const prefix = uniquePrefix('cluster');
  const cacheKey = (id: number | string) => `${prefix}:cache:user:${id}`;
  const workers: CliProcess[] = [];
  const env = (level = 'warn') => ({
    REDIS_CLUSTER_NODES: cluster.nodesEnv,
    REDIS_URL: undefined,
    LOG_LEVEL: level,
  });
  const cli = async (args: string[]) => {
    const result = await runCli([...args, '--config', configFile], { env: env(), timeoutMs: 60_000 });
    if (result.code !== 0) throw new Error(`user-sync ${args.join(' ')} failed: ${result.stderr}`);
    return result.stdout;
  };

  beforeAll(async () => {
    requireBuild();
    cluster = await startRedisCluster();
    client = connectCluster(clusterNodes(cluster.nodesEnv));
    plain = testRedis();
    const secrets = [newSecret(), newSecret()];
    a = await startVerifyingReceiver(secrets[0] as string);
    b = await startVerifyingReceiver(secrets[1] as string);
    b.refuse = (user) => (REFUSED.has(user) ? 422 : undefined);
    config = {
      prefix,
      partitions: PARTITIONS,
      workers: 4,
      retryInterval: 100,
      maxRetryInterval: 500,
      maxRetries: 2,
      autoRepair: true,
      targets: [
        { service: 'a', url: a.url, secrets: [secrets[0] as string], state: { bulkUrl: a.bulkUrl } },
        { service: 'b', url: b.url, secrets: [secrets[1] as string] },
        { service: 'cache', url: TEST_REDIS_URL, keyTemplate: `${prefix}:cache:user:{id}` },
      ],
    };
    dir = mkdtempSync(path.join(tmpdir(), 'user-sync-cluster-'));
    configFile = path.join(dir, 'user-sync.config.json');
    writeFileSync(configFile, JSON.stringify(config));
    deployment = new Deployment({ ...config, redisClusterNodes: cluster.nodesEnv }, client, {
      logger: createLogger({ silent: true }),
    });
  }, 60_000);

  afterAll(async () => {
    for (const w of workers) w.kill();
    await Promise.all(workers.map((w) => w.exited(5_000).catch(() => undefined)));
    await deployment?.close();
    client?.disconnect();
    await a?.close();
    await b?.close();
    await deletePrefix(plain, prefix);
    await plain?.quit();
    await cluster?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('delivers through two worker processes, in version order, with the figures one Redis gives', async () => {
    for (let i = 0; i < 2; i++) {
      const worker = spawnCli(['worker', '--config', configFile], { env: env('info') });
      workers.push(worker);
      await worker.waitForOutput(/worker running/, 30_000);
    }
    const publisher = new UserEventPublisher(client, 'accounts', {
      config: parseConfig({ ...config, redisClusterNodes: cluster.nodesEnv }),
      logger: createLogger({ silent: true }),
    });
    let events = 0;
    for (let id = 1; id <= USERS; id++) {
      const username = REFUSED.has(String(id)) ? 'refused' : `u${id}`;
      await publisher.publishUserCreated({ id, username }, { id: `c-${id}`, version: 1 });
      await publisher.publishUserUpdated(
        { id, username: `${username}` },
        { username },
        { id: `u-${id}`, version: 3 },
      );
      // Older than the ledger: enqueued, then superseded or coalesced.
      await publisher.publishUserStatusChanged({ id, username, status: 'suspended' }, 'active', {
        id: `s-${id}`,
        version: 2,
      });
      // A duplicate id: nothing new.
      expect(
        (await publisher.publishUserUpdated({ id, username }, undefined, { id: `u-${id}`, version: 3 }))
          .duplicate,
      ).toBe(true);
      events += 3;
      if (id % 10 === 0) {
        await publisher.publishUserDeleted({ id }, { id: `d-${id}`, version: 4 });
        events++;
      }
    }
    await publisher.close();
    await waitFor(async () => (await deployment.getQueueStatus()).queue_length === 0, {
      timeoutMs: 60_000,
      intervalMs: 250,
      what: 'every queue drained',
    });

    const want = (id: number) => (id % 10 === 0 ? null : 3);
    for (let id = 1; id <= USERS; id++) {
      expect(a.users.get(String(id)) ?? null).toBe(want(id));
      if (!REFUSED.has(String(id))) expect(b.users.get(String(id)) ?? null).toBe(want(id));
      const cached = await plain.get(cacheKey(id));
      expect(cached === null ? null : (JSON.parse(cached) as { version: number }).version).toBe(want(id));
    }
    for (const r of [a, b]) {
      expect(r.badSignatures).toBe(0);
      expect([...r.wentBackwards]).toEqual([]);
    }

    // Every figure as on one Redis: 3 targets for every event published.
    const stats = JSON.parse(await cli(['stats', '--json'])) as {
      stats: {
        total_tasks: number;
        completed_tasks: number;
        failed_tasks: number;
        by_target: Record<string, { dead: number }>;
      };
      queue: { queue_length: number; processes: number; workers: number };
    };
    expect(stats.stats.total_tasks).toBe(events * 3);
    expect(stats.stats.completed_tasks + stats.stats.failed_tasks).toBe(events * 3);
    // Target b refused every delivery of the 5 users (3 events each): 15 dead letters.
    expect(stats.stats.failed_tasks).toBe(15);
    expect(stats.stats.by_target.b?.dead).toBe(15);
    expect(stats.queue).toMatchObject({ queue_length: 0, processes: 2, workers: 8 });
    log(`${events} events, ${events * 3} deliveries; stats ${JSON.stringify(stats.stats)}`);
  }, 180_000);

  it('finds one user in any partition, from the SDK and the CLI, and backfills only what a target lacks', async () => {
    // One user of every partition: each lookup reads its own partition's slot, on whichever master.
    const byPartition = new Map<number, number>();
    for (let id = 1; id <= USERS && byPartition.size < PARTITIONS; id++) {
      const p = deployment.keyspace.partitionOf(id);
      if (!byPartition.has(p) && !REFUSED.has(String(id))) byPartition.set(p, id);
    }
    expect(byPartition.size).toBe(PARTITIONS);
    for (const [partition, id] of byPartition) {
      const found = await deployment.lookupUser(String(id));
      expect(found.partition).toBe(partition);
      expect(found.ledger).toMatchObject({ version: id % 10 === 0 ? 4 : 3, deleted: id % 10 === 0 });
      for (const t of found.targets)
        expect([id, t.service, t.inSync, t.pending.length + t.retrying.length + t.dead.length]).toEqual([
          id,
          t.service,
          true,
          0,
        ]);
      expect(found.truncated).toBe(false);
    }
    // A user target b refused: its three dead deliveries with their last error, out of sync on b only.
    const refused = JSON.parse(await cli(['user', '1', '--json'])) as UserLookup;
    const onB = refused.targets.find((t) => t.service === 'b')!;
    expect(onB).toMatchObject({ watermark: 0, sync: 'missing', inSync: false });
    expect(onB.dead.map((d) => d.code)).toEqual(['http_422', 'http_422', 'http_422']);
    expect(refused.targets.find((t) => t.service === 'a')).toMatchObject({ watermark: 3, inSync: true });
    expect(refused.ledger?.snapshot.redacted).toBe(true);
    // A dry-run backfill of b walks all 16 partitions and finds exactly the five refused users
    // lacking (their dead deliveries do not count as queued).
    const lines = (await cli(['backfill', 'b', '--dry-run', '--json'])).trim().split('\n');
    const dry = JSON.parse(lines.at(-1)!) as BackfillResult;
    expect(dry).toMatchObject({ status: 'done', dryRun: true, total: USERS, done: USERS });
    expect(dry.counts).toMatchObject({ enqueued: 5, inSync: USERS - 5, alreadyQueued: 0 });
  }, 60_000);

  it('lists dead letters from every partition and replays them from the CLI', async () => {
    const listed = JSON.parse(await cli(['dlq', 'list', '--json'])) as {
      total: number;
      records: Array<{ service: string; userId: number; partition: number }>;
    };
    expect(listed.total).toBe(15);
    expect(new Set(listed.records.map((r) => String(r.userId)))).toEqual(REFUSED);
    expect(new Set(listed.records.map((r) => r.service))).toEqual(new Set(['b']));
    b.refuse = () => undefined;
    await cli(['dlq', 'replay', '--target', 'b']);
    await waitFor(async () => [...REFUSED].every((id) => b.users.get(id) === 3), {
      timeoutMs: 30_000,
      what: 'the replays delivered',
    });
    expect(JSON.parse(await cli(['dlq', 'list', '--json']))).toMatchObject({ total: 0 });
  }, 90_000);

  it('sweeps every partition from the CLI and repairs drift on any master', async () => {
    // Drift behind user-sync's back: users lost from the HTTP target and the cache.
    for (const id of [11, 12, 13, 14, 15]) a.users.delete(String(id));
    for (const id of [21, 22, 23]) await plain.del(cacheKey(id));
    const run = JSON.parse(await cli(['sweep', '--json'])) as {
      usersChecked: number;
      passCompleted: boolean;
      partitions: unknown[];
      targets: Record<string, Record<string, number>>;
    };
    expect(run).toMatchObject({ usersChecked: USERS, passCompleted: true });
    expect(run.partitions).toHaveLength(PARTITIONS);
    expect(run.targets.a).toMatchObject({ missing: 5, repairs: 5, in_sync: USERS - 5 });
    expect(run.targets.cache).toMatchObject({ missing: 3, repairs: 3, in_sync: USERS - 3 });
    expect(run.targets.b).toMatchObject({ unchecked: USERS });
    await waitFor(async () => (await deployment.getQueueStatus()).queue_length === 0, {
      what: 'repairs done',
    });
    const again = JSON.parse(await cli(['sweep', '--json'])) as typeof run;
    expect(again.targets.a).toMatchObject({ in_sync: USERS, missing: 0 });
    expect(again.targets.cache).toMatchObject({ in_sync: USERS, missing: 0 });
  }, 90_000);

  it('spreads the ledger and the delivery queues over all three masters', async () => {
    const ledger = await cluster.keyCountsByMaster(`{${prefix.slice(1, -1)}-p*}:ledger:*`);
    const queues = await cluster.keyCountsByMaster(`{${prefix.slice(1, -1)}-p*}:deliver.*`);
    const share = (counts: Map<number, number>) => {
      const total = [...counts.values()].reduce((x, y) => x + y, 0);
      return [...counts.values()].map((n) => n / total);
    };
    log(`ledger keys per master ${JSON.stringify([...ledger])}, queue keys ${JSON.stringify([...queues])}`);
    expect(ledger.size).toBe(3);
    expect([...ledger.values()].reduce((x, y) => x + y, 0)).toBe(USERS);
    for (const s of share(ledger)) expect(s).toBeGreaterThan(0.2);
    for (const s of share(ledger)) expect(s).toBeLessThan(0.47);
    for (const s of share(queues)) expect(s).toBeGreaterThan(0.2);
  }, 30_000);
});
