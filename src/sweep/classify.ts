/**
 * The consistency sweep's decisions, pure: how a (user, target) pair compares with the ledger,
 * what a repair carries, and the figures of a run.
 */
import { createHash } from 'node:crypto';
import { EventType, isEventType } from '../events.js';
import type { ForeignValue } from '../executors/executor.js';

/** How a (user, target) pair compares with the ledger. */
export type SweepClass =
  'in_sync' | 'missing' | 'stale' | 'extra' | 'foreign' | 'unreachable' | 'unchecked' | 'filtered';
export const SWEEP_CLASSES: readonly SweepClass[] = [
  'in_sync',
  'missing',
  'stale',
  'extra',
  'foreign',
  'unreachable',
  'unchecked',
  'filtered',
];

/** The classes that a repair can mend. */
export const REPAIRABLE: ReadonlySet<SweepClass> = new Set(['missing', 'stale', 'extra']);

/** Figures of one target in one run. */
export type TargetSweepFigures = Record<SweepClass, number> & { repairs: number };

/** One run of the consistency sweep. */
export interface SweepRun {
  id: string;
  trigger: 'scheduled' | 'manual';
  /** The scheduler's interval this run belongs to (scheduled runs). */
  interval?: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  usersChecked: number;
  chunks: number;
  /**
   * Ledger position (user id, '' = the start) where the run began and where it stopped; with
   * more than one partition, see `partitions`.
   */
  cursorFrom: string;
  cursorTo: string;
  /** True when the run reached the end of the ledger (the next run starts over). */
  passCompleted: boolean;
  stoppedBy: 'end' | 'users' | 'time' | 'aborted' | 'error';
  autoRepair: boolean;
  repairsEnqueued: number;
  targets: Record<string, TargetSweepFigures>;
  /** With more than one partition: where the run began and stopped in each it walked. */
  partitions?: Array<{
    partition: number;
    cursorFrom: string;
    cursorTo: string;
    usersChecked: number;
    passCompleted: boolean;
  }>;
  error?: string;
}

/** What a ledger entry says of a user, as far as the sweep needs. */
export interface LedgerState {
  version: number;
  deleted: boolean;
  /** Type of the latest event. */
  type: string;
}

/**
 * Compares what a target holds with the ledger. `held` is the target's version, null when it
 * holds nothing (or a tombstone), or a ForeignValue when what it holds has no readable version
 * (`foreign`: reported, not repaired — a repair could not compare with it). A target ahead of
 * the ledger is in sync, deleted users included: never repaired backwards.
 */
export function classify(
  ledger: LedgerState,
  held: number | null | ForeignValue,
): 'in_sync' | 'missing' | 'stale' | 'extra' | 'foreign' {
  if (held !== null && typeof held === 'object') return 'foreign';
  if (ledger.deleted) return held === null || held > ledger.version ? 'in_sync' : 'extra';
  if (held === null) return 'missing';
  return held < ledger.version ? 'stale' : 'in_sync';
}

/** The event type a repair carries: the latest event's, or a delete. */
export function repairType(ledger: LedgerState): EventType {
  if (ledger.deleted) return EventType.UserDeleted;
  return isEventType(ledger.type) && ledger.type !== EventType.UserDeleted
    ? ledger.type
    : EventType.UserCreated;
}

/** Longest event id a delivery accepts (the job data's `eventId`). */
const MAX_EVENT_ID = 128;

/**
 * The deterministic event id of a repair: the same drift found twice is one job.
 * `repair-v<version>-<userId>`, or, when that would be longer than an event id may be (user ids
 * run to 128 characters), `repair-v<version>-h<sha256 of the user id, 40 hex digits>`.
 */
export function repairEventId(userId: string, version: number): string {
  const plain = `repair-v${version}-${userId}`;
  if (plain.length <= MAX_EVENT_ID) return plain;
  return `repair-v${version}-h${createHash('sha256').update(userId).digest('hex').slice(0, 40)}`;
}

export function emptyFigures(): TargetSweepFigures {
  return {
    in_sync: 0,
    missing: 0,
    stale: 0,
    extra: 0,
    foreign: 0,
    unreachable: 0,
    unchecked: 0,
    filtered: 0,
    repairs: 0,
  };
}
