/** Duration fields of the config: milliseconds, or strings such as "5s", "2m" (see parseDuration). */
import { z } from 'zod';
import { parseDuration } from '../duration.js';

export const duration = (what = 'a duration') =>
  z
    .union([z.number(), z.string()], {
      error: (issue) =>
        issue.input === undefined
          ? 'is required'
          : `must be ${what}: milliseconds or a string like "5s", "2m"`,
    })
    .transform((value, ctx) => {
      const ms = parseDuration(value);
      if (ms === undefined) {
        ctx.addIssue({
          code: 'custom',
          message: `must be ${what}: milliseconds or a string like "5s", "2m"`,
        });
        return z.NEVER;
      }
      return ms;
    });

export const positiveDuration = duration('a positive duration').refine(
  (ms) => ms > 0,
  'must be greater than 0',
);
