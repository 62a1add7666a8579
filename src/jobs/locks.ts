/**
 * Token locks: a key holding the token of whoever holds it, with a TTL. The per-(target, user)
 * delivery lock (taken by `beginDelivery`) and the sweep's lock are both released and extended
 * only by the token that holds them.
 */
import { LuaScript, type Redis } from '../redis.js';

/** Extends a lock while this token holds it. KEYS: lock. ARGV: token, ttl ms. Returns 1 if extended. */
const LOCK_EXTEND = new LuaScript(
  `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`,
  1,
);

/** Releases a lock if this token still holds it. KEYS: lock. ARGV: token. Returns 1 if released. */
const LOCK_RELEASE = new LuaScript(
  `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`,
  1,
);

/** The lock scripts by name, for SCRIPT_NAMES. */
export const LOCK_SCRIPTS = { LOCK_EXTEND, LOCK_RELEASE };

/** Takes a token lock (the sweep's) unless someone holds it. True if taken. */
export async function acquireLock(redis: Redis, key: string, token: string, ttlMs: number): Promise<boolean> {
  return (await redis.set(key, token, 'PX', ttlMs, 'NX')) === 'OK';
}

/** Extends a token lock (a delivery's, the sweep's) while `token` holds it. True if it did. */
export async function extendLock(redis: Redis, key: string, token: string, ttlMs: number): Promise<boolean> {
  return (await LOCK_EXTEND.run(redis, [key], [token, ttlMs])) === 1;
}

/** Releases a token lock if `token` still holds it. True if it did. */
export async function releaseLock(redis: Redis, key: string, token: string): Promise<boolean> {
  return (await LOCK_RELEASE.run(redis, [key], [token])) === 1;
}
