import { describe, expect, it } from '@jest/globals';
import { LATENCY_BUCKETS_MS, latencyBucket } from '../../src/jobs/stats.js';
import { DeliveryError } from '../../src/errors.js';
import { backoffDelay, retryDelay, type BackoffPolicy } from '../../src/jobs/backoff.js';

const POLICY: BackoffPolicy = { baseMs: 1_000, capMs: 60_000 };
const fixed = (value: number) => () => value;

/** The delay before jitter: min(cap, base * 2^(failures-1)). */
const EXPONENTIAL: Array<[number, number]> = [
  [1, 1_000],
  [2, 2_000],
  [3, 4_000],
  [4, 8_000],
  [5, 16_000],
  [6, 32_000],
  [7, 60_000], // 64_000 capped
  [8, 60_000],
  [20, 60_000],
];

describe('backoffDelay', () => {
  describe.each(EXPONENTIAL)('after failure %d (delay %d ms before jitter)', (failures, delay) => {
    it('is half the delay with random() = 0', () => {
      expect(backoffDelay(failures, POLICY, fixed(0))).toBe(delay / 2);
    });

    it('is three quarters of the delay with random() = 0.5', () => {
      expect(backoffDelay(failures, POLICY, fixed(0.5))).toBe((delay * 3) / 4);
    });

    it('is the whole delay with random() = 1', () => {
      expect(backoffDelay(failures, POLICY, fixed(1))).toBe(delay);
    });
  });

  it('matches the documented values for the default retryInterval (5s) and cap (10m)', () => {
    const policy = { baseMs: 5_000, capMs: 600_000 };
    const full = [1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => backoffDelay(n, policy, fixed(1)));
    expect(full).toEqual([5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 320_000, 600_000, 600_000]);
    const low = [1, 2, 3].map((n) => backoffDelay(n, policy, fixed(0)));
    expect(low).toEqual([2_500, 5_000, 10_000]);
  });

  it('doubles with every failure until the cap', () => {
    const policy = { baseMs: 100, capMs: 100 * 2 ** 20 };
    for (const r of [0, 0.5, 1]) {
      for (let n = 1; n <= 20; n++) {
        expect(backoffDelay(n + 1, policy, fixed(r))).toBe(2 * backoffDelay(n, policy, fixed(r)));
      }
      expect(backoffDelay(22, policy, fixed(r))).toBe(backoffDelay(21, policy, fixed(r)));
    }
  });

  it('never decreases as failures grow', () => {
    let previous = 0;
    for (let n = 1; n <= 200; n++) {
      const d = backoffDelay(n, POLICY, fixed(1));
      expect(d).toBeGreaterThanOrEqual(previous);
      previous = d;
    }
  });

  it.each([64, 65, 100, 1_000, 1e6, 1e9, 2 ** 31, Number.MAX_SAFE_INTEGER, Number.MAX_VALUE, Infinity])(
    'stays finite and at the cap after %p failures',
    (failures) => {
      expect(backoffDelay(failures, POLICY, fixed(1))).toBe(POLICY.capMs);
      expect(backoffDelay(failures, POLICY, fixed(0))).toBe(POLICY.capMs / 2);
      const d = backoffDelay(failures, POLICY, fixed(0.5));
      expect(Number.isFinite(d)).toBe(true);
      expect(d).toBe(45_000);
    },
  );

  it('stays finite with a huge base and cap', () => {
    const policy = { baseMs: 1e300, capMs: Number.MAX_SAFE_INTEGER };
    const d = backoffDelay(1e6, policy, fixed(1));
    expect(Number.isFinite(d)).toBe(true);
    expect(d).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('honours a cap below the base', () => {
    expect(backoffDelay(1, { baseMs: 10_000, capMs: 3_000 }, fixed(1))).toBe(3_000);
    expect(backoffDelay(1, { baseMs: 10_000, capMs: 3_000 }, fixed(0))).toBe(1_500);
  });

  it.each([0, -1, -1e9, 0.5, 0.999])('treats %p failures as the first', (failures) => {
    expect(backoffDelay(failures, POLICY, fixed(1))).toBe(1_000);
  });

  it('rounds fractional failure counts down', () => {
    expect(backoffDelay(2.9, POLICY, fixed(1))).toBe(2_000);
    expect(backoffDelay(3.1, POLICY, fixed(1))).toBe(4_000);
  });

  it('returns whole milliseconds', () => {
    const policy = { baseMs: 3, capMs: 1_000 };
    for (const r of [0, 0.1, 0.33, 0.5, 0.77, 1]) {
      for (let n = 1; n < 12; n++) expect(Number.isInteger(backoffDelay(n, policy, fixed(r)))).toBe(true);
    }
    expect(backoffDelay(1, policy, fixed(0))).toBe(2); // 1.5 rounds up
  });

  it('keeps jitter within [d/2, d] for any random value', () => {
    for (const [failures, delay] of EXPONENTIAL) {
      for (let i = 0; i <= 100; i++) {
        const d = backoffDelay(failures, POLICY, fixed(i / 100));
        expect(d).toBeGreaterThanOrEqual(delay / 2);
        expect(d).toBeLessThanOrEqual(delay);
      }
    }
  });

  it('is linear in the random value', () => {
    expect(backoffDelay(3, POLICY, fixed(0.25))).toBe(2_500);
    expect(backoffDelay(3, POLICY, fixed(0.75))).toBe(3_500);
  });

  it('calls the random source once per delay', () => {
    let calls = 0;
    backoffDelay(3, POLICY, () => {
      calls++;
      return 0.5;
    });
    expect(calls).toBe(1);
  });

  it('uses Math.random by default, within [d/2, d]', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 500; i++) {
      const d = backoffDelay(4, POLICY);
      expect(d).toBeGreaterThanOrEqual(4_000);
      expect(d).toBeLessThanOrEqual(8_000);
      seen.add(d);
    }
    expect(seen.size).toBeGreaterThan(1);
  });

  // Regression test for a fixed bug (src/jobs/backoff.ts, backoffDelay, line 21): `Math.max(1, Math.floor(failures))` is NaN when failures is NaN
  // (Math.max propagates NaN), so the delay is NaN. BullMQ always passes a number today, so this
  // is defensive (low severity), but the function promises a finite delay "after failures failed
  // attempts". Suggested fix: `const n = Number.isFinite(failures) ? Math.max(1, Math.floor(failures))
  // : failures > 0 ? Infinity : 1;` (or treat NaN as 1).
  it('returns a finite delay when failures is NaN', () => {
    expect(Number.isFinite(backoffDelay(Number.NaN, POLICY, fixed(1)))).toBe(true);
  });
});

