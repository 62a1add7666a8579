/**
 * user-sync on Redis Cluster (docs/performance.md, "Redis Cluster"), on private servers only:
 * the single Redis of the suite's rig and a loopback cluster of 3 masters and 3 replicas
 * (test/helpers/redis-cluster.ts, no persistence), the rig's receiver and 4 worker processes.
 *
 * 1. Scale (cluster-scale.ts): publishes/s, deliveries/s with 1, 2 and 4 worker processes,
 *    Redis CPU per 1,000 publishes and deliveries per master, memory per user per master; on
 *    the single Redis with `partitions: 1` and 12, and on the cluster with 12.
 * 2. What `replicaAcks` costs: publishes/s and per-publish latency (call → resolved) with
 *    `replicaAcks: 1` (each publish WAITs for a replica of its partition's master) against
 *    `replicaAcks: 0`, on the cluster, `partitions: 12`, 3 targets, ~200-byte snapshots, 32
 *    publishes in flight, no workers running. Rounds alternate the two settings; every round
 *    starts on flushed masters.
 * Prints each figure as it is known, the tables for docs/performance.md, and one JSON summary line.
 *
 *   npm run bench:cluster              # scale: 5 rounds of 2,000 users; replicaAcks: 5 rounds of 3,000 events
 *   npm run bench:cluster -- --quick   # scale: 1 round of 300; replicaAcks: 3 rounds of 600
 */
import os from 'node:os';
import { UserEventPublisher, createLogger } from '../src/index.js';
import { connectCluster, type Cluster } from '../src/redis.js';
import { startRedisCluster } from '../test/helpers/redis-cluster.js';
import { runScale, type Setup } from './cluster-scale.js';
import { envInt, quietly, type Deadline } from './common.js';
import {
  fmt,
  interleaved,
  markdownTable,
  percentile,
  result,
  summaryLine,
  type BenchResult,
} from './harness/measure.js';
import { PREFIX, inParallel, startRig } from './harness/rig.js';
import {
  clusterStore,
  cpuMsByMaster,
  describeMasters,
  flushStore,
  perMasterDelta,
  type Store,
} from './harness/store.js';
import { SOURCE, makeEvents, targetNames, userSyncConfig } from './harness/workload.js';

const PARTITIONS = 12;

interface Figures {
  perSec: number;
  p50: number;
  p99: number;
}

