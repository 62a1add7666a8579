/**
 * Publishing in one round trip: one Lua script, in one partition's slot, takes a batch of
 * events and for each — all or nothing — remembers its id (a repeat is a duplicate), settles its
 * version, refuses it when a target's backlog is at the cap, writes the ledger if the version is
 * newer, and creates every target's delivery job. The jobs are created by BullMQ's own
 * `addStandardJob` script (the installed version's text, wrapped as a Lua function), so they are
 * laid out exactly as `Queue.add` lays them out: job hash, wait list, events stream, marker.
 */
import { createRequire } from 'node:module';
import { LuaScript, type Redis } from '../redis.js';
import { FORMAT3_TO_FORMAT2_LUA } from './delivery-job.js';
import { MAX_VERSION } from './event-fields.js';
import { LEDGER_LUA } from './ledger.js';
import { EVENT_STREAM_MAX_LEN } from './queues.js';
import type { Keys } from './names.js';

const require = createRequire(import.meta.url);
const { addStandardJob } = require('bullmq/dist/cjs/scripts/addStandardJob-9.js') as {
  addStandardJob: { content: string; keys: number };
};

/** BullMQ keys of a target queue the script reads or writes, in this order. */
const QUEUE_KEYS = [
  'wait',
  'paused',
  'meta',
  'id',
  'completed',
  'delayed',
  'active',
  'events',
  'marker',
  'prioritized',
  'waiting-children',
] as const;

/**
 * KEYS: users, stats, then 11 per target (QUEUE_KEYS), then per event: its dedupe record, its
 * user's ledger entry.
 * ARGV: [1] backlog cap, [2] largest version, [3] dedupe window ms, [4] job timestamp ms, [5] job
 * options JSON, [6] targets T, [7] events E; then T queue key prefixes (`<prefix>:<queue>:`);
 * then the length of the queues' event streams; then T target names; then per event: version
 * ('' = assign), type, event id, snapshot JSON, deleted (0/1), event timestamp, user id,
 * deliveries k, then k × (target index 1..T, job id, job data JSON in format 3 without its
 * version: `{"v":3,...}`).
 * An event the ledger takes gets format 3 jobs (their snapshot is the ledger's), and the event it
 * replaces there has its unfinished jobs made format 2 (the snapshot and timestamp written into
 * their data); an event the ledger does not take (an older version) gets format 2 jobs.
 * Returns three values per event: {state, a, b} — 'new', version, ledger updated (0/1);
 * 'enqueued' (a duplicate), version, 0; 'full', target index, backlog; 'exhausted', current
 * version, ''; 'conflict', version, the event id holding it; 'foreign', 'ledger' or 'event' (that
 * key holds something user-sync did not write), ''.
 */
