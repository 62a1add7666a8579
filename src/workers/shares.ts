/**
 * How a target's settings divide among its partitions' workers, so that they mean with many
 * partitions what they mean with one. Pure.
 */

/**
 * Concurrency per partition worker of one target in one process: `workers` spread over the
 * process's partitions as evenly as whole numbers allow, at least 1 each (so the process's total
 * is `workers`, or the number of its partitions when that is larger). The extra ones (when
 * `workers` is not a multiple) are spaced evenly over the partitions, not given to the first:
 * partitions lie in order along the slot range, so the first ones share a Redis Cluster master.
 */
export function concurrencyShares(workers: number, partitions: number): number[] {
  const base = Math.floor(workers / partitions);
  const extra = workers % partitions;
  const getsExtra = (i: number) =>
    Math.floor(((i + 1) * extra) / partitions) > Math.floor((i * extra) / partitions);
  return Array.from({ length: partitions }, (_, i) => Math.max(1, base + (getsExtra(i) ? 1 : 0)));
}

/**
 * The limiter of each partition's queue of a target whose rate limit is `max` per `duration` ms
 * across the deployment. BullMQ limits each queue; with P partitions each gets `max / P` (rounded
 * down) per duration — or, when `max` is below P, one per `duration × P / max` — so that all of
 * them together never exceed the target's limit.
 */
export function partitionRateLimit(
  limit: { max: number; duration: number },
  partitions: number,
): { max: number; duration: number } {
  if (partitions <= 1) return { max: limit.max, duration: limit.duration };
  if (limit.max >= partitions) return { max: Math.floor(limit.max / partitions), duration: limit.duration };
  return { max: 1, duration: Math.ceil((limit.duration * partitions) / limit.max) };
}
