/**
 * What a Redis target holds and how it is written: the key of a user, the tombstone a delete
 * leaves, and the compare-by-version write that never lets an older version replace a newer
 * one — one Lua script behind one typed function.
 */
import type { UserId } from '../../events.js';
import { LuaScript, type Redis } from '../../redis.js';

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
 * The version held is the larger of the stored value's `version` (0 when the value is missing,
 * not JSON or has no numeric version) and the tombstone's. Returns 0 when the requested version
 * is not above it (nothing changed), 1 when the write or delete was applied.
 */
const COMPARE_AND_WRITE = new LuaScript(
  `
local current = 0
local raw = redis.call('GET', KEYS[1])
if raw then
  local ok, decoded = pcall(cjson.decode, raw)
  if ok and type(decoded) == 'table' and type(decoded.version) == 'number' then
    current = decoded.version
  end
end
local tomb = tonumber(redis.call('GET', KEYS[2]))
if tomb and tomb > current then
  current = tomb
end
local requested = tonumber(ARGV[2])
if not requested then
  return redis.error_reply('ERR user-sync: version is not a number')
end
if requested <= current then
  return 0
end
if ARGV[1] == 'del' then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[4])
elseif ARGV[1] == 'set' then
  redis.call('SET', KEYS[1], ARGV[3])
else
  return redis.error_reply('ERR user-sync: unknown op ' .. tostring(ARGV[1]))
end
return 1
`,
  2,
);

/** What the Redis target stores at a user's key. */
export interface StoredUser {
  version: number;
  user: unknown;
  updatedAt: string;
}

/** Parses a stored value; the version it holds, or null when it cannot be read. */
export function storedVersion(raw: string | null): number | null {
  if (raw === null) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null || !('version' in parsed)) return null;
  const { version } = parsed;
  return typeof version === 'number' && Number.isFinite(version) ? version : null;
}

/** A write to a Redis target: the user's new value, or its deletion (leaving a tombstone). */
export type TargetWrite =
  { op: 'set'; version: number; value: string } | { op: 'del'; version: number; tombstoneTtlMs: number };

/**
 * Applies a write if its version is above the one the target holds (its value's or its
 * tombstone's). `applied` when it changed the target, `unchanged` when the target already
 * held this version or a newer one.
 */
export async function compareAndWrite(
  client: Redis,
  key: string,
  write: TargetWrite,
): Promise<'applied' | 'unchanged'> {
  const reply = await COMPARE_AND_WRITE.run(
    client,
    [key, tombstoneKey(key)],
    write.op === 'set'
      ? ['set', String(write.version), write.value, '0']
      : ['del', String(write.version), '', String(Math.ceil(write.tombstoneTtlMs))],
  );
  if (reply === 1) return 'applied';
  if (reply === 0) return 'unchanged';
  throw new Error(`unexpected reply from the compare-and-write script: ${JSON.stringify(reply)}`);
}