const PUBLISH = new LuaScript(`
local function bullmq_add_standard_job(KEYS, ARGV)
${addStandardJob.content}
end

${LEDGER_LUA}
${FORMAT3_TO_FORMAT2_LUA}
local rcall = redis.call
local cap = tonumber(ARGV[1])
local maxVersion = tonumber(ARGV[2])
local dedupeMs = ARGV[3]
local jobTimestamp = tonumber(ARGV[4])
local opts = cmsgpack.pack(cjson.decode(ARGV[5]))
local T = tonumber(ARGV[6])
local E = tonumber(ARGV[7])
local prefixes = {}
for t = 1, T do prefixes[t] = ARGV[7 + t] end
-- Each queue's event stream is trimmed to user-sync's length (BullMQ's add reads it from the
-- meta): set once per call in each queue a job is added to.
local maxEvents = ARGV[8 + T]
local metaSet = {}
local function set_stream_length(t)
  if metaSet[t] then return end
  metaSet[t] = true
  local meta = KEYS[2 + (t - 1) * 11 + 3]
  if rcall('HGET', meta, 'opts.maxLenEvents') ~= maxEvents then rcall('HSET', meta, 'opts.maxLenEvents', maxEvents) end
end

local function queueKey(t, i) return KEYS[2 + (t - 1) * 11 + i] end
local function backlog(t)
  return rcall('LLEN', queueKey(t, 1)) + rcall('LLEN', queueKey(t, 2)) + rcall('LLEN', queueKey(t, 7))
    + rcall('ZCARD', queueKey(t, 6)) + rcall('ZCARD', queueKey(t, 10)) + rcall('ZCARD', queueKey(t, 11))
end

local targetNames = {}
for t = 1, T do targetNames[t] = ARGV[8 + T + t] end

-- The event leaving the ledger (old) keeps its snapshot in its own unfinished jobs from now on.
local function keep_snapshot(old)
  for t = 1, T do
    local jobId = old.eid .. '.' .. targetNames[t]
    local jobKey = prefixes[t] .. jobId
    -- pcall: a key of another type there (not BullMQ's hash) is left alone, not an error.
    local data = redis.pcall('HGET', jobKey, 'data')
    if type(data) == 'string' and not rcall('ZSCORE', queueKey(t, 5), jobId) then
      local whole = format3_to_format2(data, old.snap, old.ts)
      if whole then rcall('HSET', jobKey, 'data', whole) end
    end
  end
end

local results = {}
local a = 9 + 2 * T
for e = 1, E do
  local eventKey = KEYS[2 + T * 11 + (e - 1) * 2 + 1]
  local ledgerKey = KEYS[2 + T * 11 + (e - 1) * 2 + 2]
  local version, etype, eventId, snapshot, deleted, ts, userId = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 6]
  local k = tonumber(ARGV[a + 7])
  a = a + 8
  local deliveries = {}
  for j = 1, k do
    deliveries[j] = { tonumber(ARGV[a]), ARGV[a + 1], ARGV[a + 2] }
    a = a + 3
  end

  local outcome
  -- The dedupe record: the event's version, a string (an older user-sync's: a hash with state and v).
  -- Anything else there (another type, a string that is no version) is foreign: refused.
  local state, recorded, foreign = nil, redis.pcall('GET', eventKey), nil
  if type(recorded) == 'table' then
    if rcall('TYPE', eventKey).ok == 'hash' then
      state, recorded = rcall('HGET', eventKey, 'state'), rcall('HGET', eventKey, 'v')
      if (state ~= 'enqueued' and state ~= 'pending') or not recorded or not string.match(recorded, '^%d+$') then
        foreign = 'event'
      end
    else
      foreign = 'event'
    end
  elseif recorded then
    if string.match(recorded, '^%d+$') then state = 'enqueued' else foreign = 'event' end
  end
  local ledger = ledger_read(ledgerKey)
  local current = ledger and tonumber(ledger.v) or 0
  if foreign then
    outcome = { 'foreign', foreign, '' }
  elseif state == 'enqueued' then
    outcome = { 'enqueued', recorded, 0 }
  elseif state == 'pending' then
    -- Left half way by an older user-sync (two steps): its ledger write happened; add its jobs.
    version = recorded
  elseif ledger == false then
    outcome = { 'foreign', 'ledger', '' }
  elseif version == '' then
    if current + 1 > maxVersion then outcome = { 'exhausted', string.format('%d', current), '' }
    else version = string.format('%d', current + 1) end
  elseif tonumber(version) == current then
    if ledger.eid ~= eventId then outcome = { 'conflict', version, ledger.eid } end
  end
  if not outcome and state ~= 'pending' then
    for j = 1, k do
      local t = deliveries[j][1]
      local n = backlog(t)
      if n >= cap then
        outcome = { 'full', t, n }
        break
      end
    end
  end
  if not outcome then
    local updated = 0
    if state ~= 'pending' and tonumber(version) > current then
      if ledger and ledger.eid ~= '' then keep_snapshot(ledger) end
      ledger_write(ledgerKey, version, deleted, etype, eventId, ts, snapshot)
      rcall('ZADD', KEYS[1], 0, userId)
      updated = 1
    end
    for j = 1, k do
      local t, jobId, rest = deliveries[j][1], deliveries[j][2], deliveries[j][3]
      local data = '{"version":' .. version .. ',' .. string.sub(rest, 2)
      if updated == 0 then data = format3_to_format2(data, snapshot, ts) end
      set_stream_length(t)
      bullmq_add_standard_job(
        { queueKey(t, 1), queueKey(t, 2), queueKey(t, 3), queueKey(t, 4), queueKey(t, 5),
          queueKey(t, 6), queueKey(t, 7), queueKey(t, 8), queueKey(t, 9) },
        { cmsgpack.pack({ prefixes[t], jobId, etype, jobTimestamp }), data, opts })
    end
    if k > 0 then rcall('HINCRBY', KEYS[2], 'total_tasks', k) end
    rcall('SET', eventKey, version, 'PX', dedupeMs)
    outcome = { 'new', version, updated }
  end
  results[#results + 1] = outcome[1]
  results[#results + 1] = outcome[2]
  results[#results + 1] = outcome[3]
end
return results
`);

/** Script names for tools that count commands (the benchmarks). */
export const PUBLISH_SCRIPTS = { PUBLISH };

