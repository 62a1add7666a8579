/**
 * The fields of an event, validated the same way where an event enters (publish) and where a
 * delivery job is read back from Redis (the worker): ids, versions, and the JSON a snapshot or
 * its changes may hold. Job data is written by whatever can reach Redis, so the worker trusts it
 * no more than the publisher trusts its caller.
 */
import { z } from 'zod';

/** Event ids and string user ids: 1-128 letters, digits, `_` or `-`. */
export const ID_RE = /^[A-Za-z0-9_-]{1,128}$/;
export const ID_MESSAGE = 'must be 1-128 letters, digits, "_" or "-"';

/** The largest version: every version, and the next one assigned after it, stays a safe integer. */
export const MAX_VERSION = Number.MAX_SAFE_INTEGER;

/** A user id: a positive safe integer, or a string id. */
export const userIdSchema = z.union(
  [
    z
      .number()
      .positive('must be positive')
      .max(Number.MAX_SAFE_INTEGER, 'is too large')
      .int('must be a whole number'),
    z.string().regex(ID_RE, ID_MESSAGE),
  ],
  { error: 'must be a positive integer or a string id' },
);

/** A per-user version: a positive safe integer. */
export const versionSchema = z
  .number({ error: 'must be a number' })
  .positive('must be positive')
  .max(MAX_VERSION, `must be at most ${MAX_VERSION}`)
  .int('must be a whole number');

/** Keys that would reach an object's prototype in a receiver that merges snapshots naively. */
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** Deepest nesting of arrays and objects accepted in a snapshot or its changes. */
export const MAX_JSON_DEPTH = 32;

// C0 controls but tab, line feed and carriage return; DEL; C1 controls.
// eslint-disable-next-line no-control-regex -- rejecting control characters is the point
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;
/** Bidirectional embeddings, overrides and isolates: text that displays other than it reads. */
const BIDI = /[\u202a-\u202e\u2066-\u2069]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Any character {@link stringProblem} may object to (surrogates included, paired or not): text
 * without one, nearly all text, is fine after one scan.
 */
const SUSPECT =
  // eslint-disable-next-line no-control-regex -- rejecting control characters is the point
  /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\ud800-\udfff]/;

/** Why a string may not travel in a snapshot, or undefined when it may. */
export function stringProblem(text: string): string | undefined {
  if (!SUSPECT.test(text)) return undefined;
  if (CONTROL.test(text)) return 'contains control characters';
  if (LONE_SURROGATE.test(text)) return 'contains a lone surrogate (not valid Unicode)';
  if (BIDI.test(text)) return 'contains bidirectional override characters';
  return undefined;
}

/** A problem found in a JSON tree: where (path below the root) and what. */
export interface TreeProblem {
  path: Array<string | number>;
  message: string;
}

/** Key characters refused beyond {@link stringProblem}'s: tab, line feed, carriage return. */
const KEY_BREAKS = /[\t\n\r]/;

/**
 * Walks a JSON value (a snapshot, its changes) and returns the first problem: a key that reaches
 * a prototype (`__proto__`, `constructor`, `prototype`) at any depth, a key or string value with
 * control characters (tab, line feed and carriage return are allowed in values), lone surrogates
 * or bidi overrides, nesting deeper than {@link MAX_JSON_DEPTH}, or a number that is not finite.
 * It runs on every publish and every delivery attempt: one path array, copied only for a problem.
 */
export function jsonTreeProblem(value: unknown): TreeProblem | undefined {
  const path: Array<string | number> = [];
  const ancestors = new Set<object>();
  const problem = (message: string): TreeProblem => ({ path: [...path], message });

  const walk = (node: unknown): TreeProblem | undefined => {
    const isObject = typeof node === 'object' && node !== null;
    if (isObject && ancestors.has(node))
      return { path: [], message: 'cannot be serialised as JSON (it contains itself)' };
    if (path.length > MAX_JSON_DEPTH) return problem(`is nested deeper than ${MAX_JSON_DEPTH} levels`);
    if (typeof node === 'string') {
      const message = stringProblem(node);
      return message ? problem(message) : undefined;
    }
    if (typeof node === 'number')
      return Number.isFinite(node) ? undefined : problem('is not a finite number');
    if (!isObject) return undefined;
    ancestors.add(node);
    try {
      if (Array.isArray(node)) {
        for (let i = 0; i < node.length; i++) {
          path.push(i);
          const found = walk(node[i]);
          path.pop();
          if (found) return found;
        }
        return undefined;
      }
      for (const key of Object.keys(node)) {
        path.push(key);
        if (FORBIDDEN_KEYS.has(key)) return problem('is not an allowed key');
        const keyProblem =
          stringProblem(key) ?? (KEY_BREAKS.test(key) ? 'contains control characters' : undefined);
        if (keyProblem) return problem(`key ${keyProblem}`);
        const found = walk((node as Record<string, unknown>)[key]);
        path.pop();
        if (found) return found;
      }
      return undefined;
    } finally {
      ancestors.delete(node);
    }
  };
  return walk(value);
}

/**
 * `schema`, after {@link jsonTreeProblem} has looked at the raw input: zod's object parsing
 * drops a `__proto__` key (it assigns it), so the check must see the value before zod does.
 */
export function safeJson<S extends z.ZodType>(schema: S) {
  return z
    .unknown()
    .superRefine((value, ctx) => {
      const problem = jsonTreeProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', path: problem.path, message: problem.message });
    })
    .pipe(schema);
}

/** A user snapshot as it travels: an object with the user's id, and JSON fit to forward. */
export const snapshotSchema = safeJson(z.looseObject({ id: userIdSchema }));

/** The changed fields of an event: an object of JSON fit to forward. */
export const changesSchema = safeJson(z.record(z.string(), z.unknown(), { error: 'must be an object' }));

/** The publishing service. */
export const sourceSchema = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 letters, digits or "_.-"');

/** An ISO-8601 date-time with an offset. */
export const timestampSchema = z.iso.datetime({
  offset: true,
  error: 'must be an ISO-8601 date-time, e.g. 2025-09-19T21:51:28Z',
});
