/**
 * What user-sync costs in Redis memory (INFO used_memory deltas on the private Redis, after
 * MEMORY PURGE), 3 HTTP targets, ~200-byte snapshots, one event per user:
 * - per queued delivery: everything a publish wrote (jobs, ledger, dedupe record, user index)
 *   divided by the deliveries queued; beside it, the raw BullMQ jobs alone (`Queue.addBulk`);
 * - once delivered (1 worker process), the queues' keys are deleted (retained completed jobs:
 *   BullMQ's bounded history, `removeOnComplete`), then the dedupe records (`:event:<id>`,
 *   kept for `dedupeWindow`): what is left, divided by the users, is a user at rest (ledger
 *   entry, user index, watermarks, stats); the step before it, the dedupe record per event.
 * Round trips, commands and CPU per publish and per delivery are reported by the publish and
 * delivery benchmarks.
 */
import type { Redis } from 'ioredis';
import { interleaved, result, type BenchResult } from './harness/measure.js';
import { usedMemory } from './harness/redis.js';
import { PREFIX, deliver, type DeliveryStage, type Rig, type Side } from './harness/rig.js';
import { deleteMatching } from './harness/store.js';
import { makeEvents, targetNames } from './harness/workload.js';

const TARGETS = targetNames(3);

interface Memory {
  queuedPerDelivery: number;
  retainedPerDelivery: number;
  dedupePerEvent: number;
  atRestPerUser: number;
}

/**
 * The keys of a Redis by kind (ids and numbers masked), with MEMORY USAGE per key: where the
 * bytes are, printed beside the totals.
 */
async function breakdown(redis: Redis): Promise<string[]> {
  const groups = new Map<string, { keys: number; bytes: number }>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'COUNT', 1000);
    cursor = next;
    const pipeline = redis.pipeline();
    for (const key of keys) pipeline.memory('USAGE', key);
    const sizes = (await pipeline.exec()) ?? [];
    keys.forEach((key, i) => {
      const kind = key.replace(/:[0-9a-f-]{36}(\.t\d+)?$/, ':<event id>$1').replace(/:\d+$/, ':<user id>');
      const group = groups.get(kind) ?? { keys: 0, bytes: 0 };
      group.keys++;
      group.bytes += Number(sizes[i]?.[1] ?? 0);
      groups.set(kind, group);
    });
  } while (cursor !== '0');
  return [...groups]
    .sort((a, b) => b[1].bytes - a[1].bytes)
    .slice(0, 8)
    .map(([kind, g]) => `${kind}: ${g.keys} keys, ${Math.round(g.bytes / g.keys)} B each (MEMORY USAGE)`);
}

async function measure(rig: Rig, side: Side, n: number, explain: boolean): Promise<Memory> {
  const redis = rig.redis.admin;
  const at: Partial<Record<DeliveryStage, number>> = {};
  const run = (events: number, probe?: (stage: DeliveryStage) => Promise<void>) =>
    deliver(rig, {
      side,
      kind: 'http',
      targets: TARGETS,
      events: makeEvents(events),
      processes: 1,
      concurrency: 16,
      mode: 'prefilled',
      ...(probe ? { probe } : {}),
    });
  // A small run first: every script both sides use is then loaded (FLUSHALL keeps them), so
  // their bodies are not counted as per-user memory.
  await run(20);
  await run(n, async (stage) => {
    if (stage !== 'empty' && stage !== 'queued') return;
    at[stage] = await usedMemory(redis);
    if (explain && stage === 'queued') {
      for (const line of await breakdown(redis)) console.log(`    ${side}, queued: ${line}`);
    }
  });
  const empty = at.empty as number;
  const delivered = await usedMemory(redis);
  const queuePattern = side === 'user-sync' ? `${PREFIX}:deliver.*` : `${PREFIX}:raw.*`;
  await deleteMatching(rig.store, queuePattern);
  const withoutQueues = await usedMemory(redis);
  await deleteMatching(rig.store, `${PREFIX}:event:*`);
  const atRest = await usedMemory(redis);
  if (explain) for (const line of await breakdown(redis)) console.log(`    ${side}, at rest: ${line}`);
  const deliveries = n * TARGETS.length;
  return {
    queuedPerDelivery: ((at.queued as number) - empty) / deliveries,
    retainedPerDelivery: (delivered - withoutQueues) / deliveries,
    dedupePerEvent: (withoutQueues - atRest) / n,
    atRestPerUser: (atRest - empty) / n,
  };
}

export async function runCost(rig: Rig): Promise<BenchResult[]> {
  const rounds = rig.quick ? 1 : 3;
  const n = rig.quick ? 300 : 5_000;
  console.log(`cost: Redis memory, ${n} users × 3 HTTP targets, ~200-byte snapshots, ${rounds} round(s)`);
  let explained = 0;
  const runs = await interleaved(
    rounds,
    () => measure(rig, 'user-sync', n, explained++ === 0),
    () => measure(rig, 'bullmq', n, false),
  );
  const pick = (f: (m: Memory) => number, baseline = true) => ({
    project: runs.project.map(f),
    baseline: baseline ? runs.baseline.map(f) : [],
  });
  return [
    result(
      'Redis bytes per queued delivery (ledger and dedupe included) vs a raw job',
      'B',
      pick((m) => m.queuedPerDelivery),
      {
        max: 1200,
      },
    ),
    result(
      'Redis bytes per retained completed delivery (BullMQ history)',
      'B',
      pick((m) => m.retainedPerDelivery),
    ),
    result(
      'Redis bytes per event in the dedupe window',
      'B',
      pick((m) => m.dedupePerEvent, false),
    ),
    result(
      'Redis bytes per user at rest (ledger, index, watermarks, stats)',
      'B',
      pick((m) => m.atRestPerUser, false),
      {
        max: 1024,
      },
    ),
  ];
}
