/**
 * Where a target's backfill stands, kept in Redis (`<prefix>:backfill:<service>`, one JSON
 * string) after every chunk, so that a backfill that dies — killed, its machine lost, Ctrl-C —
 * is continued by the next one from its cursors rather than started over. Read back through a
 * schema: a value that is not what a backfill wrote is refused with what to do (`--restart`).
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { UserSyncError, firstIssue } from '../errors.js';
import type { DeploymentKeys } from '../jobs/names.js';
import type { Redis } from '../redis.js';
import { emptyCounts, type BackfillCounts } from './backfill-plan.js';

/** A backfill run of one target. */
export interface BackfillState {
  runId: string;
  service: string;
  status: 'running' | 'done';
  startedAt: string;
  updatedAt: string;
  finishedAt?: string | undefined;
  /** Sent every user whatever its watermark (the target was restored empty). */
  ignoreWatermarks: boolean;
  /** Users in the ledger when the run began. */
  total: number;
  /** Users walked so far. */
  done: number;
  /** Per partition: the last user id walked ('' = none yet), and whether its walk is over. */
  cursors: string[];
  finished: boolean[];
  counts: BackfillCounts;
}

const count = z.number().int().min(0);

const stateSchema = z.object({
  runId: z.string().min(1).max(64),
  service: z.string().min(1).max(64),
  status: z.enum(['running', 'done']),
  startedAt: z.string().max(40),
  updatedAt: z.string().max(40),
  finishedAt: z.string().max(40).optional(),
  ignoreWatermarks: z.boolean(),
  total: count,
  done: count,
  cursors: z.array(z.string().max(128)).max(1024),
  finished: z.array(z.boolean()).max(1024),
  counts: z.object({
    enqueued: count,
    deletes: count,
    inSync: count,
    alreadyQueued: count,
    filtered: count,
    deletesSkipped: count,
    unreadable: count,
  }),
});

/** The stored state of a target's backfill is not what a backfill writes. */
export class BackfillStateError extends UserSyncError {
  constructor(key: string, why: string) {
    super(
      'USER_SYNC_ERR_REDIS',
      `the backfill state at ${key} is not readable (${why}): run the backfill with --restart (restart: true) to start over`,
    );
  }
}

/** The stored state of a target's backfill, or undefined when none was stored. */
export async function readBackfillState(
  redis: Redis,
  keys: DeploymentKeys,
  service: string,
  partitions: number,
): Promise<BackfillState | undefined> {
  const key = keys.backfill(service);
  const raw = await redis.get(key);
  if (raw === null) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new BackfillStateError(key, 'not JSON');
  }
  const parsed = stateSchema.safeParse(value);
  if (!parsed.success) {
    const { path, message } = firstIssue(parsed.error);
    throw new BackfillStateError(key, `${path || 'value'}: ${message}`);
  }
  const state = parsed.data;
  if (state.service !== service)
    throw new BackfillStateError(key, `it names target ${JSON.stringify(state.service)}`);
  if (state.cursors.length !== partitions || state.finished.length !== partitions)
    throw new BackfillStateError(
      key,
      `it has ${state.cursors.length} partitions, the deployment ${partitions}`,
    );
  return state;
}

/** A new run over `total` users in `partitions` partitions. */
export function newBackfillState(
  service: string,
  partitions: number,
  total: number,
  ignoreWatermarks: boolean,
  now: number,
): BackfillState {
  const at = new Date(now).toISOString();
  return {
    runId: randomUUID(),
    service,
    status: 'running',
    startedAt: at,
    updatedAt: at,
    ignoreWatermarks,
    total,
    done: 0,
    cursors: Array.from({ length: partitions }, () => ''),
    finished: Array.from({ length: partitions }, () => false),
    counts: emptyCounts(),
  };
}

/** Stores the state (kept after the run ends, for `done` and its figures). */
export async function writeBackfillState(
  redis: Redis,
  keys: DeploymentKeys,
  state: BackfillState,
): Promise<void> {
  await redis.set(keys.backfill(state.service), JSON.stringify(state));
}
