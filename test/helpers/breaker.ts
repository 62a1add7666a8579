/** Opening a target's circuit breaker the way workers do: failed attempts reported over time. */
import type { Redis } from 'ioredis';
import type { CircuitBreakerConfig } from '../../src/config/breaker.js';
import { STREAK_MIN_MS, reportAttempts } from '../../src/jobs/breaker-scripts.js';

/**
 * Reports `consecutiveFailures` failed attempts in a row, the first STREAK_MIN_MS ago (a streak
 * must last that long): the breaker at `key` opens now, its reason naming `code`.
 */
export async function openBreaker(
  redis: Redis,
  key: string,
  settings: CircuitBreakerConfig,
  code = 'http_503',
): Promise<void> {
  const now = Date.now();
  const first = Math.max(1, settings.consecutiveFailures - 1);
  await reportAttempts(
    redis,
    key,
    { now: now - STREAK_MIN_MS, ok: 0, failed: first, trailing: first, code },
    settings,
  );
  const { record } = await reportAttempts(redis, key, { now, ok: 0, failed: 1, trailing: 1, code }, settings);
  if (record.state !== 'open') throw new Error(`the breaker at ${key} did not open`);
}
