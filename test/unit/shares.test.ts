import { describe, expect, it } from '@jest/globals';
import { concurrencyShares, partitionRateLimit } from '../../src/workers/shares.js';

describe('concurrencyShares', () => {
  it.each([
    [5, 1, [5]],
    [5, 2, [2, 3]],
    [8, 4, [2, 2, 2, 2]],
    [10, 4, [2, 3, 2, 3]],
    [16, 12, [1, 1, 2, 1, 1, 2, 1, 1, 2, 1, 1, 2]],
    [3, 8, [1, 1, 1, 1, 1, 1, 1, 1]],
  ])('%i workers over %i partitions: %j', (workers, partitions, shares) => {
    expect(concurrencyShares(workers, partitions)).toEqual(shares);
  });

  it('adds up to workers, or to one each when partitions are more', () => {
    for (let workers = 1; workers <= 40; workers++)
      for (let partitions = 1; partitions <= 40; partitions++) {
        const total = concurrencyShares(workers, partitions).reduce((a, b) => a + b, 0);
        expect(total).toBe(Math.max(workers, partitions));
      }
  });

  it('spaces the extra ones evenly: each third of the partitions (a master of three) gets its share', () => {
    for (let workers = 12; workers <= 36; workers++) {
      const shares = concurrencyShares(workers, 12);
      const thirds = [0, 4, 8].map((from) => shares.slice(from, from + 4).reduce((a, b) => a + b, 0));
      expect(Math.max(...thirds) - Math.min(...thirds)).toBeLessThanOrEqual(1);
    }
  });
});

describe('partitionRateLimit', () => {
  it('keeps the limit with one partition', () => {
    expect(partitionRateLimit({ max: 7, duration: 1_000 }, 1)).toEqual({ max: 7, duration: 1_000 });
  });

  it('never lets the partitions together exceed the target limit', () => {
    for (const max of [1, 2, 3, 5, 16, 100, 1_000])
      for (const partitions of [1, 2, 3, 4, 16, 64]) {
        const { max: each, duration } = partitionRateLimit({ max, duration: 1_000 }, partitions);
        const perSecondTogether = (each * partitions * 1_000) / duration;
        expect(perSecondTogether).toBeLessThanOrEqual(max + 1e-9);
        expect(each).toBeGreaterThanOrEqual(1);
      }
  });

  it('stretches the window when the limit is below the partitions', () => {
    expect(partitionRateLimit({ max: 2, duration: 1_000 }, 8)).toEqual({ max: 1, duration: 4_000 });
  });
});
