/**
 * The demo's closing check: for each target, how many users hold the ledger's latest version.
 */
import { isLedgerRecord, readLedger as readEntries } from '../jobs/ledger.js';
import type { Keys, Keyspace } from '../jobs/names.js';
import type { Redis } from '../redis.js';
import { userKey } from '../executors/redis/compare-and-write.js';
import type { ReceivedUser } from './receiver.js';

/** The ledger's latest state of one user. */
export interface LedgerUser {
  id: string;
  version: number;
  deleted: boolean;
}

/** How one target compares with the ledger. */
export interface Comparison {
  /** Users in the ledger. */
  total: number;
  /** Users the target holds at the ledger's version (a deleted user: deleted, or never held). */
  inSync: number;
  /** Ids of the others. */
  behind: string[];
}

const CHUNK = 500;

/** Every user of the ledger (each partition's slice), with its latest version and deleted flag. */
export async function readLedger(redis: Redis, keyspace: Keyspace): Promise<LedgerUser[]> {
  const users: LedgerUser[] = [];
  for (const k of keyspace.all()) users.push(...(await readSlice(redis, k)));
  return users;
}

async function readSlice(redis: Redis, k: Keys): Promise<LedgerUser[]> {
  const ids = await redis.zrange(k.users, 0, -1);
  const users: LedgerUser[] = [];
  for (let start = 0; start < ids.length; start += CHUNK) {
    const chunk = ids.slice(start, start + CHUNK);
    const entries = await readEntries(redis, k, chunk, { snapshots: false });
    for (const [id, entry] of entries) {
      if (isLedgerRecord(entry)) users.push({ id, version: entry.version, deleted: entry.deleted });
    }
  }
  return users;
}

/** Compares what a receiver holds with the ledger. */
export function compareReceiver(ledger: readonly LedgerUser[], held: ReadonlyMap<string, ReceivedUser>) {
  return compare(ledger, (user) => {
    const entry = held.get(user.id);
    if (!entry) return user.deleted;
    return entry.version === user.version && entry.deleted === user.deleted;
  });
}

/** Compares a Redis cache target (values `{ version, user }` at `keyTemplate`) with the ledger. */
export async function compareCache(
  redis: Redis,
  ledger: readonly LedgerUser[],
  keyTemplate: string,
): Promise<Comparison> {
  const versions = new Map<string, number | null>();
  for (let start = 0; start < ledger.length; start += CHUNK) {
    const chunk = ledger.slice(start, start + CHUNK);
    const values = chunk.length ? await redis.mget(...chunk.map((u) => userKey(keyTemplate, u.id))) : [];
    chunk.forEach((user, i) => {
      const raw = values[i];
      let version: number | null = null;
      if (raw) {
        try {
          const parsed = JSON.parse(raw) as { version?: unknown };
          if (typeof parsed.version === 'number') version = parsed.version;
        } catch {
          version = null;
        }
      }
      versions.set(user.id, version);
    });
  }
  return compare(ledger, (user) => {
    const version = versions.get(user.id) ?? null;
    return user.deleted ? version === null : version === user.version;
  });
}

function compare(ledger: readonly LedgerUser[], inSync: (user: LedgerUser) => boolean): Comparison {
  const behind: string[] = [];
  for (const user of ledger) if (!inSync(user)) behind.push(user.id);
  return { total: ledger.length, inSync: ledger.length - behind.length, behind };
}
