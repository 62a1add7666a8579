import { LuaScript, type Redis } from '../redis.js';
import { MAX_VERSION } from './event-fields.js';
import type { Keys } from './names.js';
import { LOCK_SCRIPTS } from './locks.js';
import { GLOBAL_COUNTER, latencyBucket, type TargetCounter } from './stats.js';

/**
 * The Lua scripts behind publishing and delivery, each behind one typed function: only
 * that function knows its KEYS and ARGV order and the shape of its reply. Each script touches
 * only keys under one prefix (one hash tag), so they run unchanged on Redis Cluster.
 */

/** The BullMQ keys of a queue that hold its unfinished jobs, in the order PUBLISH_RESERVE reads them. */
export const BACKLOG_KEYS = [
  'wait',
  'paused',
  'active',
  'delayed',
  'prioritized',
  'waiting-children',
] as const;

/**
 * Publish, step 1 of 2: remember the event id, settle the version, refuse when a target's
 * backlog is at the cap, reserve a place in each target queue, and write the ledger if the
 * version is newer — all or nothing.
 * KEYS: event, ledger, users, then per target: its queue's BACKLOG_KEYS (lists, then sorted
 * sets) and its reservations (sorted set of event ids scored by expiry).
 * ARGV: version ('' = assign), type, eventId, snapshot, deleted (0/1), timestamp, dedupe window
 * ms, userId, backlog cap, reservation ttl ms, largest version.
 * Returns {state, version, ledgerUpdated}: state 'new' for a first publish, else the stored
 * state ('pending' or 'enqueued') of an earlier publish of the same event id; or
 * {'full', target index (0-based), backlog}; {'exhausted', current version} when no next
 * version can be assigned; {'conflict', current version, its event id} when another event
 * already holds the version given.
 */
const PUBLISH_RESERVE = new LuaScript(
  `
local state = redis.call('HGET', KEYS[1], 'state')
if state then
  return {state, redis.call('HGET', KEYS[1], 'v'), 0}
end
local current = tonumber(redis.call('HGET', KEYS[2], 'v') or '0')
local version = ARGV[1]
if version == '' then
  if current + 1 > tonumber(ARGV[11]) then
    return {'exhausted', string.format('%d', current)}
  end
  version = string.format('%d', current + 1)
elseif tonumber(version) == current then
  local holder = redis.call('HGET', KEYS[2], 'eid')
  if holder and holder ~= ARGV[3] then
    return {'conflict', version, holder}
  end
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local cap = tonumber(ARGV[9])
local targets = (#KEYS - 3) / 7
for i = 0, targets - 1 do
  local k = 3 + i * 7
  local backlog = redis.call('LLEN', KEYS[k + 1]) + redis.call('LLEN', KEYS[k + 2]) + redis.call('LLEN', KEYS[k + 3])
    + redis.call('ZCARD', KEYS[k + 4]) + redis.call('ZCARD', KEYS[k + 5]) + redis.call('ZCARD', KEYS[k + 6])
  redis.call('ZREMRANGEBYSCORE', KEYS[k + 7], '-inf', now)
  backlog = backlog + redis.call('ZCARD', KEYS[k + 7])
  if backlog >= cap then
    return {'full', i, backlog}
  end
end
for i = 0, targets - 1 do
  redis.call('ZADD', KEYS[3 + i * 7 + 7], now + tonumber(ARGV[10]), ARGV[3])
end
local updated = 0
if tonumber(version) > current then
  redis.call('HSET', KEYS[2], 'v', version, 'type', ARGV[2], 'eid', ARGV[3], 'snap', ARGV[4], 'del', ARGV[5], 'ts', ARGV[6])
  redis.call('ZADD', KEYS[3], 0, ARGV[8])
  updated = 1
end
redis.call('HSET', KEYS[1], 'state', 'pending', 'v', version)
redis.call('PEXPIRE', KEYS[1], ARGV[7])
return {'new', version, updated}
`,
);

/**
 * Publish, step 2 of 2, after the jobs were added: mark the event enqueued and count its tasks,
 * once; give back its reservations (its jobs now count in the queues themselves).
 * KEYS: event, stats, then each target's reservations. ARGV: task count, eventId.
 * Returns 1 if this call made the transition.
 */
const PUBLISH_COMMIT = new LuaScript(
  `
for i = 3, #KEYS do
  redis.call('ZREM', KEYS[i], ARGV[2])
end
if redis.call('HGET', KEYS[1], 'state') == 'pending' then
  redis.call('HSET', KEYS[1], 'state', 'enqueued')
  redis.call('HINCRBY', KEYS[2], 'total_tasks', ARGV[1])
  return 1
end
return 0
`,
);

/**
 * Delivery, start: take the (target, user) lock, read the target's watermark and the ledger's
 * head (version, event id, type, deleted) and, when it will be sent, its snapshot. The lock
 * token is unique to one run of one job, so a job that BullMQ hands out again while an earlier
 * run of it is still going (a stall) waits like any other job.
 * KEYS: lock, watermark, ledger. ARGV: token, lock ttl ms, userId, when to read the snapshot
 * ('none', 'newer': the ledger is newer than the delivery, 'newer-or-equal'), the delivery's
 * own version. Returns {0} when another delivery holds the lock, else
 * {1, watermark, v, eid, type, del, snap} ('' for what the ledger does not hold or was not read).
 */
