import type { Redis } from '../redis.js';
import type { Keys, Keyspace } from './names.js';

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

/** A hash's fields, or {} (a reply of a pipeline). */
function rowsOf(results: Array<[Error | null, unknown]> | null): Array<Record<string, string>> {
  return (results ?? []).map(([error, value]) => {
    if (error) throw error;
    return (value ?? {}) as Record<string, string>;
  });
}

/**
 * Reads every counter: one round trip per partition (a partition's keys share a slot), in
 * parallel, summed; plus the deployment's own counters of each target (dead letters trimmed).
 */
export async function readStats(
  redis: Redis,
  keyspace: Keyspace,
  targets: readonly string[],
): Promise<SyncStats> {
  const stats: SyncStats = {
    total_tasks: 0,
    completed_tasks: 0,
    failed_tasks: 0,
    retry_tasks: 0,
    by_target: {},
  };
  for (const target of targets) {
    stats.by_target[target] = { delivered: 0, superseded: 0, retried: 0, dead: 0, replayed: 0, trimmed: 0 };
  }
  const read = async (prefixKeys: { stats?: string; targetStats: (target: string) => string }) => {
    const pipeline = redis.pipeline();
    if (prefixKeys.stats) pipeline.hgetall(prefixKeys.stats);
    for (const target of targets) pipeline.hgetall(prefixKeys.targetStats(target));
    const rows = rowsOf(await pipeline.exec());
    const global = prefixKeys.stats ? (rows.shift() ?? {}) : {};
    stats.total_tasks += count(global.total_tasks);
    stats.completed_tasks += count(global.completed_tasks);
    stats.failed_tasks += count(global.failed_tasks);
    stats.retry_tasks += count(global.retry_tasks);
    targets.forEach((target, i) => {
      const row = rows[i] ?? {};
      const sum = stats.by_target[target] as TargetStats;
      for (const c of TARGET_COUNTERS) sum[c] += count(row[c]);
      sum.trimmed += count(row[TRIMMED_FIELD]);
    });
  };
  const partitions = keyspace.all();
  // With one partition the deployment's keys are that partition's: read them once.
  const own = partitions.some((keys) => keys.prefix === keyspace.deployment.prefix)
    ? []
    : [keyspace.deployment];
  await Promise.all([...partitions.map(read), ...own.map((keys) => read({ targetStats: keys.targetStats }))]);
  return stats;
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

/** Reads the latency histograms of the targets, summed over partitions (a round trip each, in parallel). */
export async function readLatency(
  redis: Redis,
  keyspace: Keyspace,
  targets: readonly string[],
): Promise<Record<string, LatencyHistogram>> {
  const perPartition = await Promise.all(
    keyspace.all().map(async (keys) => {
      const pipeline = redis.pipeline();
      for (const target of targets) pipeline.hgetall(keys.latency(target));
      return rowsOf(await pipeline.exec());
    }),
  );
  const out: Record<string, LatencyHistogram> = {};
  targets.forEach((target, i) => {
    const field = (name: string) => perPartition.reduce((sum, rows) => sum + count(rows[i]?.[name]), 0);
    let cumulative = 0;
    const buckets: Array<[number, number]> = [];
    for (const bound of LATENCY_BUCKETS_MS) {
      cumulative += field(`le_${bound}`);
      buckets.push([bound, cumulative]);
    }
    cumulative += field('le_inf');
    buckets.push([Infinity, cumulative]);
    out[target] = { buckets, count: field('count'), sumMs: field('sum_ms') };
  });
  return out;
}

/**
 * The `q` quantile (0 to 1) of a latency histogram in ms, as Prometheus' `histogram_quantile`
 * estimates it: the bucket holding the rank `q × count`, interpolated linearly between its
 * bounds (the first bucket starts at 0). A rank in the `+Inf` bucket gives the highest finite
 * bound, a floor rather than an estimate. Null when nothing was counted. Accurate to a bucket's
 * width only: `LATENCY_BUCKETS_MS` are the bounds. Pure.
 */
export function latencyQuantile(histogram: LatencyHistogram, q: number): number | null {
  const count = histogram.count;
  if (!(count > 0) || !(q >= 0 && q <= 1)) return null;
  const rank = q * count;
  let lower = 0;
  let below = 0;
  for (const [bound, cumulative] of histogram.buckets) {
    if (cumulative >= rank && cumulative > below) {
      if (bound === Infinity) return lower;
      return lower + ((bound - lower) * (rank - below)) / (cumulative - below);
    }
    if (bound !== Infinity) lower = bound;
    below = Math.max(below, cumulative);
  }
  return lower;
}
