import type { Queue } from 'bullmq';
import type { Redis } from '../redis.js';

/** Finished deliveries looked at for a target's success rate. */
export const RECENT_WINDOW = 100;

/**
 * A target's recent success rate: of its newest finished deliveries, the share that ended well.
 *
 * Why finished jobs rather than the counters of `getStats()`: the counters run since the
 * deployment began, so a target that started failing an hour ago after a million deliveries
 * would still show 99.9%. The queue's own finished jobs say how the latest deliveries ended:
 * `completed` jobs are delivered or superseded (both fine), `failed` jobs are dead. Retried
 * attempts are not failures here (the delivery may still succeed); the counters, shown beside
 * this as `stats`, have them.
 *
 * Completed jobs are kept `completedRetention` (default 1 h) and failed ones much longer, so only
 * jobs finished within the last `completedRetention` count: otherwise old failures would outweigh
 * deliveries whose completed jobs are already gone. With `completedRetention` 0 nothing is kept to
 * look at, and `rate` is null.
 */
export interface SuccessRate {
  /** Finished deliveries looked at: the newest, at most `RECENT_WINDOW`, within the retention. */
  window: number;
  /** Of those, delivered or superseded. */
  succeeded: number;
  /** Of those, dead. */
  failed: number;
  /** `succeeded / window`, 0 to 1; null when nothing finished in the period. */
  rate: number | null;
}

/**
 * The success rate from the finish times (ms) of completed and failed jobs, each list newest
 * first: merges them, keeps the newest `window`, and counts.
 */
export function successRate(
  completedAt: readonly number[],
  failedAt: readonly number[],
  window = RECENT_WINDOW,
): SuccessRate {
  let succeeded = 0;
  let failed = 0;
  let c = 0;
  let f = 0;
  while (succeeded + failed < window && (c < completedAt.length || f < failedAt.length)) {
    const nextCompleted = completedAt[c] ?? -Infinity;
    const nextFailed = failedAt[f] ?? -Infinity;
    if (nextCompleted >= nextFailed) {
      succeeded++;
      c++;
    } else {
      failed++;
      f++;
    }
  }
  const total = succeeded + failed;
  return { window: total, succeeded, failed, rate: total === 0 ? null : succeeded / total };
}

/** Finish times (ms) of a finished-jobs sorted set since `sinceMs`, newest first, at most `limit`. */
async function finishTimes(redis: Redis, key: string, sinceMs: number, limit: number): Promise<number[]> {
  const flat = await redis.zrevrangebyscore(key, '+inf', sinceMs, 'WITHSCORES', 'LIMIT', 0, limit);
  const times: number[] = [];
  for (let i = 1; i < flat.length; i += 2) times.push(Number(flat[i]));
  return times;
}

/** Reads a delivery queue's recent success rate (see SuccessRate). */
export async function readSuccessRate(
  redis: Redis,
  queue: Queue,
  now: number,
  retentionMs: number,
  window = RECENT_WINDOW,
): Promise<SuccessRate> {
  if (retentionMs <= 0) return successRate([], [], window);
  const since = now - retentionMs;
  const [completed, failed] = await Promise.all([
    finishTimes(redis, queue.toKey('completed'), since, window),
    finishTimes(redis, queue.toKey('failed'), since, window),
  ]);
  return successRate(completed, failed, window);
}
