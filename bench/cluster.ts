/**
 * What `replicaAcks` costs on Redis Cluster: publishes/s and per-publish latency (call →
 * resolved) with `replicaAcks: 1` (each publish WAITs for a replica of its partition's master)
 * against `replicaAcks: 0`, in the same run, on a private loopback cluster of 3 masters and 3
 * replicas (test/helpers/redis-cluster.ts, no persistence), `partitions: 6`, 3 targets, ~200-byte
 * snapshots, 32 publishes in flight, no workers running. Rounds alternate the two settings;
 * every round starts on flushed masters. Ends with one JSON summary line.
 *
 *   npm run bench:cluster              # 5 rounds of 3,000 events each
 *   npm run bench:cluster -- --quick   # 3 rounds of 600
 */
import os from 'node:os';
import { UserEventPublisher, createLogger } from '../src/index.js';
import { connectCluster, type Cluster } from '../src/redis.js';
import { startRedisCluster } from '../test/helpers/redis-cluster.js';
import { envInt, quietly, startDeadline, type Deadline } from './common.js';
import {
  interleaved,
  markdownTable,
  percentile,
  result,
  summaryLine,
  type BenchResult,
} from './harness/measure.js';
import { PREFIX, inParallel } from './harness/rig.js';
import { SOURCE, makeEvents, targetNames, userSyncConfig } from './harness/workload.js';

const PARTITIONS = 6;

interface Figures {
  perSec: number;
  p50: number;
  p99: number;
}

async function publishRound(
  client: Cluster,
  deadline: Deadline,
  replicaAcks: number,
  n: number,
): Promise<Figures> {
  await Promise.all(client.nodes('master').map((node) => node.flushall()));
  const config = userSyncConfig({
    prefix: PREFIX,
    targets: targetNames(3),
    kind: 'http',
    partitions: PARTITIONS,
    replicaAcks,
  });
  const publisher = new UserEventPublisher(client, SOURCE, {
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

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const rounds = quick ? 3 : 5;
  const n = quick ? 600 : 3_000;
  const deadline = startDeadline(envInt('BENCH_TIMEOUT_MS', quick ? 120_000 : 600_000));
  const cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
  const client = connectCluster(cluster.startupNodes);
  let failed = false;
  const results: BenchResult[] = [];
  try {
    await cluster.waitForHealthy();
    console.log(
      `replicaAcks on Redis Cluster: 3 masters + 3 replicas on loopback, partitions ${PARTITIONS}, ` +
        `${n} events × 3 targets per round, 32 in flight, ${rounds} rounds; node ${process.version}, ` +
        `${os.cpus().length} cores, load ${os
          .loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')}`,
    );
    const runs = await interleaved(
      rounds,
      () => publishRound(client, deadline, 1, n),
      () => publishRound(client, deadline, 0, n),
    );
    const pick = (f: (x: Figures) => number) => ({
      project: runs.project.map(f),
      baseline: runs.baseline.map(f),
    });
    console.log('user-sync = replicaAcks 1, baseline = replicaAcks 0:');
    results.push(
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
    );
    if (process.argv.includes('--markdown')) console.log(`\n${markdownTable(results)}\n`);
  } catch (error) {
    failed = true;
    console.error(`\nbenchmark failed: ${(error as Error).stack ?? String(error)}`);
  } finally {
    deadline.clear();
    await quietly('cluster client quit', () => client.quit());
    await quietly('cluster stop', () => cluster.stop());
  }
  console.log(summaryLine('user-sync-cluster', quick, results));
  if (failed) process.exit(1);
}

await main();