const DELIVERY_BEGIN = new LuaScript(
  `
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {0}
end
local watermark = redis.call('HGET', KEYS[2], ARGV[3]) or '0'
local l = redis.call('HMGET', KEYS[3], 'v', 'eid', 'type', 'del')
local snap = ''
if l[1] then
  local held, own = tonumber(l[1]), tonumber(ARGV[5])
  if (ARGV[4] == 'newer' and held > own) or (ARGV[4] == 'newer-or-equal' and held >= own) then
    snap = redis.call('HGET', KEYS[3], 'snap') or ''
  end
end
return {1, watermark, l[1] or '', l[2] or '', l[3] or '', l[4] or '', snap}
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
 * A counted delivery also goes into the target's latency histogram (publish to delivered).
 * KEYS: lock, watermark, stats, target stats, job, latency. ARGV: token, userId, version
 * ('' = leave the watermark), target counter, global counter ('' = none), latency bucket
 * field ('' = none), latency ms. Returns 1 if it counted.
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
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return counted
`,
  6,
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
    PUBLISH_RESERVE,
    PUBLISH_COMMIT,
    DELIVERY_BEGIN,
    DELIVERY_FINISH,
    COUNT_OUTCOME,
    CLEAR_OUTCOME,
  }).map(([name, script]) => [script.sha, name]),
);

// ---------------------------------------------------------------------------------------------
// Typed calls. Callers pass named values and get typed results.

/** Where an event id stands: first seen now, or published before (half way, or fully). */
export type PublishState = 'new' | 'pending' | 'enqueued';

export interface ReservePublishArgs {
  eventId: string;
  userId: string;
  /** The caller's version; undefined to assign the next one. */
  version: number | undefined;
  type: string;
  /** The user snapshot, as JSON. */
  snapshot: string;
  deleted: boolean;
  timestamp: string;
  dedupeWindowMs: number;
  /** The targets the event goes to: their backlog is checked and a place reserved in each. */
  targets: readonly string[];
  /** `queueSize`: a target whose backlog (reservations included) is at it refuses the event. */
  queueSize: number;
  /** How long a reservation holds when the publish never commits (its process died). */
  reservationTtlMs: number;
}

/** What reservePublish decided. */
export type ReserveResult =
  | { state: PublishState; version: number; ledgerUpdated: boolean }
  /** `target`'s backlog is at the cap: nothing was written. */
  | { state: 'full'; target: string; backlog: number }
  /** No next version can be assigned: the user is at the largest version. Nothing was written. */
  | { state: 'exhausted'; current: number }
  /** Another event (`heldBy`) already holds the version given. Nothing was written. */
  | { state: 'conflict'; version: number; heldBy: string };

/**
 * Publish, step 1, in one atomic step: remembers the event id, settles its version, checks and
 * reserves each target's backlog, and writes the ledger if the version is newer.
 */
export async function reservePublish(
  redis: Redis,
  keys: Keys,
  args: ReservePublishArgs,
): Promise<ReserveResult> {
  const targetKeys = args.targets.flatMap((target) => [
    ...BACKLOG_KEYS.map((type) => keys.queue(keys.deliveryQueue(target), type)),
    keys.reservations(target),
  ]);
  const reply = (await PUBLISH_RESERVE.run(
    redis,
    [keys.event(args.eventId), keys.ledger(args.userId), keys.users, ...targetKeys],
    [
      args.version ?? '',
      args.type,
      args.eventId,
      args.snapshot,
      args.deleted ? 1 : 0,
      args.timestamp,
      args.dedupeWindowMs,
      args.userId,
      args.queueSize,
      args.reservationTtlMs,
      MAX_VERSION,
    ],
  )) as [string, string | number, string | number | undefined];
  const [state, a, b] = reply;
  switch (state) {
    case 'full':
      return { state, target: args.targets[Number(a)] as string, backlog: Number(b) };
    case 'exhausted':
      return { state, current: Number(a) };
    case 'conflict':
      return { state, version: Number(a), heldBy: String(b) };
    default:
      return { state: state as PublishState, version: Number(a), ledgerUpdated: b === 1 };
  }
}

/**
 * Publish, step 2: marks the event enqueued and counts its tasks, once, and gives back the
 * targets' reservations. True if this call made the transition.
 */
export async function commitPublish(
  redis: Redis,
  keys: Keys,
  args: { eventId: string; tasks: number; targets: readonly string[] },
): Promise<boolean> {
  const reply = await PUBLISH_COMMIT.run(
    redis,
    [keys.event(args.eventId), keys.stats, ...args.targets.map((t) => keys.reservations(t))],
    [args.tasks, args.eventId],
  );
  return reply === 1;
}

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
}

/** When the ledger's snapshot is worth reading: never, when it is newer than the delivery, or also when equal. */
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

/** The start of a delivery: another run holds the user's lock, or this one now does. */
export type DeliveryBegin =
  { locked: false } | { locked: true; watermark: number; ledger: LedgerEntry | undefined };

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
  const [, watermark, v, eventId, type, deleted, snapshot] = reply;
  return {
    locked: true,
    watermark: Number(watermark ?? 0),
    ledger: v
      ? {
          version: Number(v),
          type: String(type),
          eventId: String(eventId),
          snapshot: snapshot ? String(snapshot) : undefined,
          deleted: deleted === '1',
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
}

/** Delivery, end: raises the watermark, counts the outcome once per job, releases the lock. True if counted. */
export async function finishDelivery(redis: Redis, keys: Keys, args: FinishDeliveryArgs): Promise<boolean> {
  const latencyMs = Math.max(0, Math.round(args.latencyMs));
  const counted = await DELIVERY_FINISH.run(
    redis,
    [
      keys.lock(args.target, args.userId),
      keys.watermark(args.target),
      keys.stats,
      keys.targetStats(args.target),
      args.jobKey,
      keys.latency(args.target),
    ],
    [
      args.token,
      args.userId,
      args.version === undefined ? '' : String(args.version),
      args.counter,
      GLOBAL_COUNTER[args.counter],
      args.counter === 'delivered' ? latencyBucket(latencyMs) : '',
      latencyMs,
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
