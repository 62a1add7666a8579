import type { z } from 'zod';
import { HttpError } from './http-error.js';

/**
 * Parses request input with a zod schema; a mismatch becomes a 400 whose message names the
 * parameter: `limit: must be a whole number from 1 to 500`.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  if (!issue) throw new HttpError(400, 'invalid request');
  if (issue.code === 'unrecognized_keys') {
    const keys = (issue as { keys?: string[] }).keys ?? [];
    throw new HttpError(400, `${keys.join(', ')}: not a known parameter`);
  }
  const at = issue.path.map(String).join('.');
  throw new HttpError(400, at ? `${at}: ${issue.message}` : issue.message);
}
