/**
 * The backfill's decisions, pure: what one user gets (a delivery of the ledger's latest state, a
 * delete, or nothing and why), the pace, and the progress figures. The run (I/O) is backfill.ts.
 */
import type { SyncConfig, TargetConfig } from '../config/schema.js';
import { targetAccepts } from '../config/targets.js';
import { EventType } from '../events.js';
import { isLedgerRecord, type ForeignLedger, type LedgerRecord } from '../jobs/ledger.js';
import { repairType } from '../sweep/classify.js';

/** What a user gets from a backfill of one target. */
export type BackfillDecision =
  /** The ledger's latest state is sent. */
  | 'send'
  /** The user is deleted and the target keeps tombstones or asks for deletes: a delete is sent. */
  | 'send_delete'
  /** The target's watermark is at or above the ledger's version: nothing to send. */
  | 'in_sync'
  /** The target does not take the latest event's type (its `events` filter). */
  | 'filtered'
  /** The user is deleted and the target neither keeps tombstones nor asks for deletes. */
  | 'delete_skipped'
  /** The ledger key is gone or holds something user-sync did not write. */
  | 'unreadable';

/**
 * Whether a backfill sends deleted users to a target as deletes. A target that never held a user
 * has nothing to delete, so a delete is only worth sending where it leaves something behind or is
 * wanted: a Redis target keeps a tombstone (a late, older write cannot bring the user back), and
 * a target whose `events` filter lists `user.deleted` explicitly asks for deletes. Others (an HTTP
 * target taking every event) get nothing for deleted users. A target restored from a backup that
 * still holds users deleted since is the consistency sweep's to mend: it finds them `extra` and,
 * with autoRepair, sends the deletes.
 */
export function sendsDeletes(target: Pick<TargetConfig, 'kind' | 'events'>): boolean {
  return target.kind === 'redis' || (target.events?.includes(EventType.UserDeleted) ?? false);
}

/**
 * Decides one user. `watermark`: the highest version delivered to the target (0: none);
 * `ignoreWatermarks`: the target lost what it held (restored empty), so its watermarks do not say
 * what it holds — send every user anyway.
 */
export function decideBackfill(
  entry: LedgerRecord | ForeignLedger | undefined,
  watermark: number,
  target: TargetConfig,
  ignoreWatermarks = false,
): BackfillDecision {
  if (!isLedgerRecord(entry)) return 'unreadable';
  if (!targetAccepts(target, { type: repairType(entry) })) return 'filtered';
  if (!ignoreWatermarks && watermark >= entry.version) return 'in_sync';
  if (entry.deleted) return sendsDeletes(target) ? 'send_delete' : 'delete_skipped';
  return 'send';
}

/** How many users a backfill has walked, by what they got. */
export interface BackfillCounts {
  /** Deliveries enqueued (deletes included). */
  enqueued: number;
  /** Of them, deletes. */
  deletes: number;
  inSync: number;
  /** A delivery with the same id (this user, this version, this target) was already in the queue. */
  alreadyQueued: number;
  filtered: number;
  deletesSkipped: number;
  unreadable: number;
}

export function emptyCounts(): BackfillCounts {
  return {
    enqueued: 0,
    deletes: 0,
    inSync: 0,
    alreadyQueued: 0,
    filtered: 0,
    deletesSkipped: 0,
    unreadable: 0,
  };
}

/** Counts a decision that sends nothing. */
export function countSkip(counts: BackfillCounts, decision: BackfillDecision): void {
  if (decision === 'in_sync') counts.inSync++;
  else if (decision === 'filtered') counts.filtered++;
  else if (decision === 'delete_skipped') counts.deletesSkipped++;
  else if (decision === 'unreadable') counts.unreadable++;
}

/** Enqueued per second at most: the `rate` asked for, else the target's `rateLimit`, else none (undefined). */
export function backfillRate(target: Pick<TargetConfig, 'rateLimit'>, rate?: number): number | undefined {
  if (rate !== undefined) return rate;
  const limit = target.rateLimit;
  return limit ? (limit.max * 1000) / limit.duration : undefined;
}

/**
 * The backlog a backfill keeps the target below by default: a quarter of `queueSize`, so that
 * publishing (refused at `queueSize`) always has three quarters of the cap.
 */
export function defaultMaxBacklog(config: Pick<SyncConfig, 'queueSize'>): number {
  return Math.max(1, Math.floor(config.queueSize / 4));
}

/**
 * Users read at a time: `chunkSize`, no more than the backlog bound (a chunk must fit under it)
 * and, when paced, about one second's worth.
 */
export function chunkUsers(chunkSize: number, maxBacklog: number, rate: number | undefined): number {
  const paced = rate === undefined ? chunkSize : Math.max(1, Math.ceil(rate));
  return Math.max(1, Math.min(chunkSize, maxBacklog, paced));
}

/**
 * How long to wait before enqueuing more so that `sent` deliveries since `startedMs` keep to
 * `rate` per second (0: go on now).
 */
export function paceDelayMs(
  sent: number,
  rate: number | undefined,
  startedMs: number,
  nowMs: number,
): number {
  if (rate === undefined || rate <= 0) return 0;
  return Math.max(0, Math.ceil(startedMs + (sent / rate) * 1000 - nowMs));
}

/** Users per second walked in this session, and seconds left at that pace (undefined before any). */
export function estimate(args: { total: number; done: number; doneAtStart: number; elapsedMs: number }): {
  ratePerSecond: number;
  etaSeconds: number | undefined;
} {
  const walked = args.done - args.doneAtStart;
  const ratePerSecond = args.elapsedMs > 0 ? (walked * 1000) / args.elapsedMs : 0;
  const left = Math.max(0, args.total - args.done);
  return {
    ratePerSecond: Math.round(ratePerSecond * 10) / 10,
    etaSeconds: left === 0 ? 0 : ratePerSecond > 0 ? Math.ceil(left / ratePerSecond) : undefined,
  };
}
