import { LuaScript, type Redis } from '../redis.js';
import type { Keys } from './names.js';
import { LEDGER_LUA } from './ledger.js';
import { RATE_TTL_SECONDS, rateSlot } from './rate.js';
import { GLOBAL_COUNTER, latencyBucket, type TargetCounter } from './stats.js';

/**
 * The start and the end of a delivery in Redis: one script, DELIVERY_STEPS, that takes the
 * starts and ends of the deliveries a worker runs at the same time, behind one typed function
 * (deliverySteps). Every key it touches is under one partition's prefix (one hash tag), so it
 * runs unchanged on Redis Cluster. Outcomes counted apart (deaths) are scripts.ts's.
 */

/**
 * Lua: `begin_one(...)`, the start of one delivery (DELIVERY_STEPS): take the (target, user)
 * lock, read the target's watermark and the ledger's head (version, event id, type, deleted,
 * timestamp) and, when it will be sent, its snapshot. The lock token is unique to one
 * run of one job, so a job that BullMQ hands out again while an earlier run of it is still going
 * (a stall) waits like any other job.
 * Versions in order, for a target that takes every version (does not coalesce): a delivery that
 * finds the lock taken leaves its version in the user's turn key (the lowest waiting version,
 * expiring after the lock ttl) and waits; a delivery of a newer version waits behind it even
 * when the lock is free, and the waiting one, back, takes the lock and its turn. (Without it, a
 * newer version arriving while an older one waits out its delay would go first, and the older
 * one, found below the watermark, would never be sent.) A coalescing target needs no turns: a
 * newer version going first sends the latest, and the older ones are superseded.
 * A job that keeps its snapshot in the ledger (format 3) was given it back by the publish that
 * moved the ledger past it, after the worker read the job: when the ledger is newer, its data as
 * stored now is returned too.
 * Its keys: lock, watermark, ledger, turn, job. Its arguments: token, lock ttl ms, userId, when
 * to read the snapshot ('none', 'newer': the ledger is newer than the delivery,
 * 'newer-or-equal'), the delivery's own version, whether to read the job's data when the ledger
 * is newer (1/0), whether versions go in order (1/0: turns). Returns {0} when it must wait, else
 * {1, watermark, v, eid, type, del, snap, ts, data} ('' for what the ledger does not hold or was
 * not read; v = 'foreign' when the ledger key holds something user-sync did not write).
 */
const BEGIN_ONE_LUA = `
local function begin_one(lockKey, watermarkKey, ledgerKey, turnKey, jobKey, token, ttl, userId, read, own, reread, ordered)
  local version = tonumber(own)
  local turn = nil
  if ordered == '1' then
    -- Only a turn this script wrote counts: digits, with an expiry (anything else is ignored).
    local raw = redis.pcall('GET', turnKey)
    turn = type(raw) == 'string' and string.match(raw, '^%d+$') and tonumber(raw) or nil
    if turn and redis.call('PTTL', turnKey) < 0 then turn = nil end
    if turn and turn < version then return {0} end
  end
  if not redis.call('SET', lockKey, token, 'NX', 'PX', ttl) then
    -- The lowest waiting version holds the turn; waiting again renews it.
    if ordered == '1' and (not turn or version <= turn) then redis.call('SET', turnKey, own, 'PX', ttl) end
    return {0}
  end
  -- Its turn is over; an older version that finds the lock free leaves a newer one's turn alone.
  if turn == version then redis.call('DEL', turnKey) end
  local watermark = redis.call('HGET', watermarkKey, userId) or '0'
  local l = ledger_read(ledgerKey)
  if l == false then return {1, watermark, 'foreign'} end
  if not l then return {1, watermark, ''} end
  local snap = ''
  local held = tonumber(l.v)
  if (read == 'newer' and held > version) or (read == 'newer-or-equal' and held >= version) then
    snap = l.snap
  end
  local data = ''
  if reread == '1' and held > version then data = redis.call('HGET', jobKey, 'data') or '' end
  return {1, watermark, l.v, l.eid, l.type, l.del, snap, l.ts, data}
end
`;

/**
 * Counts a job's outcome once: the first outcome recorded on the job (field `uso` of its
 * BullMQ hash) is counted, a second run of the same job (after a stall) is not. Replays clear
 * the field (CLEAR_OUTCOME). Used inline by FINISH_ONE_LUA and alone by COUNT_OUTCOME.
 */
export const COUNT_ONCE = `
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
 * Lua: `finish_one(K, A)`, the end of one delivery (DELIVERY_STEPS): raise the watermark (never
 * lower it), count the outcome once per job, release the lock if this run still holds it.
 * A counted delivery also goes into the target's latency histogram (publish to delivered) and
 * its minute's delivery count (see rate.ts: HINCRBY and EXPIRE of the hour's hash).
 * K, 7 keys: lock, watermark, stats, target stats, job, latency, delivery rate hash.
 * A, 9 arguments: token, userId, version ('' = leave the watermark), target counter,
 * global counter ('' = none), latency bucket field ('' = none: not a delivery), latency ms,
 * minute field, rate ttl s. Returns 1 if it counted.
 */
const FINISH_ONE_LUA = `
local function finish_one(K, A)
  if A[3] ~= '' then
    local current = tonumber(redis.call('HGET', K[2], A[2]) or '0')
    if tonumber(A[3]) > current then
      redis.call('HSET', K[2], A[2], A[3])
    end
  end
  local counted = count_once(K[5], A[4], K[4], A[4], K[3], A[5])
  if counted == 1 and A[6] ~= '' then
    redis.call('HINCRBY', K[6], A[6], 1)
    redis.call('HINCRBY', K[6], 'count', 1)
    redis.call('HINCRBY', K[6], 'sum_ms', A[7])
    redis.call('HINCRBY', K[7], A[8], 1)
    redis.call('EXPIRE', K[7], A[9])
  end
  if redis.call('GET', K[1]) == A[1] then
    redis.call('DEL', K[1])
  end
  return counted
