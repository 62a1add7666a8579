/**
 * The circuit breaker's settings (`circuitBreaker` in the config): when a target counts as down,
 * and how long its deliveries wait before one probe is tried. See src/breaker/.
 */
import { z } from 'zod';
import { positiveDuration } from './durations.js';

export const BREAKER_DEFAULTS = {
  enabled: true,
  consecutiveFailures: 5,
  failureRatio: 0.5,
  minAttempts: 20,
  window: 60_000,
  cooldown: 30_000,
  maxCooldown: 300_000,
} as const;

export const circuitBreakerSchema = z
  .strictObject({
    /** Off: every delivery is attempted, failures spend attempts and end as dead letters. */
    enabled: z.boolean().default(BREAKER_DEFAULTS.enabled),
    /** Opens after this many failed attempts in a row (across every worker process). */
    consecutiveFailures: z.number().int().min(1).max(10_000).default(BREAKER_DEFAULTS.consecutiveFailures),
    /** …or when this share of the attempts in `window` failed (0 < ratio ≤ 1)… */
    failureRatio: z
      .number()
      .gt(0, 'must be greater than 0')
      .max(1, 'must be at most 1')
      .default(BREAKER_DEFAULTS.failureRatio),
    /** …once the window holds at least this many attempts. */
    minAttempts: z.number().int().min(1).max(1_000_000).default(BREAKER_DEFAULTS.minAttempts),
    /** The span the failure ratio is taken over. */
    window: positiveDuration
      .refine((ms) => ms >= 6_000 && ms <= 3_600_000, 'must be from 6s to 1h')
      .default(BREAKER_DEFAULTS.window),
    /** How long an open breaker waits before its first probe. */
    cooldown: positiveDuration
      .refine((ms) => ms >= 100 && ms <= 86_400_000, 'must be from 100ms to 1d')
      .default(BREAKER_DEFAULTS.cooldown),
    /** Each failed probe doubles the wait, up to this. */
    maxCooldown: positiveDuration
      .refine((ms) => ms >= 100 && ms <= 86_400_000, 'must be from 100ms to 1d')
      .default(BREAKER_DEFAULTS.maxCooldown),
  })
  .refine((b) => b.maxCooldown >= b.cooldown, {
    message: 'must be at least cooldown',
    path: ['maxCooldown'],
  })
  .default({ ...BREAKER_DEFAULTS });

export type CircuitBreakerConfig = z.output<typeof circuitBreakerSchema>;
