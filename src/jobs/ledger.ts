/**
 * The ledger: the latest published state of each user, one Redis string per user,
 *
 *     <version>|<deleted 0|1>|<type>|<event id>|<timestamp>|<snapshot JSON>
 *
 * written only by the publish script, when the version is newer. One string rather than a hash
 * of six fields: a snapshot is longer than Redis keeps in a hash's compact encoding (64 bytes by
 * default), and a hash past it costs about twice the bytes. The head (everything before the
 * snapshot) is at most {@link LEDGER_HEAD_MAX} bytes, so it can be read without the snapshot.
 *
 * Deployments from before kept a hash (fields v, del, type, eid, ts, snap): read as well, and
 * replaced by the string at the user's next publish. Anything else found under a ledger key (a
 * string of another shape, another type) is foreign: never read as a version.
 */
import type { Redis } from '../redis.js';
import type { Keys } from './names.js';

/** What the ledger holds of a user. */
export interface LedgerRecord {
  version: number;
  deleted: boolean;
  /** Type of the latest event. */
  type: string;
  /** Id of the latest event. */
  eventId: string;
  /** The latest event's timestamp (ISO 8601). */
  timestamp: string;
  /** JSON of the latest snapshot; undefined when only the head was read. */
  snapshot: string | undefined;
}

/** A ledger key holds something user-sync did not write: what, in a few words. */
export interface ForeignLedger {
  foreign: string;
}

/**
 * The longest head: a version (16 digits), the flag, a type (at most 19), an event id (at most
 * 128), a timestamp (at most 35) and five separators, rounded up.
 */
export const LEDGER_HEAD_MAX = 256;

const HEAD_RE = /^(\d{1,16})\|([01])\|([a-z._]*)\|([A-Za-z0-9_-]*)\|([^|]*)\|/;

/** The ledger string of a record (what the publish script writes). */
export function formatLedger(record: Omit<LedgerRecord, 'snapshot'> & { snapshot: string }): string {
  return `${record.version}|${record.deleted ? 1 : 0}|${record.type}|${record.eventId}|${record.timestamp}|${record.snapshot}`;
}

/**
 * Reads a ledger string: its head, and its snapshot when the string holds it whole (not when
 * only the first LEDGER_HEAD_MAX bytes were read).
 */
export function parseLedger(raw: string, whole = true): LedgerRecord | ForeignLedger {
  const head = HEAD_RE.exec(raw);
  if (!head) return { foreign: 'a string that is not a ledger entry' };
  const [all, v, del, type, eventId, timestamp] = head as unknown as [string, ...string[]];
  const version = Number(v);
  if (!Number.isSafeInteger(version) || version < 1) return { foreign: `version ${JSON.stringify(v)}` };
  return {
    version,
    deleted: del === '1',
    type: type as string,
    eventId: eventId as string,
    timestamp: timestamp as string,
    snapshot: whole ? raw.slice(all.length) : undefined,
  };
}

/** A ledger hash of an older user-sync (fields v, del, type, eid, ts, snap). */
function fromHash(hash: Record<string, string>): LedgerRecord | ForeignLedger | undefined {
  if (Object.keys(hash).length === 0) return undefined;
  const version = Number(hash.v);
  if (!/^\d{1,16}$/.test(hash.v ?? '') || !Number.isSafeInteger(version) || version < 1)
    return { foreign: 'a hash without a version' };
  return {
    version,
    deleted: hash.del === '1',
    type: hash.type ?? '',
    eventId: hash.eid ?? '',
    timestamp: hash.ts ?? '',
    snapshot: hash.snap,
  };
}

function isWrongType(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('WRONGTYPE');
}

/**
 * The ledger of some users of one partition, in one round trip (two when some are still
 * hashes): undefined for a user it holds nothing of. `snapshots: false` reads only each head.
 */
export async function readLedger(
  redis: Redis,
  keys: Keys,
  userIds: readonly string[],
  options: { snapshots?: boolean } = {},
): Promise<Map<string, LedgerRecord | ForeignLedger | undefined>> {
  const whole = options.snapshots ?? true;
  const pipeline = redis.pipeline();
  for (const id of userIds) {
    if (whole) pipeline.get(keys.ledger(id));
    else pipeline.getrange(keys.ledger(id), 0, LEDGER_HEAD_MAX - 1);
  }
  const replies = (await pipeline.exec()) ?? [];
  const result = new Map<string, LedgerRecord | ForeignLedger | undefined>();
  const hashes: string[] = [];
  userIds.forEach((id, i) => {
    const [error, value] = replies[i] ?? [null, null];
    if (error) {
      if (!isWrongType(error)) throw error;
      hashes.push(id);
    } else if (typeof value !== 'string' || value === '') {
      result.set(id, undefined);
    } else {
      result.set(id, parseLedger(value, whole));
    }
  });
  if (hashes.length > 0) {
    const older = redis.pipeline();
    for (const id of hashes) older.hgetall(keys.ledger(id));
    const rows = (await older.exec()) ?? [];
    hashes.forEach((id, i) => {
      const [error, value] = rows[i] ?? [null, null];
      if (error) {
        if (!isWrongType(error)) throw error;
        result.set(id, { foreign: 'a key of another type' });
      } else {
        result.set(id, fromHash((value ?? {}) as Record<string, string>));
      }
    });
  }
  return result;
}

/** True for a record user-sync wrote (not absent, not foreign). */
export function isLedgerRecord(entry: LedgerRecord | ForeignLedger | undefined): entry is LedgerRecord {
  return entry !== undefined && !('foreign' in entry);
}

/**
 * Lua: `ledger_read(key)` returns nil when the ledger holds nothing of the user, false when the
 * key holds something user-sync did not write, else a table {v, del, type, eid, ts, snap} of
 * strings; `ledger_write(key, v, del, type, eid, ts, snap)` writes the string (replacing an older
 * hash). Included by the scripts that read or write the ledger.
 */
export const LEDGER_LUA = `
local function ledger_read(key)
  local raw = redis.pcall('GET', key)
  if type(raw) == 'table' then
    if redis.call('TYPE', key).ok ~= 'hash' then return false end
    local h = redis.call('HMGET', key, 'v', 'del', 'type', 'eid', 'ts', 'snap')
    if not h[1] or not string.match(h[1], '^%d+$') or tonumber(h[1]) < 1 then return false end
    return { v = h[1], del = h[2] or '0', type = h[3] or '', eid = h[4] or '', ts = h[5] or '', snap = h[6] or '' }
  end
  if not raw or raw == '' then return nil end
  local v, del, etype, eid, ts, at = string.match(raw, '^(%d+)|([01])|([%l._]*)|([%w_%-]*)|([^|]*)|()')
  if not v or string.len(v) > 16 or tonumber(v) < 1 then return false end
  return { v = v, del = del, type = etype, eid = eid, ts = ts, snap = string.sub(raw, at) }
end

local function ledger_write(key, v, del, etype, eid, ts, snap)
  redis.call('SET', key, v .. '|' .. del .. '|' .. etype .. '|' .. eid .. '|' .. ts .. '|' .. snap)
end
`;