end
`;

/**
 * The ends and starts of the deliveries a worker runs at the same time, in one call: first
 * every end (FINISH_ONE_LUA), then every start (BEGIN_ONE_LUA), each as if alone, in order (a
 * lock an end releases can be taken by a start of the same call). ARGV[1]: how many ends; then
 * their KEYS (7 each) and ARGV (9 each), then the starts' KEYS (5 each) and ARGV (7 each).
 * Returns one reply per end (1 if it counted), then one per start ({0} or {1, …}).
 */
export const DELIVERY_STEPS = new LuaScript(`${LEDGER_LUA}${COUNT_ONCE}${FINISH_ONE_LUA}${BEGIN_ONE_LUA}
local finishes = tonumber(ARGV[1])
local replies = {}
for i = 1, finishes do
  local k, a = (i - 1) * 7, 1 + (i - 1) * 9
  replies[i] = finish_one(
    { KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], KEYS[k + 5], KEYS[k + 6], KEYS[k + 7] },
    { ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 6], ARGV[a + 7], ARGV[a + 8], ARGV[a + 9] })
end
local kb, ab = finishes * 7, 1 + finishes * 9
for i = 1, (#KEYS - kb) / 5 do
  local k, a = kb + (i - 1) * 5, ab + (i - 1) * 7
  replies[finishes + i] = begin_one(KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], KEYS[k + 5],
    ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 6], ARGV[a + 7])
end
return replies
`);

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
  /** BullMQ's hash of the job (keys.job). */
  jobKey: string;
  /** Whether to read the job's data as stored now when the ledger is newer (format 3 jobs). */
  rereadJob: boolean;
  /** Whether the target takes every version in order (it does not coalesce): turns are kept. */
  ordered: boolean;
}

/**
 * The start of a delivery: another run holds the user's lock, or this one now does. `ledger` is
 * undefined when the ledger holds nothing of the user, `'foreign'` when its key holds something
 * user-sync did not write.
 */
export type DeliveryBegin =
  | { locked: false }
  | {
      locked: true;
      watermark: number;
      ledger: LedgerEntry | 'foreign' | undefined;
      /** The job's data as stored now, when asked (`rereadJob`) and the ledger is newer. */
      storedData?: string;
    };

/** One step of a delivery the worker batches: its start, or its end. */
export type DeliveryStep = { begin: BeginDeliveryArgs } | { finish: FinishDeliveryArgs };

/** What a step answers: a start, its DeliveryBegin; an end, whether it counted. */
export type DeliveryStepResult = DeliveryBegin | boolean;

/**
 * The starts and ends of deliveries of one partition in one round trip (DELIVERY_STEPS): the
 * ends first, then the starts, each as if alone. A start takes its (target, user) lock, reads
 * the watermark and the ledger's entry (its snapshot only as asked); an end raises its
 * watermark, counts its outcome once per job, releases its lock. Answers each step by its index.
 */
export async function deliverySteps(
  redis: Redis,
  keys: Keys,
  steps: readonly DeliveryStep[],
): Promise<DeliveryStepResult[]> {
  const finishes: FinishDeliveryArgs[] = [];
  const begins: BeginDeliveryArgs[] = [];
  for (const step of steps) {
    if ('finish' in step) finishes.push(step.finish);
    else begins.push(step.begin);
  }
  const keyList: string[] = [];
  const argv: Array<string | number> = [finishes.length];
  for (const args of finishes) {
    const latencyMs = Math.max(0, Math.round(args.latencyMs));
    const slot = rateSlot(args.finishedAt);
    keyList.push(
      keys.lock(args.target, args.userId),
      keys.watermark(args.target),
      keys.stats,
      keys.targetStats(args.target),
      args.jobKey,
      keys.latency(args.target),
      keys.deliveryRate(args.target, slot.hour),
    );
    argv.push(
      args.token,
      args.userId,
      args.version === undefined ? '' : String(args.version),
      args.counter,
      GLOBAL_COUNTER[args.counter],
      args.counter === 'delivered' ? latencyBucket(latencyMs) : '',
      latencyMs,
      slot.minute,
      RATE_TTL_SECONDS,
    );
  }
  for (const args of begins) {
    keyList.push(
      keys.lock(args.target, args.userId),
      keys.watermark(args.target),
      keys.ledger(args.userId),
      keys.turn(args.target, args.userId),
      args.jobKey,
    );
    argv.push(
      args.token,
      args.lockTtlMs,
      args.userId,
      args.snapshot,
      args.version,
      args.rereadJob ? 1 : 0,
      args.ordered ? 1 : 0,
    );
  }
  const replies = (await DELIVERY_STEPS.run(redis, keyList, argv)) as Array<number | Array<string | number>>;
  let finished = 0;
  let begun = finishes.length;
  return steps.map((step) => {
    const reply = 'finish' in step ? replies[finished++] : replies[begun++];
    return Array.isArray(reply) ? toBegin(reply) : reply === 1;
  });
}

/** A start's answer (deliverySteps answers a start with a DeliveryBegin, an end with a boolean). */
export function beginOf(result: DeliveryStepResult): DeliveryBegin {
  if (typeof result === 'boolean') throw new TypeError('a delivery start was answered as an end');
  return result;
}

function toBegin(reply: Array<string | number>): DeliveryBegin {
  if (reply[0] !== 1) return { locked: false };
  const [, watermark, v, eventId, type, deleted, snapshot, timestamp, data] = reply;
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
    ...(data ? { storedData: String(data) } : {}),
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
