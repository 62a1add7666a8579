import { describe, expect, it } from '@jest/globals';
import { formatDuration, parseDuration } from '../../src/duration.js';

describe('parseDuration', () => {
  it.each<[unknown, number]>([
    [0, 0],
    [1, 1],
    [1500, 1500],
    [1.4, 1],
    [1.6, 2],
    ['0', 0],
    ['1500', 1500],
    ['250ms', 250],
    ['5s', 5_000],
    ['0s', 0],
    ['1.5s', 1_500],
    ['0.5ms', 1],
    ['2m', 120_000],
    ['1m30s', 90_000],
    ['2h', 7_200_000],
    ['1h30m', 5_400_000],
    ['1d', 86_400_000],
    ['1d2h3m4s5ms', 93_784_005],
    ['1h1h', 7_200_000],
    ['1ms', 1],
    ['10m', 600_000],
    [' 5s ', 5_000],
    ['\t7\n', 7],
  ])('reads %j as %d', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each<[unknown]>([
    [-1],
    [-0.5],
    [Number.NaN],
    [Number.POSITIVE_INFINITY],
    [Number.NEGATIVE_INFINITY],
    [''],
    ['   '],
    ['soon'],
    ['5 s'],
    ['5S'],
    ['5sec'],
    ['5 seconds'],
    ['-5s'],
    ['+5s'],
    ['-5'],
    ['1.s'],
    ['.5s'],
    ['s'],
    ['ms'],
    ['5us'],
    ['5ns'],
    ['5w'],
    ['1e3'],
    ['0x10'],
    ['1,000'],
    ['5s '.repeat(2)],
    [null],
    [undefined],
    [true],
    [{}],
    [[5]],
    [5n],
  ])('refuses %p', (input) => {
    expect(parseDuration(input)).toBeUndefined();
  });
});

describe('formatDuration', () => {
  it.each<[number, string]>([
    [0, '0ms'],
    [1, '1ms'],
    [250, '250ms'],
    [999, '999ms'],
    [1_000, '1s'],
    [1_500, '1.5s'],
    [1_550, '1.6s'],
    [5_000, '5s'],
    [59_000, '59s'],
    [60_000, '1m'],
    [90_000, '1.5m'],
    [600_000, '10m'],
    [3_600_000, '1h'],
    [5_400_000, '1.5h'],
    [86_400_000, '24h'],
  ])('formats %d ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it.each([0, 250, 1_000, 1_500, 5_000, 60_000, 90_000, 3_600_000, 5_400_000])(
    'round-trips %d ms through parseDuration',
    (ms) => {
      expect(parseDuration(formatDuration(ms))).toBe(ms);
    },
  );
});
