/**
 * The circuit breaker's record in Redis: one hash per target under the deployment's prefix
 * (`keyspace.deployment.breaker(target)`), shared by every worker process, changed only by the
 * two scripts here so that each transition happens once, in one process, which logs it.
 *
 * Fields: `state` (closed | open | half-open; absent = closed), `since` (ms), `reason`,
 * `retryAt` (ms: when an open breaker lets a probe through), `cooldown` (ms of the current
 * wait), `consecutive` (failed attempts in a row) and `streakSince` (when they began), `probe` / `probeUntil` (the probe in
 * flight), and a ring of six window buckets `r0`..`r5`, each "<bucket>:<ok>:<failed>".
 */
import { LuaScript, type Redis } from '../redis.js';
import type { CircuitBreakerConfig } from '../config/breaker.js';

export const BREAKER_STATES = ['closed', 'open', 'half-open'] as const;
export type BreakerState = (typeof BREAKER_STATES)[number];

const OPEN_LUA = `
local function open(key, now, cooldown, reason)
  redis.call('HSET', key, 'state', 'open', 'since', now, 'reason', reason, 'cooldown', cooldown,
    'retryAt', now + cooldown, 'consecutive', 0)
  redis.call('HDEL', key, 'probe', 'probeUntil', 'streakSince', 'r0', 'r1', 'r2', 'r3', 'r4', 'r5')
end
`;

/**
 * A process's attempts since its last report. KEYS: breaker. ARGV: now, ok, failed, failed
 * since the last success of this report, the last failure's code, probe token ('' when none),
 * then the settings: consecutive failures, failure ratio, min attempts, window ms, cooldown ms,
 * max cooldown ms, and how long a streak of failures must last (STREAK_MIN_MS). Returns
 * {state, transitioned (0/1), since, reason, retryAt}.
 */
const BREAKER_REPORT = new LuaScript(
  `${OPEN_LUA}
local key = KEYS[1]
local now, ok, failed, trailing = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local code, probe = ARGV[5], ARGV[6]
local threshold, ratio, minAttempts = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local window, base, max = tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])
local streakMin = tonumber(ARGV[13])
local state = redis.call('HGET', key, 'state') or 'closed'
local function reply(moved)
  local h = redis.call('HMGET', key, 'state', 'since', 'reason', 'retryAt')
  return { h[1] or 'closed', moved, h[2] or '', h[3] or '', h[4] or '' }
end

if probe ~= '' and state == 'half-open' and redis.call('HGET', key, 'probe') == probe then
  if failed > 0 then
    local cooldown = math.min(max, 2 * (tonumber(redis.call('HGET', key, 'cooldown')) or base))
    open(key, now, cooldown, 'the probe failed (' .. code .. '): next one in ' .. math.floor(cooldown / 1000) .. ' s')
  else
    redis.call('DEL', key)
    redis.call('HSET', key, 'state', 'closed', 'since', now, 'reason', 'a probe was delivered')
  end
  return reply(1)
end
if state ~= 'closed' then return reply(0) end

-- The window: six buckets in a ring; a bucket older than the window counts for nothing.
local span = math.floor(window / 6)
local bucket = math.floor(now / span)
local field = 'r' .. (bucket % 6)
local b, bok, bfailed = string.match(redis.call('HGET', key, field) or '', '^(%d+):(%d+):(%d+)$')
if tonumber(b) ~= bucket then bok, bfailed = 0, 0 end
redis.call('HSET', key, field, bucket .. ':' .. (tonumber(bok) + ok) .. ':' .. (tonumber(bfailed) + failed))
local total, bad = 0, 0
for i = 0, 5 do
  local rb, rok, rfailed = string.match(redis.call('HGET', key, 'r' .. i) or '', '^(%d+):(%d+):(%d+)$')
  if rb and tonumber(rb) > bucket - 6 then
    total = total + tonumber(rok) + tonumber(rfailed)
    bad = bad + tonumber(rfailed)
  end
end

-- Failed attempts in a row, and since when: a streak counts once it has lasted streakMin ms,
-- so that a busy target failing a share of its requests at random is not opened by chance.
local before = tonumber(redis.call('HGET', key, 'consecutive')) or 0
local streakSince = tonumber(redis.call('HGET', key, 'streakSince'))
local consecutive
if ok > 0 then
  consecutive = trailing
  streakSince = trailing > 0 and now or nil
else
  consecutive = before + failed
  if before == 0 or not streakSince then streakSince = now end
end
redis.call('HSET', key, 'consecutive', consecutive)
if streakSince then redis.call('HSET', key, 'streakSince', streakSince) else redis.call('HDEL', key, 'streakSince') end

local reason
if consecutive >= threshold and now - streakSince >= streakMin then
  reason = consecutive .. ' failed attempts in a row (last: ' .. code .. ')'
elseif total >= minAttempts and bad / total >= ratio then
  reason = bad .. ' of ' .. total .. ' attempts failed in the last ' .. math.floor(window / 1000) .. ' s (last: ' .. code .. ')'
end
if reason and failed > 0 then
  open(key, now, base, reason)
  return reply(1)
end
return reply(0)
`,
  1,
);

