/**
 * What a Redis target holds and how it is written: the key of a user, the tombstone a delete
 * leaves, and the compare-by-version write that never lets an older version replace a newer
 * one — one Lua script behind one typed function.
 */
import type { UserId } from '../../events.js';
import { LuaScript, type Redis } from '../../redis.js';
import type { ForeignValue } from '../executor.js';

/** The key a Redis target keeps a user under: every `{id}` in `template` replaced by the user id. */
export function userKey(template: string, userId: UserId): string {
  return template.split('{id}').join(String(userId));
}

/** The key of the tombstone a delete leaves beside the user key: `<userKey>:tombstone`. */
export function tombstoneKey(key: string): string {
  return `${key}:tombstone`;
}

/**
 * Compare-by-version write or delete, atomically.
 * KEYS: userKey, tombstoneKey. ARGV: op (`set` | `del`), version, JSON value, tombstone TTL (ms).
 * The value's version is its `version` field (0 when the value is missing, not JSON or has
 * none). A value whose `version` is anything but a whole number from 0 to 2^53 - 1 (a string,
 * a fraction, 1e400 read as infinity) is foreign: nothing is changed and -1 is returned, so that
 * it is reported instead of read as newer than anything.
 * `set` applies when the version is above both the value's and the tombstone's. `del` applies
 * unless the value is newer: it removes the value (one at or below its version, e.g. a cache
 * refilled behind user-sync's back while the tombstone still lived) and raises the tombstone.
 * Returns 1 when something changed, 0 when the target already held this version or a newer one.
 */
const COMPARE_AND_WRITE = new LuaScript(
  `
local held = 0
local raw = redis.call('GET', KEYS[1])
if raw then
  local ok, decoded = pcall(cjson.decode, raw)
  if ok and type(decoded) == 'table' and decoded.version ~= nil then
    local v = decoded.version
    if type(v) ~= 'number' or v ~= v or v < 0 or v > 9007199254740991 or v ~= math.floor(v) then
      return -1
    end
    held = v
  end
end
local tomb = tonumber(redis.call('GET', KEYS[2])) or 0
local requested = tonumber(ARGV[2])
if not requested then
  return redis.error_reply('ERR user-sync: version is not a number')
end
if ARGV[1] == 'set' then
  if requested <= held or requested <= tomb then
    return 0
  end
  redis.call('SET', KEYS[1], ARGV[3])
  return 1
elseif ARGV[1] == 'del' then
  if raw and held > requested then
    return 0
  end
  local changed = 0
  if raw then
    redis.call('DEL', KEYS[1])
    changed = 1
  end
  if requested > tomb then
    redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[4])
    changed = 1
  end
  return changed
end
return redis.error_reply('ERR user-sync: unknown op ' .. tostring(ARGV[1]))
`,
  2,
);

/** What the Redis target stores at a user's key. */
export interface StoredUser {
  version: number;
  user: unknown;
  updatedAt: string;
}

/**
 * Parses a stored value: the version it holds; null when there is none (no value, not JSON, no
 * `version` field); a ForeignValue when its `version` is not a whole number from 0 to 2^53 - 1.
 */
export function storedVersion(raw: string | null): number | null | ForeignValue {
  if (raw === null) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null || !('version' in parsed)) return null;
  const { version } = parsed;
  if (Number.isSafeInteger(version) && (version as number) >= 0) return version as number;
  return { foreign: `its version is ${describe(version)}, not a whole number from 0 to 2^53 - 1` };
}

function describe(value: unknown): string {
  const text = typeof value === 'number' ? String(value) : JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

/** A write to a Redis target: the user's new value, or its deletion (leaving a tombstone). */
export type TargetWrite =
  { op: 'set'; version: number; value: string } | { op: 'del'; version: number; tombstoneTtlMs: number };

/**
 * Applies a write by version (see COMPARE_AND_WRITE). `applied` when it changed the target,
 * `unchanged` when the target already held this version or a newer one, `foreign` when the key
 * holds a value whose version is not one (nothing changed).
 */
export async function compareAndWrite(
  client: Redis,
  key: string,
  write: TargetWrite,
): Promise<'applied' | 'unchanged' | 'foreign'> {
  const reply = await COMPARE_AND_WRITE.run(
    client,
    [key, tombstoneKey(key)],
    write.op === 'set'
      ? ['set', String(write.version), write.value, '0']
      : ['del', String(write.version), '', String(Math.ceil(write.tombstoneTtlMs))],
  );
  if (reply === 1) return 'applied';
  if (reply === 0) return 'unchanged';
  if (reply === -1) return 'foreign';
  throw new Error(`unexpected reply from the compare-and-write script: ${JSON.stringify(reply)}`);
}
