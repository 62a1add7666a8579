import { LuaScript, type Redis } from '../redis.js';
import type { Keys } from './names.js';
import { BREAKER_SCRIPTS } from './breaker-scripts.js';
import { COUNT_ONCE, DELIVERY_STEPS } from './delivery-steps.js';
import { LOCK_SCRIPTS } from './locks.js';
import { PUBLISH_SCRIPTS } from './publish-script.js';
import { GLOBAL_COUNTER, type TargetCounter } from './stats.js';

/**
 * The Lua scripts behind delivery (publishing's is publish-script.ts; a delivery's start and end
 * are delivery-steps.ts's), each behind one typed function: only that function knows its KEYS
 * and ARGV order and the shape of its reply. Each script touches only keys under one prefix (one
 * hash tag), so they run unchanged on Redis Cluster.
 */

/**
 * Counts an outcome (dead) once per job, like the end of a delivery does.
 * KEYS: job, target stats, stats. ARGV: outcome/counter, global counter. Returns 1 if counted.
 */
const COUNT_OUTCOME = new LuaScript(
  `${COUNT_ONCE}
return count_once(KEYS[1], ARGV[1], KEYS[2], ARGV[1], KEYS[3], ARGV[2])
`,
  3,
);

/**
 * A job starts a new life (replayed, or run again after a death that did not stick): forget
 * its counted outcome. KEYS: job. Returns the outcome it had, or false.
 */
const CLEAR_OUTCOME = new LuaScript(
  `
local outcome = redis.call('HGET', KEYS[1], 'uso')
redis.call('HDEL', KEYS[1], 'uso')
return outcome
`,
  1,
);

/** Each script's SHA1 and name, for tools that count Redis commands (the benchmarks). */
export const SCRIPT_NAMES: ReadonlyMap<string, string> = new Map(
  Object.entries({
    ...LOCK_SCRIPTS,
    ...PUBLISH_SCRIPTS,
    ...BREAKER_SCRIPTS,
    DELIVERY_STEPS,
    COUNT_OUTCOME,
    CLEAR_OUTCOME,
  }).map(([name, script]) => [script.sha, name]),
);

// ---------------------------------------------------------------------------------------------
// Typed calls. Callers pass named values and get typed results.

/** Counts an outcome (a death) once per job life. True if counted. */
export async function countOutcome(
  redis: Redis,
  keys: Keys,
  args: { target: string; jobKey: string; counter: TargetCounter },
): Promise<boolean> {
  const counted = await COUNT_OUTCOME.run(
    redis,
    [args.jobKey, keys.targetStats(args.target), keys.stats],
    [args.counter, GLOBAL_COUNTER[args.counter]],
  );
  return counted === 1;
}

/** A job starts a new life: forgets its counted outcome and returns the one it had, if any. */
export async function clearOutcome(redis: Redis, jobKey: string): Promise<string | null> {
  const outcome = await CLEAR_OUTCOME.run(redis, [jobKey], []);
  return typeof outcome === 'string' ? outcome : null;
}