describe('retryDelay', () => {
  const retryable = (retryAfterMs?: number) =>
    new DeliveryError('HTTP 503', {
      retryable: true,
      status: 503,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });

  it.each([0, 1, 1_500, 120_000, 3_600_000])('uses retryAfterMs %d when the target sent one', (ms) => {
    for (const failures of [1, 2, 10]) {
      for (const r of [0, 0.5, 1]) expect(retryDelay(failures, POLICY, retryable(ms), fixed(r))).toBe(ms);
    }
  });

  it('uses retryAfterMs beyond the backoff cap as it is (bounded when parsed)', () => {
    expect(retryDelay(1, POLICY, retryable(POLICY.capMs * 10), fixed(1))).toBe(POLICY.capMs * 10);
  });

  it('never returns a negative delay', () => {
    expect(retryDelay(1, POLICY, retryable(-5_000), fixed(1))).toBe(0);
  });

  it('does not call the random source when retryAfterMs decides', () => {
    let calls = 0;
    retryDelay(1, POLICY, retryable(10), () => {
      calls++;
      return 1;
    });
    expect(calls).toBe(0);
  });

  it('falls back to the backoff when a DeliveryError has no retryAfterMs', () => {
    for (const [failures] of EXPONENTIAL) {
      for (const r of [0, 0.5, 1]) {
        expect(retryDelay(failures, POLICY, retryable(), fixed(r))).toBe(
          backoffDelay(failures, POLICY, fixed(r)),
        );
      }
    }
  });

  it('uses retryAfterMs on a non-retryable DeliveryError too', () => {
    const error = new DeliveryError('HTTP 429', { retryable: false, retryAfterMs: 7 });
    expect(retryDelay(1, POLICY, error, fixed(1))).toBe(7);
  });

  it.each([
    ['a plain Error', new Error('boom')],
    ['an Error with a retryAfterMs property', Object.assign(new Error('x'), { retryAfterMs: 5 })],
    ['an object with retryAfterMs', { retryAfterMs: 5 }],
    ['a string', 'boom'],
    ['undefined', undefined],
    ['null', null],
  ])('falls back to the backoff for %s', (_name, error) => {
    expect(retryDelay(3, POLICY, error, fixed(0))).toBe(2_000);
    expect(retryDelay(3, POLICY, error, fixed(1))).toBe(4_000);
  });
});

describe('latencyBucket', () => {
  it.each([
    [0, 'le_10'],
    [10, 'le_10'],
    [11, 'le_25'],
    [999, 'le_1000'],
    [1000, 'le_1000'],
    [300_000, 'le_300000'],
    [300_001, 'le_inf'],
  ])('puts %d ms in %s', (ms, field) => {
    expect(latencyBucket(ms)).toBe(field);
  });

  it('has a field for every bound, in increasing order', () => {
    expect([...LATENCY_BUCKETS_MS].sort((a, b) => a - b)).toEqual([...LATENCY_BUCKETS_MS]);
    for (const bound of LATENCY_BUCKETS_MS) expect(latencyBucket(bound)).toBe(`le_${bound}`);
  });
});
