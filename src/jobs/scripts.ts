import { LuaScript, type Redis } from '../redis.js';
import type { Keys } from './names.js';
import { BREAKER_SCRIPTS } from './breaker-scripts.js';
import { LOCK_SCRIPTS } from './locks.js';
import { LEDGER_LUA } from './ledger.js';
import { PUBLISH_SCRIPTS } from './publish-script.js';
import { RATE_TTL_SECONDS, rateSlot } from './rate.js';
import { GLOBAL_COUNTER, latencyBucket, type TargetCounter } from './stats.js';

/**
 * The Lua scripts behind delivery (publishing's is publish-script.ts), each behind one typed function: only
 * that function knows its KEYS and ARGV order and the shape of its reply. Each script touches
 * only keys under one prefix (one hash tag), so they run unchanged on Redis Cluster.
 */

/**
 * Delivery, start: take the (target, user) lock, read the target's watermark and the ledger's
 * head (version, event id, type, deleted) and, when it will be sent, its snapshot. The lock
 * token is unique to one run of one job, so a job that BullMQ hands out again while an earlier
 * run of it is still going (a stall) waits like any other job.
 * KEYS: lock, watermark, ledger. ARGV: token, lock ttl ms, userId, when to read the snapshot
 * ('none', 'newer': the ledger is newer than the delivery, 'newer-or-equal'), the delivery's
 * own version. Returns {0} when another delivery holds the lock, else
 * {1, watermark, v, eid, type, del, snap, ts} ('' for what the ledger does not hold or was not read;
 * v = 'foreign' when the ledger key holds something user-sync did not write).
 */
const DELIVERY_BEGIN = new LuaScript(
  `${LEDGER_LUA}
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {0}
end
local watermark = redis.call('HGET', KEYS[2], ARGV[3]) or '0'
local l = ledger_read(KEYS[3])
if l == false then return {1, watermark, 'foreign'} end
if not l then return {1, watermark, ''} end
local snap = ''
local held, own = tonumber(l.v), tonumber(ARGV[5])
if (ARGV[4] == 'newer' and held > own) or (ARGV[4] == 'newer-or-equal' and held >= own) then
  snap = l.snap
end
return {1, watermark, l.v, l.eid, l.type, l.del, snap, l.ts}
`,
  3,
);

/**
 * Counts a job's outcome once: the first outcome recorded on the job (field `uso` of its
 * BullMQ hash) is counted, a second run of the same job (after a stall) is not. Replays clear
 * the field (CLEAR_OUTCOME). Used inline by DELIVERY_FINISH and alone by COUNT_OUTCOME.
 */
const COUNT_ONCE = `
local function count_once(job, outcome, target_stats, counter, stats, global)
  if redis.call('EXISTS', job) == 1 and redis.call('HSETNX', job, 'uso', outcome) == 0 then
    return 0
  end
  redis.call('HINCRBY', target_stats, counter, 1)
  if global ~= '' then
    redis.call('HINCRBY', stats, global, 1)
  end
  return 1
end
`;

/**
 * Delivery, end: raise the watermark (never lower it), count the outcome once per job,
 * release the lock if this run still holds it.
 * A counted delivery also goes into the target's latency histogram (publish to delivered) and
 * its minute's delivery count (see rate.ts: HINCRBY and EXPIRE of the hour's hash).
 * KEYS: lock, watermark, stats, target stats, job, latency, delivery rate hash. ARGV: token,
 * userId, version ('' = leave the watermark), target counter, global counter ('' = none),
 * latency bucket field ('' = none: not a delivery), latency ms, minute field, rate ttl s.
 * Returns 1 if it counted.
 */
const DELIVERY_FINISH = new LuaScript(
  `${COUNT_ONCE}
if ARGV[3] ~= '' then
  local current = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0')
  if tonumber(ARGV[3]) > current then
    redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
  end
end
local counted = count_once(KEYS[5], ARGV[4], KEYS[4], ARGV[4], KEYS[3], ARGV[5])
if counted == 1 and ARGV[6] ~= '' then
  redis.call('HINCRBY', KEYS[6], ARGV[6], 1)
  redis.call('HINCRBY', KEYS[6], 'count', 1)
  redis.call('HINCRBY', KEYS[6], 'sum_ms', ARGV[7])
  redis.call('HINCRBY', KEYS[7], ARGV[8], 1)
  redis.call('EXPIRE', KEYS[7], ARGV[9])
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return counted
`,
  7,
);