/** One event of a batch, as the script takes it. */
export interface PublishItem {
  eventId: string;
  userId: string;
  /** The caller's version; undefined to assign the next one. */
  version: number | undefined;
  type: string;
  /** The user snapshot, as JSON. */
  snapshot: string;
  deleted: boolean;
  /** The event's timestamp (ISO 8601). */
  timestamp: string;
  /** Its deliveries: the target (by name), the job id, and the job data as format 3 JSON without `version` ({@link referenceData}). */
  deliveries: ReadonlyArray<{ target: string; jobId: string; data: string }>;
}

/** What happened to one event of a batch. */
export type PublishOutcome =
  /** Written: its version, whether the ledger took it (false: it held a newer one). */
  | { state: 'new'; version: number; ledgerUpdated: boolean }
  /** Published before, within the dedupe window: nothing new. */
  | { state: 'enqueued'; version: number }
  /** `target`'s backlog is at the cap: nothing was written. */
  | { state: 'full'; target: string; backlog: number }
  /** No next version can be assigned: the user is at the largest version. Nothing was written. */
  | { state: 'exhausted'; current: number }
  /** Another event (`heldBy`) already holds the version given. Nothing was written. */
  | { state: 'conflict'; version: number; heldBy: string }
  /**
   * The user's ledger key, or the event's dedupe record, holds something user-sync did not
   * write. Nothing was written.
   */
  | { state: 'foreign'; key: 'ledger' | 'event' };

export interface PublishBatchArgs {
  /** The targets the batch's events may go to, in a fixed order. */
  targets: readonly string[];
  /** `queueSize`: a target whose backlog is at it refuses an event. */
  queueSize: number;
  dedupeWindowMs: number;
  /** When the jobs were created (ms): BullMQ's job `timestamp`, the start of delivery latency. */
  jobTimestamp: number;
  /** The jobs' BullMQ options as stored (`attempts`, `backoff`, `removeOnComplete`, …), as JSON. */
  jobOptions: string;
  events: readonly PublishItem[];
}

/** Publishes a batch of events of one partition in one round trip; an outcome per event, in order. */
export async function publishBatch(
  redis: Redis,
  keys: Keys,
  args: PublishBatchArgs,
): Promise<PublishOutcome[]> {
  const index = new Map(args.targets.map((t, i) => [t, i + 1]));
  const queueKeys = args.targets.flatMap((target) =>
    QUEUE_KEYS.map((type) => keys.queue(keys.deliveryQueue(target), type)),
  );
  const eventKeys = args.events.flatMap((e) => [keys.event(e.eventId), keys.ledger(e.userId)]);
  const argv: Array<string | number> = [
    args.queueSize,
    MAX_VERSION,
    args.dedupeWindowMs,
    args.jobTimestamp,
    args.jobOptions,
    args.targets.length,
    args.events.length,
    ...args.targets.map((target) => `${keys.prefix}:${keys.deliveryQueue(target)}:`),
    EVENT_STREAM_MAX_LEN,
    ...args.targets,
  ];
  for (const e of args.events) {
    argv.push(e.version ?? '', e.type, e.eventId, e.snapshot, e.deleted ? 1 : 0, e.timestamp, e.userId);
    argv.push(e.deliveries.length);
    for (const d of e.deliveries) {
      const t = index.get(d.target);
      if (t === undefined) throw new Error(`publishBatch: ${d.target} is not among the batch's targets`);
      if (!d.data.startsWith('{"v":3,') || !d.data.endsWith('}'))
        throw new Error(`publishBatch: job data of ${d.jobId} is not format 3 JSON (referenceData)`);
      argv.push(t, d.jobId, d.data);
    }
  }
  const reply = (await PUBLISH.run(
    redis,
    [keys.users, keys.stats, ...queueKeys, ...eventKeys],
    argv,
  )) as Array<string | number>;
  return args.events.map((_, i): PublishOutcome => {
    const [state, a, b] = [reply[i * 3], reply[i * 3 + 1], reply[i * 3 + 2]];
    switch (state) {
      case 'new':
        return { state, version: Number(a), ledgerUpdated: b === 1 };
      case 'enqueued':
        return { state, version: Number(a) };
      case 'full':
        return { state, target: args.targets[Number(a) - 1] as string, backlog: Number(b) };
      case 'exhausted':
        return { state, current: Number(a) };
      case 'foreign':
        return { state, key: a === 'event' ? 'event' : 'ledger' };
      default:
        return { state: 'conflict', version: Number(a), heldBy: String(b) };
    }
  });
}
