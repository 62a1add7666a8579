import type { Redis } from '../redis.js';
import type { Keys } from './names.js';

/** Counters of one target. */
export interface TargetStats {
  delivered: number;
  superseded: number;
  retried: number;
  dead: number;
  replayed: number;
  /** Dead letters trimmed by deadLetterRetention or maxDeadLetters (their users left for the sweep). */
  trimmed: number;
}

/** `getStats()`: the Go package's figures, plus per-target counters. Kept in Redis. */
export interface SyncStats {
  total_tasks: number;
  completed_tasks: number;
  failed_tasks: number;
  retry_tasks: number;
  by_target: Record<string, TargetStats>;
}

/** The stats field counting a target's trimmed dead letters. */
export const TRIMMED_FIELD = 'dead_letters_trimmed';

export const TARGET_COUNTERS = ['delivered', 'superseded', 'retried', 'dead', 'replayed'] as const;
export type TargetCounter = (typeof TARGET_COUNTERS)[number];

/** Global counter that moves with each target counter ('' for none). */
export const GLOBAL_COUNTER: Record<TargetCounter, string> = {
  delivered: 'completed_tasks',
  superseded: 'completed_tasks',
  retried: 'retry_tasks',
  dead: 'failed_tasks',
  replayed: '',
};

const count = (value: string | undefined) => (value ? Number(value) : 0);

/** Reads every counter in one round trip. */
export async function readStats(redis: Redis, keys: Keys, targets: readonly string[]): Promise<SyncStats> {
  const pipeline = redis.pipeline().hgetall(keys.stats);
  for (const target of targets) pipeline.hgetall(keys.targetStats(target));
  const results = (await pipeline.exec()) ?? [];
  const rows = results.map(([error, value]) => {
    if (error) throw error;
    return (value ?? {}) as Record<string, string>;
  });
  const global = rows[0] ?? {};
  const by_target: Record<string, TargetStats> = {};
  targets.forEach((target, i) => {
    const row = rows[i + 1] ?? {};
    by_target[target] = {
      ...(Object.fromEntries(TARGET_COUNTERS.map((c) => [c, count(row[c])])) as Omit<TargetStats, 'trimmed'>),
      trimmed: count(row[TRIMMED_FIELD]),
    };
  });
  return {
    total_tasks: count(global.total_tasks),
    completed_tasks: count(global.completed_tasks),
    failed_tasks: count(global.failed_tasks),
    retry_tasks: count(global.retry_tasks),
    by_target,
  };
}

/** Adds to one target counter and its global twin. */
export async function bumpCounter(
  redis: Redis,
  keys: Keys,
  target: string,
  counter: TargetCounter,
  by = 1,
): Promise<void> {
  const pipeline = redis.multi().hincrby(keys.targetStats(target), counter, by);
  const global = GLOBAL_COUNTER[counter];
  if (global) pipeline.hincrby(keys.stats, global, by);
  await pipeline.exec();
}

/** Upper bounds (ms) of the delivery latency histogram's buckets: publish to delivered. */
export const LATENCY_BUCKETS_MS = [
  10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000,
] as const;

/** The histogram field a latency falls in: `le_<bound>` of the first bound not below it, else `le_inf`. */
export function latencyBucket(ms: number): string {
  const bound = LATENCY_BUCKETS_MS.find((b) => ms <= b);
  return bound === undefined ? 'le_inf' : `le_${bound}`;
}

/** A target's latency histogram, buckets cumulative as Prometheus wants them. */
export interface LatencyHistogram {
  /** [upper bound in ms (Infinity last), deliveries at or under it] */
  buckets: Array<[number, number]>;
  count: number;
  sumMs: number;
}

/** Reads the latency histograms of the targets in one round trip. */
export async function readLatency(
  redis: Redis,
  keys: Keys,
  targets: readonly string[],
): Promise<Record<string, LatencyHistogram>> {
  const pipeline = redis.pipeline();
  for (const target of targets) pipeline.hgetall(keys.latency(target));
  const results = (await pipeline.exec()) ?? [];
  const out: Record<string, LatencyHistogram> = {};
  targets.forEach((target, i) => {
    const [error, value] = results[i] ?? [null, {}];
    if (error) throw error;
    const row = (value ?? {}) as Record<string, string>;
    let cumulative = 0;
    const buckets: Array<[number, number]> = [];
    for (const bound of LATENCY_BUCKETS_MS) {
      cumulative += count(row[`le_${bound}`]);
      buckets.push([bound, cumulative]);
    }
    cumulative += count(row.le_inf);
    buckets.push([Infinity, cumulative]);
    out[target] = { buckets, count: count(row.count), sumMs: count(row.sum_ms) };
  });
  return out;
}
