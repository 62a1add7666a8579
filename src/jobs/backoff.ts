import { DeliveryError } from '../errors.js';

/** Exponential backoff settings, from `retryInterval` and `maxRetryInterval`. */
export interface BackoffPolicy {
  /** Delay before the first retry, before jitter. */
  baseMs: number;
  /** No delay exceeds this, before jitter. */
  capMs: number;
}

/**
 * Delay before the next attempt after `failures` failed attempts (1 for the first failure):
 * `min(cap, base * 2^(failures-1))`, with "equal jitter" — half of it fixed, half random —
 * so that retries of many deliveries that failed together spread out.
 */
export function backoffDelay(
  failures: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  // Not a count at all (NaN): treat it as the first failure; +Infinity ends at the cap.
  const n = Number.isNaN(failures) ? 1 : Math.max(1, Math.floor(failures));
  // 2 ** 60 is already far beyond any cap; clamping the exponent keeps the arithmetic finite.
  const exponential = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(n - 1, 60));
  const half = exponential / 2;
  return Math.round(half + random() * half);
}

/**
 * Delay before the next attempt: the target's `Retry-After` when it sent one (already bounded
 * by `retryAfterMax` when parsed), else the exponential backoff.
 */
export function retryDelay(
  failures: number,
  policy: BackoffPolicy,
  error: unknown,
  random: () => number = Math.random,
): number {
  if (error instanceof DeliveryError && error.retryAfterMs !== undefined)
    return Math.max(0, error.retryAfterMs);
  return backoffDelay(failures, policy, random);
}