/**
 * Counts an outcome (dead) once per job, like DELIVERY_FINISH does.
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
    DELIVERY_BEGIN,
    DELIVERY_FINISH,
    COUNT_OUTCOME,
    CLEAR_OUTCOME,
  }).map(([name, script]) => [script.sha, name]),
);

// ---------------------------------------------------------------------------------------------
// Typed calls. Callers pass named values and get typed results.

/** What the ledger holds of a user, as a delivery reads it. */
export interface LedgerEntry {
  version: number;
  /** Type of the latest event. */
  type: string;
  /** Id of the latest event (a repair's own id is never here). */
  eventId: string;
  /** JSON of the latest snapshot; undefined when it was not read (it would not be sent). */
  snapshot: string | undefined;
  deleted: boolean;
  /** The latest event's timestamp. */
  timestamp: string;
}

/**
 * When the ledger's snapshot is worth reading: never, when it is newer than the delivery, or also
 * when equal (repairs, and format 3 jobs, whose own snapshot is the ledger's).
 */
export type SnapshotRead = 'none' | 'newer' | 'newer-or-equal';

export interface BeginDeliveryArgs {
  target: string;
  userId: string;
  /** Unique to this run of this job. */
  token: string;
  lockTtlMs: number;
  /** When to read the ledger's snapshot too (coalescing: newer; repairs: newer or equal). */
  snapshot: SnapshotRead;
  /** The delivery's own version. */
  version: number;
}

/**
 * The start of a delivery: another run holds the user's lock, or this one now does. `ledger` is
 * undefined when the ledger holds nothing of the user, `'foreign'` when its key holds something
 * user-sync did not write.
 */
export type DeliveryBegin =
  { locked: false } | { locked: true; watermark: number; ledger: LedgerEntry | 'foreign' | undefined };

/**
 * Delivery, start: takes the (target, user) lock, reads the watermark and the ledger's entry
 * (its snapshot only as asked); `ledger` is undefined when the ledger holds nothing of the user.
 */
export async function beginDelivery(
  redis: Redis,
  keys: Keys,
  args: BeginDeliveryArgs,
): Promise<DeliveryBegin> {
  const reply = (await DELIVERY_BEGIN.run(
    redis,
    [keys.lock(args.target, args.userId), keys.watermark(args.target), keys.ledger(args.userId)],
    [args.token, args.lockTtlMs, args.userId, args.snapshot, args.version],
  )) as Array<string | number>;
  if (reply[0] !== 1) return { locked: false };
  const [, watermark, v, eventId, type, deleted, snapshot, timestamp] = reply;
  return {
    locked: true,
    watermark: Number(watermark ?? 0),
    ledger:
      v === 'foreign'
        ? 'foreign'
        : v
          ? {
              version: Number(v),
              type: String(type),
              eventId: String(eventId),
              snapshot: snapshot ? String(snapshot) : undefined,
              deleted: deleted === '1',
              timestamp: String(timestamp ?? ''),
            }
          : undefined,
  };
}

export interface FinishDeliveryArgs {
  target: string;
  userId: string;
  token: string;
  /** BullMQ's hash of the job (keys.job). */
  jobKey: string;
  /** The version the target now holds; undefined leaves the watermark as it is. */
  version: number | undefined;
  counter: TargetCounter;
  /** Publish to now; goes into the latency histogram when the outcome is `delivered`. */
  latencyMs: number;
  /** When it finished (ms): the minute a `delivered` outcome is counted in (rate.ts). */
  finishedAt: number;
}

/** Delivery, end: raises the watermark, counts the outcome once per job, releases the lock. True if counted. */
export async function finishDelivery(redis: Redis, keys: Keys, args: FinishDeliveryArgs): Promise<boolean> {
  const latencyMs = Math.max(0, Math.round(args.latencyMs));
  const slot = rateSlot(args.finishedAt);
  const counted = await DELIVERY_FINISH.run(
    redis,
    [
      keys.lock(args.target, args.userId),
      keys.watermark(args.target),
      keys.stats,
      keys.targetStats(args.target),
      args.jobKey,
      keys.latency(args.target),
      keys.deliveryRate(args.target, slot.hour),
    ],
    [
      args.token,
      args.userId,
      args.version === undefined ? '' : String(args.version),
      args.counter,
      GLOBAL_COUNTER[args.counter],
      args.counter === 'delivered' ? latencyBucket(latencyMs) : '',
      latencyMs,
      slot.minute,
      RATE_TTL_SECONDS,
    ],
  );
  return counted === 1;
}

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
