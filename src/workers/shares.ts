/**
 * How a target's settings divide among its partitions' workers, so that they mean with many
 * partitions what they mean with one. Pure.
 */

/**
 * Concurrency per partition worker of one target in one process: `workers` spread over the
 * process's partitions as evenly as whole numbers allow, at least 1 each (so the process's total
 * is `workers`, or the number of its partitions when that is larger).
 */
export function concurrencyShares(workers: number, partitions: number): number[] {
  const base = Math.floor(workers / partitions);
  const extra = workers % partitions;
  return Array.from({ length: partitions }, (_, i) => Math.max(1, base + (i < extra ? 1 : 0)));
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
