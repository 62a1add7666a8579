import type { Queue } from 'bullmq';
import type { Redis } from '../redis.js';

/** Job states the dashboard reports for a queue, as BullMQ names them in `getJobCounts`. */
export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed'] as const;
export type QueueState = (typeof QUEUE_STATES)[number];

/** Jobs of a queue per state, every state present. */
export async function readQueueCounts(queue: Queue): Promise<Record<QueueState, number>> {
  const counts = await queue.getJobCounts(...QUEUE_STATES);
  return Object.fromEntries(QUEUE_STATES.map((s) => [s, counts[s] ?? 0])) as Record<QueueState, number>;
}

/**
 * How long the oldest job in the wait list has existed, in ms (0 when the list is empty).
 *
 * BullMQ adds jobs at the head of the wait list (LPUSH; RPUSH only for `lifo` jobs and jobs put
 * back by a stalled worker, which go next) and workers take from the tail (RPOPLPUSH in
 * `moveToActive`), so the tail, index -1, is the job waiting longest. Its age counts from its
 * `timestamp`, when it was published (for a retried delivery, its first attempt's publish).
 */
export async function readOldestWaitingAgeMs(redis: Redis, queue: Queue, now: number): Promise<number> {
  const id = await redis.lindex(queue.toKey('wait'), -1);
  if (id === null) return 0;
  const timestamp = Number(await redis.hget(queue.toKey(id), 'timestamp'));
  return Number.isFinite(timestamp) && timestamp > 0 ? Math.max(0, now - timestamp) : 0;
}
