/**
 * Finding one user's jobs without an index by user: a bounded scan, in Redis, of one list or
 * sorted set of job ids (a queue's `wait`, `delayed`, `active`, `failed`, …, or the dead-letter
 * index of a target), reading each job's `data` field and keeping the ids whose data names the
 * user. Bull Board cannot search jobs by payload; this is what `lookupUser` uses for the jobs
 * whose ids it cannot derive from the ledger. Each call reads at most one page, so no call holds
 * Redis for long; the caller pages up to its own bound.
 */
import { LuaScript, type Redis } from '../redis.js';

/**
 * KEYS: the list or sorted set of job ids. ARGV: [1] `list`, `zset` (oldest first) or `zset-rev`
 * (newest first), [2] the prefix of a job's hash key (`<prefix>:<queue>:`), [3] offset, [4]
 * page size, [5..] needles: plain substrings, one of which the job's data must hold.
 * Every job hash shares the hash tag of KEYS[1] (BullMQ's layout), so the script stays in one
 * Redis Cluster slot. Returns {size of the list or set, id…} (the ids matched in this page).
 * Needles are found with `string.find(…, 1, true)`: plain text, never a pattern.
 */
const SCAN_USER_JOBS = new LuaScript(
  `
local kind, jobPrefix = ARGV[1], ARGV[2]
local from = tonumber(ARGV[3])
local to = from + tonumber(ARGV[4]) - 1
local size, ids
if kind == 'list' then
  size = redis.call('LLEN', KEYS[1])
  ids = redis.call('LRANGE', KEYS[1], from, to)
elseif kind == 'zset-rev' then
  size = redis.call('ZCARD', KEYS[1])
  ids = redis.call('ZREVRANGE', KEYS[1], from, to)
else
  size = redis.call('ZCARD', KEYS[1])
  ids = redis.call('ZRANGE', KEYS[1], from, to)
end
local out = { size }
for _, id in ipairs(ids) do
  local data = redis.call('HGET', jobPrefix .. id, 'data')
  if data then
    for n = 5, #ARGV do
      if string.find(data, ARGV[n], 1, true) then
        out[#out + 1] = id
        break
      end
    end
  end
end
return out
`,
  1,
);

/** How a list of job ids is kept. */
export type IdListKind = 'list' | 'zset' | 'zset-rev';

/** What a scan of one list found. */
export interface UserJobScan {
  /** Ids whose data names the user (to be confirmed by reading the job: a needle is text). */
  ids: string[];
  /** Size of the list or set when the scan ended. */
  size: number;
  /** Entries read. */
  scanned: number;
  /** True when the list held more than the bound: entries beyond it were not read. */
  truncated: boolean;
}

/** The texts a job's JSON data holds when it belongs to the user: `"userId":"42"`, `"userId":42,`, `"userId":42}`. */
export function userIdNeedles(userId: string): string[] {
  return [`"userId":${JSON.stringify(userId)}`, `"userId":${userId},`, `"userId":${userId}}`];
}

/**
 * Scans up to `limit` entries of one list or sorted set of job ids, `page` at a time, for the
 * jobs whose data names `userId` (already validated as an id: letters, digits, `_`, `-`).
 */
export async function scanUserJobs(
  redis: Redis,
  args: {
    key: string;
    kind: IdListKind;
    jobKeyPrefix: string;
    userId: string;
    limit: number;
    page?: number;
  },
): Promise<UserJobScan> {
  const page = Math.max(1, Math.min(args.page ?? 1000, args.limit));
  const needles = userIdNeedles(args.userId);
  const ids = new Set<string>();
  let size = 0;
  let scanned = 0;
  for (let offset = 0; offset < args.limit; offset += page) {
    const count = Math.min(page, args.limit - offset);
    const reply = (await SCAN_USER_JOBS.run(
      redis,
      [args.key],
      [args.kind, args.jobKeyPrefix, offset, count, ...needles],
    )) as Array<number | string>;
    size = Number(reply[0] ?? 0);
    for (const id of reply.slice(1)) ids.add(String(id));
    scanned = Math.min(size, offset + count);
    if (offset + count >= size) break;
  }
  return { ids: [...ids], size, scanned, truncated: size > scanned };
}
