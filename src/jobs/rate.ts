/**
 * Deliveries per minute, for the overview's "last hour" chart.
 *
 * The counters since the deployment began (stats.ts) cannot say how many deliveries a target
 * took in a given minute, and BullMQ's completed jobs are trimmed by `completedRetention`. So
 * the script that counts a delivery (DELIVERY_STEPS, delivery-steps.ts) also adds 1 to the
 * minute's field of a small hash per (target, partition, hour): `rate:<target>:<hour since the epoch>`,
 * field = minute of that hour (0-59). That is two more commands in a script that runs anyway
 * (HINCRBY, EXPIRE), no extra round trip, in the partition's slot. The hash expires
 * `RATE_TTL_SECONDS` after its last write, so at most three hashes of at most 60 small fields
 * live per (target, partition). The minute is the worker's clock when the delivery finished.
 */
import type { Redis } from '../redis.js';
import type { Keyspace } from './names.js';

const MINUTE_MS = 60_000;
const MINUTES_PER_HOUR = 60;

/** Minutes the overview charts. */
export const RATE_WINDOW_MINUTES = 60;

/** How long an hour's hash lives after its last write: the hour after it still reads it. */
export const RATE_TTL_SECONDS = 2 * 60 * 60;

/** Where a moment (ms) is counted: its hour since the epoch, and its minute of that hour. */
export function rateSlot(ms: number): { hour: number; minute: number } {
  const minutes = Math.floor(ms / MINUTE_MS);
  return { hour: Math.floor(minutes / MINUTES_PER_HOUR), minute: minutes % MINUTES_PER_HOUR };
}

/**
 * The `minutes` minutes up to and including the one `now` falls in, oldest first, as slots, and
 * the hours they lie in (at most two for 60 minutes).
 */
export function rateWindow(
  now: number,
  minutes = RATE_WINDOW_MINUTES,
): { slots: Array<{ hour: number; minute: number }>; hours: number[] } {
  const last = Math.floor(now / MINUTE_MS);
  const slots = Array.from({ length: minutes }, (_, i) => rateSlot((last - minutes + 1 + i) * MINUTE_MS));
  const hours = [...new Set(slots.map((s) => s.hour))];
  return { slots, hours };
}

/**
 * Deliveries per minute of each target over the last `minutes` minutes (oldest first, the last
 * entry being the current, unfinished minute), summed over partitions: one pipeline per
 * partition (its keys share a slot), in parallel. A field that is not a whole number counts 0.
 */
export async function readDeliveryRates(
  redis: Redis,
  keyspace: Keyspace,
  targets: readonly string[],
  now: number,
  minutes = RATE_WINDOW_MINUTES,
): Promise<Record<string, number[]>> {
  const { slots, hours } = rateWindow(now, minutes);
  const out: Record<string, number[]> = {};
  for (const target of targets) out[target] = slots.map(() => 0);
  await Promise.all(
    keyspace.all().map(async (keys) => {
      const pipeline = redis.pipeline();
      for (const target of targets)
        for (const hour of hours) pipeline.hgetall(keys.deliveryRate(target, hour));
      const replies = (await pipeline.exec()) ?? [];
      targets.forEach((target, t) => {
        const byHour = new Map<number, Record<string, string>>();
        hours.forEach((hour, h) => {
          const [error, value] = replies[t * hours.length + h] ?? [null, {}];
          if (error) throw error;
          byHour.set(hour, (value ?? {}) as Record<string, string>);
        });
        const sums = out[target] as number[];
        slots.forEach(({ hour, minute }, i) => {
          const n = Number(byHour.get(hour)?.[String(minute)] ?? 0);
          if (Number.isSafeInteger(n) && n > 0) sums[i] = (sums[i] as number) + n;
        });
      });
    }),
  );
  return out;
}