async function publishRound(
  store: Store,
  deadline: Deadline,
  replicaAcks: number,
  n: number,
): Promise<Figures> {
  await flushStore(store);
  const config = userSyncConfig({
    prefix: PREFIX,
    targets: targetNames(3),
    kind: 'http',
    partitions: PARTITIONS,
    replicaAcks,
  });
  const publisher = new UserEventPublisher(store.connection, SOURCE, {
    config,
    logger: createLogger({ silent: true }),
  });
  const events = makeEvents(n + 1);
  // One untimed publish: the deployment check and script loading are not per event.
  await publisher.publishUserCreated((events[0] as (typeof events)[number]).user, {
    id: events[0]?.id as string,
  });
  const latencies: number[] = [];
  const started = performance.now();
  await inParallel(deadline, n, 32, async (i) => {
    const event = events[i + 1] as (typeof events)[number];
    const at = performance.now();
    await publisher.publishUserCreated(event.user, { id: event.id });
    latencies.push(performance.now() - at);
  });
  const seconds = (performance.now() - started) / 1000;
  return { perSec: n / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

/** Each master's CPU while nothing but the rig's idle connections is running: ms per second over `ms`. */
async function idleCpu(store: Store, ms: number): Promise<string> {
  const before = await cpuMsByMaster(store);
  await new Promise((resolve) => setTimeout(resolve, ms));
  const delta = perMasterDelta(await cpuMsByMaster(store), before);
  return [...delta].map(([name, cpu]) => `${name} ${fmt(cpu / (ms / 1000))}`).join(', ');
}

/** The cluster client, once it knows all `masters` (slots refreshed), within 30 s. */
async function connected(client: Cluster, masters: number): Promise<void> {
  const until = Date.now() + 30_000;
  await client.ping();
  while (client.nodes('master').length < masters) {
    if (Date.now() > until)
      throw new Error(`the cluster client knows ${client.nodes('master').length} masters, not ${masters}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const rounds = quick ? 3 : 5;
  const n = quick ? 600 : 3_000;
  const scaleRounds = quick ? 1 : 5;
  const users = quick ? 300 : 2_000;
  const rig = await startRig(quick, envInt('BENCH_TIMEOUT_MS', quick ? 120_000 : 600_000), 4);
  const { deadline } = rig;
  const cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
  const client = connectCluster(cluster.startupNodes);
  let failed = false;
  const results: BenchResult[] = [];
  try {
    await deadline.bounded(cluster.waitForHealthy());
    await deadline.bounded(connected(client, 3));
    const onCluster = clusterStore(client, cluster.nodesEnv, PARTITIONS);
    const setups: Setup[] = [
      { label: 'Redis, partitions 1', store: rig.store },
      { label: `Redis, partitions ${PARTITIONS}`, store: { ...rig.store, partitions: PARTITIONS } },
      { label: `cluster, partitions ${PARTITIONS}`, store: onCluster },
    ];
    const load = os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');
    console.log(
      `user-sync on Redis Cluster${quick ? ' (quick)' : ''}: node ${process.version}, redis ${rig.redis.version}, ` +
        `${os.cpus().length} cores, load ${load}; cluster of 3 masters + 3 replicas on loopback ` +
        `(${describeMasters(onCluster)}; the deployment-wide keys, ${PREFIX}, on ${onCluster.masterOf(PREFIX)}), ` +
        `single Redis ${rig.redis.url}`,
    );
    console.log(
      `idle Redis CPU, ms per s: single ${await idleCpu(rig.store, 2_000)}; cluster ${await idleCpu(onCluster, 2_000)}`,
    );
    console.log(
      `scale: ${users} users × 1 HTTP target per run, one event per user, 32 publishes in flight, ` +
        `concurrency 16 per process, ${scaleRounds} round(s)`,
    );
    const scale = await runScale(rig, setups, scaleRounds, users);
    results.push(...scale.results);
    console.log(
      `replicaAcks: ${n} events × 3 targets per round, partitions ${PARTITIONS}, 32 in flight, ${rounds} rounds; ` +
        'user-sync = replicaAcks 1, baseline = replicaAcks 0:',
    );
    const runs = await interleaved(
      rounds,
      () => publishRound(onCluster, deadline, 1, n),
      () => publishRound(onCluster, deadline, 0, n),
    );
    const pick = (f: (x: Figures) => number) => ({
      project: runs.project.map(f),
      baseline: runs.baseline.map(f),
    });
    const acks = [
      result(
        'cluster publish, replicaAcks 1 vs 0',
        'events/s',
        pick((x) => x.perSec),
      ),
      result(
        'cluster publish latency p50, replicaAcks 1 vs 0',
        'ms',
        pick((x) => x.p50),
      ),
      result(
        'cluster publish latency p99, replicaAcks 1 vs 0',
        'ms',
        pick((x) => x.p99),
      ),
    ];
    results.push(...acks);
    console.log(`\n${[...scale.tables, markdownTable(acks)].join('\n\n')}\n`);
  } catch (error) {
    failed = true;
    console.error(`\nbenchmark failed: ${(error as Error).stack ?? String(error)}`);
  } finally {
    await quietly('cluster client quit', () => client.quit());
    await quietly('cluster stop', () => cluster.stop());
    await quietly('rig close', () => rig.close());
  }
  console.log(summaryLine('user-sync-cluster', quick, results));
  if (failed) process.exit(1);
}

await main();