/**
 * A delivery finds its target's breaker open or half-open and asks to be the probe.
 * KEYS: breaker. ARGV: now, token, how long a probe may take (ms). Returns {'send'} when the
 * breaker is closed after all, {'probe'} when this delivery is the probe (the breaker is now
 * half-open), {'wait', ms} otherwise.
 */
const BREAKER_PROBE = new LuaScript(
  `
local key = KEYS[1]
local now, token, ttl = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local h = redis.call('HMGET', key, 'state', 'retryAt', 'probeUntil')
local state = h[1] or 'closed'
if state == 'closed' then return { 'send' } end
if state == 'open' then
  local at = tonumber(h[2]) or 0
  if now < at then return { 'wait', at - now } end
elseif now < (tonumber(h[3]) or 0) then
  return { 'wait', tonumber(h[3]) - now }
end
redis.call('HSET', key, 'state', 'half-open', 'since', now, 'probe', token, 'probeUntil', now + ttl)
return { 'probe' }
`,
  1,
);

export const BREAKER_SCRIPTS = { BREAKER_REPORT, BREAKER_PROBE };

/**
 * How long a streak of failed attempts must last before it opens a breaker. A target failing
 * 15% of 1,000 requests a second sees five failures in a row every few seconds by chance, each
 * streak a few milliseconds long; an outage's streak goes on.
 */
export const STREAK_MIN_MS = 1_000;

/** A breaker as every process sees it. */
export interface BreakerRecord {
  state: BreakerState;
  /** When it entered this state (ms); undefined for a breaker that never opened. */
  since: number | undefined;
  /** Why it is in this state. */
  reason: string | undefined;
  /** Open: when the next probe may go (ms). */
  retryAt: number | undefined;
}

/** Longest reason kept: a record written by anything that can reach Redis is not trusted. */
export const MAX_REASON_LENGTH = 500;

/** A time field: a positive whole number of ms, else undefined. */
function timeOf(value: unknown): number | undefined {
  if (typeof value !== 'string' || !/^\d{1,16}$/.test(value)) return undefined;
  const ms = Number(value);
  return Number.isSafeInteger(ms) && ms > 0 ? ms : undefined;
}

/**
 * A record from its fields (HMGET state, since, reason, retryAt), read strictly: a state that is
 * not one of BREAKER_STATES is closed, a malformed time undefined, a reason cut to
 * MAX_REASON_LENGTH. Pure.
 */
export function breakerRecord(fields: ReadonlyArray<unknown>): BreakerRecord {
  const [state, since, reason, retryAt] = fields;
  return {
    state: (BREAKER_STATES as readonly unknown[]).includes(state) ? (state as BreakerState) : 'closed',
    since: timeOf(since),
    reason: typeof reason === 'string' && reason !== '' ? reason.slice(0, MAX_REASON_LENGTH) : undefined,
    retryAt: timeOf(retryAt),
  };
}

export const BREAKER_FIELDS = ['state', 'since', 'reason', 'retryAt'] as const;

export interface BreakerReport {
  now: number;
  ok: number;
  failed: number;
  /** Failed attempts after the last successful one of this report. */
  trailing: number;
  /** The last failure's code (for the reason). */
  code: string;
  /** Set when this report is the probe's outcome. */
  probe?: string | undefined;
}

/** Records attempts; returns the breaker's record after them, and whether they moved it. */
export async function reportAttempts(
  redis: Redis,
  key: string,
  report: BreakerReport,
  settings: CircuitBreakerConfig,
): Promise<{ record: BreakerRecord; transitioned: boolean }> {
  const reply = (await BREAKER_REPORT.run(
    redis,
    [key],
    [
      report.now,
      report.ok,
      report.failed,
      report.trailing,
      report.code.slice(0, 60),
      report.probe ?? '',
      settings.consecutiveFailures,
      settings.failureRatio,
      settings.minAttempts,
      settings.window,
      settings.cooldown,
      settings.maxCooldown,
      STREAK_MIN_MS,
    ],
  )) as [string, number, string, string, string];
  const [state, moved, since, reason, retryAt] = reply;
  return { record: breakerRecord([state, since, reason, retryAt]), transitioned: moved === 1 };
}

export type ProbeAnswer = { kind: 'send' } | { kind: 'probe' } | { kind: 'wait'; ms: number };

/** Asks to be the probe of an open breaker. */
export async function askToProbe(
  redis: Redis,
  key: string,
  args: { now: number; token: string; ttlMs: number },
): Promise<ProbeAnswer> {
  const [kind, ms] = (await BREAKER_PROBE.run(redis, [key], [args.now, args.token, args.ttlMs])) as [
    string,
    number | undefined,
  ];
  if (kind === 'wait') return { kind, ms: Math.max(1, Number(ms)) };
  return kind === 'probe' ? { kind } : { kind: 'send' };
}

/** Closes a breaker by hand: its record starts over, closed, saying so. */
export async function closeBreakerByHand(redis: Redis, key: string, now: number): Promise<BreakerRecord> {
  await redis.multi().del(key).hset(key, 'state', 'closed', 'since', now, 'reason', 'closed by hand').exec();
  return { state: 'closed', since: now, reason: 'closed by hand', retryAt: undefined };
}
