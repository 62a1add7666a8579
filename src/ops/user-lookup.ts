/**
 * "Where is user 42?": one user as the deployment knows it — its partition, what the ledger holds
 * (version, deleted flag, latest event, a summary of the snapshot with personal values masked
 * unless revealed), and per target the watermark, whether it is in sync, and the user's pending,
 * retrying, active and dead deliveries with their last errors. Read-only; what it had to scan to
 * find the deliveries is part of the answer (see user-jobs.ts).
 */
import type { SyncConfig, TargetConfig } from '../config/schema.js';
import { targetAccepts } from '../config/targets.js';
import { UserSyncError } from '../errors.js';
import type { DeadLetters } from '../jobs/dead-letter-store.js';
import { ID_MESSAGE, ID_RE } from '../jobs/event-fields.js';
import { isLedgerRecord, readLedger, type LedgerRecord } from '../jobs/ledger.js';
import { taskId, type Keyspace } from '../jobs/names.js';
import type { QueueSet } from '../jobs/queues.js';
import type { Redis } from '../redis.js';
import { repairEventId, repairType } from '../sweep/classify.js';
import { summarizeSnapshot, type SnapshotSummary } from './snapshot-summary.js';
import { findUserJobs, type UserJobs } from './user-jobs.js';

/** Entries read per queue list (and per dead-letter index) at most, by default. */
export const DEFAULT_SCAN_LIMIT = 10_000;

export interface LookupOptions {
  /** Show the snapshot's personal values unmasked (the dashboard allows it to operators only). */
  reveal?: boolean;
  /** Entries read per list at most (default 10,000). */
  scanLimit?: number;
}

/**
 * What a target's watermark says of the user, against the ledger (what user-sync delivered there,
 * not what the target holds now: the consistency sweep asks the target itself):
 * `in_sync` — the watermark is at or above the ledger's version, or, for a deleted user, nothing
 * was ever delivered there (the target holds nothing, which is what the sweep calls in sync);
 * `missing` — nothing delivered; `stale` — an older version delivered; `extra` — the user is
 * deleted but the target was last sent an older, live version; `filtered` — the target does not
 * take the latest event's type (its `events` filter), so the watermark says nothing.
 */
export type WatermarkSync = 'in_sync' | 'missing' | 'stale' | 'extra' | 'filtered';

/** How a watermark compares with the ledger (see {@link WatermarkSync}). Pure. */
export function watermarkSync(
  ledger: Pick<LedgerRecord, 'version' | 'deleted' | 'type'>,
  watermark: number,
  target: TargetConfig,
): WatermarkSync {
  if (!targetAccepts({ ...target, enabled: true }, { type: repairType(ledger) })) return 'filtered';
  if (watermark >= ledger.version) return 'in_sync';
  if (ledger.deleted) return watermark === 0 ? 'in_sync' : 'extra';
  return watermark === 0 ? 'missing' : 'stale';
}

/** One target, for one user: its watermark and sync, and that user's deliveries there. */
export interface TargetLookup extends UserJobs {
  service: string;
  kind: string;
  enabled: boolean;
  /** Highest version delivered there (0: none). */
  watermark: number;
  sync: WatermarkSync | 'no_ledger';
  /** `sync` is `in_sync`; null when it cannot say (filtered, or the ledger holds nothing). */
  inSync: boolean | null;
}

/** The answer of a lookup. */
export interface UserLookup {
  userId: string;
  partition: number;
  /** What the ledger holds; null when it holds nothing of the user. */
  ledger: {
    version: number;
    deleted: boolean;
    type: string;
    eventId: string;
    timestamp: string;
    snapshot: SnapshotSummary;
  } | null;
  /** Set when the user's ledger key holds something user-sync did not write. */
  foreign?: string;
  targets: TargetLookup[];
  /** Entries read per list at most. */
  scanLimit: number;
  /** True when some list was longer than scanLimit (deliveries beyond it were not looked for). */
  truncated: boolean;
}

export interface LookupDeps {
  redis: Redis;
  keyspace: Keyspace;
  config: SyncConfig;
  queues: QueueSet;
  deadLetters: DeadLetters;
}

/**
 * A user id as an operator types it (CLI argument, URL path): the rules of a publish's string id
 * (1-128 letters, digits, `_`, `-`; a numeric id in its decimal form). Anything else — path
 * characters, `*`, unicode, longer — is an error (code USER_SYNC_ERR_VALIDATION) naming `id`, before anything reaches Redis.
 */
export function parseUserId(text: unknown): string {
  if (typeof text !== 'string' || !ID_RE.test(text))
    throw new UserSyncError('USER_SYNC_ERR_VALIDATION', `id: ${ID_MESSAGE} (a user id as published)`);
  return text;
}

/** Looks one user up across the deployment (see the file's comment). */
export async function lookupUser(
  deps: LookupDeps,
  id: string,
  options: LookupOptions = {},
): Promise<UserLookup> {
  const userId = parseUserId(id);
  const scanLimit = options.scanLimit ?? DEFAULT_SCAN_LIMIT;
  if (!Number.isSafeInteger(scanLimit) || scanLimit < 1)
    throw new UserSyncError('USER_SYNC_ERR_VALIDATION', 'scanLimit: must be a whole number above 0');
  const reveal = options.reveal === true;
  const { redis, keyspace, config } = deps;
  const partition = keyspace.partitionOf(userId);
  const keys = keyspace.partition(partition);
  const entry = (await readLedger(redis, keys, [userId])).get(userId);
  const ledger = isLedgerRecord(entry) ? entry : undefined;

  const watermarks = redis.pipeline();
  for (const target of config.targets) watermarks.hget(keys.watermark(target.service), userId);
  const marks = (await watermarks.exec()) ?? [];

  const targets: TargetLookup[] = [];
  for (const [i, target] of config.targets.entries()) {
    const watermark = Number(marks[i]?.[1] ?? 0) || 0;
    const knownIds = ledger
      ? [
          taskId(ledger.eventId, target.service),
          taskId(repairEventId(userId, ledger.version), target.service),
        ]
      : [];
    const jobs = await findUserJobs({
      redis,
      queues: deps.queues,
      deadLetters: deps.deadLetters,
      deploymentKeys: keyspace.deployment,
      service: target.service,
      partition,
      userId,
      knownIds: [...new Set(knownIds)],
      scanLimit,
      reveal,
    });
    const sync = ledger ? watermarkSync(ledger, watermark, target) : 'no_ledger';
    targets.push({
      service: target.service,
      kind: target.kind,
      enabled: target.enabled,
      watermark,
      sync,
      inSync: sync === 'filtered' || sync === 'no_ledger' ? null : sync === 'in_sync',
      ...jobs,
    });
  }
  return {
    userId,
    partition,
    ledger: ledger
      ? {
          version: ledger.version,
          deleted: ledger.deleted,
          type: ledger.type,
          eventId: ledger.eventId,
          timestamp: ledger.timestamp,
          snapshot: summarizeSnapshot(ledger.snapshot, reveal),
        }
      : null,
    ...(entry && !isLedgerRecord(entry) ? { foreign: entry.foreign } : {}),
    targets,
    scanLimit,
    truncated: targets.some((t) => t.truncated),
  };
}
