/**
 * The consistency sweep's run (I/O): walks the ledger in chunks from a persisted cursor, reads
 * what each target holds, classifies (src/sweep/classify.ts), and with `autoRepair` enqueues
 * repairs through the publisher's own fan-out.
 */
import { randomUUID } from 'node:crypto';
import type { SyncConfig, TargetConfig } from '../config/schema.js';
import { targetAccepts } from '../config/targets.js';
import { toError } from '../errors.js';
import type { ExecutionContext, Executor, TargetVersions } from '../executors/executor.js';
import type { DeploymentKeys, Keys, Keyspace } from '../jobs/names.js';
import { isLedgerRecord, readLedger } from '../jobs/ledger.js';
import type { QueueSet } from '../jobs/queues.js';
import { acquireLock, extendLock, releaseLock } from '../jobs/locks.js';
import type { Logger } from '../logger.js';
import type { Redis } from '../redis.js';
import {
  REPAIRABLE,
  classify,
  emptyFigures,
  repairType,
  type LedgerState,
  type SweepRun,
  type TargetSweepFigures,
} from './classify.js';
import { enqueueRepairs, planRepairs, type Repair } from './repairs.js';

export interface SweepDeps {
  redis: Redis;
  keyspace: Keyspace;
  config: SyncConfig;
  queues: QueueSet;
  logger: Logger;
  /** The executor of a target, to read its state; undefined when it has none. */
  stateReader: (target: TargetConfig) => Executor | undefined;
  now?: () => number;
}

export interface SweepOptions {
  trigger?: 'scheduled' | 'manual';
  interval?: string;
  /** Called after each chunk. */
  onProgress?: (progress: {
    usersChecked: number;
    cursor: string;
    chunks: number;
    partition: number;
  }) => void;
  signal?: AbortSignal;
}

/** The sweep lock outlives the run's time budget by this much (a run that died leaves it). */
const LOCK_MARGIN_MS = 60_000;

/** Partitions swept at once (each one chunk at a time). */
export const SWEEP_LANES = 4;

/** Where a run got to in one partition. */
interface PartitionProgress {
  partition: number;
  cursorFrom: string;
  cursor: string;
  usersChecked: number;
  /** The walk of this partition reached its end in this run (its cursor starts over). */
  completed: boolean;
}

/** Where a run got to. */
interface Progress {
  usersChecked: number;
  /** Users of chunks being read now, counted against the budget before they are done. */
  reserved: number;
  chunks: number;
  repairsEnqueued: number;
  stoppedBy: SweepRun['stoppedBy'] | undefined;
  error?: string;
  partitions: PartitionProgress[];
}

/**
 * Runs the consistency sweep once: walks each partition's slice of the ledger from its
 * persisted cursor a chunk at a time (at most SWEEP_LANES partitions at once, one chunk each
 * in memory), asks every enabled target that can report state for the versions it holds (one
 * batched read per chunk and target), classifies each (user, target), and with `autoRepair`
 * enqueues one repair delivery per mismatch. Stops when every partition reached its end or at
 * the per-run budget (users across partitions, time); cursors are saved after every chunk, so a
 * run that dies is resumed by the next, and a run cut short by its budget is followed by one
 * that starts with the partitions it did not finish. Returns undefined when another sweep holds
 * the lock; the lock is released however the run ends.
 */
export async function runSweep(deps: SweepDeps, options: SweepOptions = {}): Promise<SweepRun | undefined> {
  const { redis, keyspace, config, logger } = deps;
  const token = randomUUID();
  const lock = keyspace.deployment.sweepLock;
  if (!(await acquireLock(redis, lock, token, config.sweep.maxRunTime + LOCK_MARGIN_MS))) {
    logger.info('sweep skipped: another sweep is running');
    return undefined;
  }
  try {
    return await sweepLocked(deps, options, token);
  } finally {
    await releaseLock(redis, lock, token).catch(() => undefined);
  }
}

/** The run itself, under the lock held with `token`. */
async function sweepLocked(deps: SweepDeps, options: SweepOptions, token: string): Promise<SweepRun> {
  const { redis, keyspace, config, logger } = deps;
  const now = deps.now ?? Date.now;
  const budget = config.sweep;
  const started = now();
  const targets = config.targets.filter((t) => t.enabled);
  const figures: Record<string, TargetSweepFigures> = Object.fromEntries(
    targets.map((t) => [t.service, emptyFigures()]),
  );
  const progress: Progress = {
    usersChecked: 0,
    reserved: 0,
    chunks: 0,
    repairsEnqueued: 0,
    stoppedBy: undefined,
    partitions: [],
  };
  // One signal for the run: the caller's (shutdown) or the time budget, whichever comes first;
  // it reaches the state reads in flight too.
  const run = new AbortController();
  const onAbort = () => run.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) run.abort();
  const budgetTimer = setTimeout(() => run.abort(), budget.maxRunTime);
  const stopReason = (): SweepRun['stoppedBy'] => (options.signal?.aborted ? 'aborted' : 'time');
  const stop = (reason: SweepRun['stoppedBy']) => (progress.stoppedBy ??= reason);

  /** Walks one partition chunk by chunk until its end, the budget, or a stop. */
  async function sweepPartition(partition: number): Promise<void> {
    const keys = keyspace.partition(partition);
    const cursorFrom = (await redis.get(keys.sweepCursor)) ?? '';
    const mine: PartitionProgress = {
      partition,
      cursorFrom,
      cursor: cursorFrom,
      usersChecked: 0,
      completed: false,
    };
    progress.partitions.push(mine);
    for (;;) {
      if (progress.stoppedBy) return;
      if (run.signal.aborted) return void stop(stopReason());
      const size = Math.min(
        budget.chunkSize,
        budget.maxUsersPerRun - progress.usersChecked - progress.reserved,
      );
      if (size <= 0) return void stop('users');
      progress.reserved += size;
      try {
        const start = mine.cursor === '' ? '-' : `(${mine.cursor}`;
        const ids = await redis.zrangebylex(keys.users, start, '+', 'LIMIT', 0, size);
        if (ids.length > 0) {
          const chunk = await sweepChunk({ ids, partition, targets, figures, deps, now, signal: run.signal });
          progress.repairsEnqueued += chunk.repairs;
          // Cut short: the cursor stays before this chunk, so the next run sweeps it whole.
          if (run.signal.aborted) return void stop(stopReason());
          progress.usersChecked += chunk.users;
          mine.usersChecked += chunk.users;
          progress.chunks++;
          mine.cursor = ids[ids.length - 1] as string;
        }
        if (ids.length < size) {
          // The end of this slice of the ledger: its next walk starts over.
          mine.cursor = '';
          mine.completed = true;
          await redis.set(keys.sweepCursor, '');
          return;
        }
        await redis.set(keys.sweepCursor, mine.cursor);
      } finally {
        progress.reserved -= size;
      }
      // Still ours for as long as the run goes on.
      await extendLock(redis, keyspace.deployment.sweepLock, token, budget.maxRunTime + LOCK_MARGIN_MS);
      options.onProgress?.({
        usersChecked: progress.usersChecked,
        cursor: mine.cursor,
        chunks: progress.chunks,
        partition,
      });
    }
  }

  const deploymentKeys = keyspace.deployment;
  let order: number[] = [];
  try {
    // Start with the partitions the last run did not finish.
    const first =
      Number((await redis.get(deploymentKeys.sweepNextPartition)) ?? 0) % keyspace.partitions || 0;
    order = Array.from({ length: keyspace.partitions }, (_, i) => (first + i) % keyspace.partitions);
    let next = 0;
    const lane = async () => {
      while (!progress.stoppedBy && next < order.length) await sweepPartition(order[next++] as number);
    };
    await Promise.all(Array.from({ length: Math.min(SWEEP_LANES, order.length) }, lane));
    stop('end');
    const unfinished = order.find((p) => !progress.partitions.find((x) => x.partition === p)?.completed);
    await redis.set(deploymentKeys.sweepNextPartition, String(unfinished ?? 0));
  } catch (caught) {
    progress.stoppedBy = 'error';
    progress.error = toError(caught).message;
    logger.error('sweep failed', { error: progress.error });
  } finally {
    clearTimeout(budgetTimer);
    options.signal?.removeEventListener('abort', onAbort);
  }
  const finished = now();
  const walked = [...progress.partitions].sort((a, b) => a.partition - b.partition);
  const only = keyspace.partitions === 1 ? walked[0] : undefined;
  const passCompleted = walked.length === keyspace.partitions && walked.every((p) => p.completed);
  const stoppedBy = progress.stoppedBy === 'end' && !passCompleted ? 'users' : (progress.stoppedBy ?? 'end');
  const result: SweepRun = {
    id: token,
    trigger: options.trigger ?? 'manual',
    ...(options.interval !== undefined ? { interval: options.interval } : {}),
    startedAt: new Date(started).toISOString(),
    finishedAt: new Date(finished).toISOString(),
    durationMs: finished - started,
    usersChecked: progress.usersChecked,
    chunks: progress.chunks,
    cursorFrom: only?.cursorFrom ?? '',
    cursorTo: only?.cursor ?? '',
    passCompleted,
    stoppedBy,
    autoRepair: config.autoRepair,
    repairsEnqueued: progress.repairsEnqueued,
    targets: figures,
    ...(keyspace.partitions > 1
      ? {
          partitions: walked.map((p) => ({
            partition: p.partition,
            cursorFrom: p.cursorFrom,
            cursorTo: p.cursor,
            usersChecked: p.usersChecked,
            passCompleted: p.completed,
          })),
        }
      : {}),
    ...(progress.error !== undefined ? { error: progress.error } : {}),
  };
  await redis
    .multi()
    .lpush(deploymentKeys.sweepRuns, JSON.stringify(result))
    .ltrim(deploymentKeys.sweepRuns, 0, budget.keepRuns - 1)
    .exec();
  logger.info('sweep finished', {
    users_checked: result.usersChecked,
    repairs: result.repairsEnqueued,
    stopped_by: result.stoppedBy,
    ms: result.durationMs,
  });
  return result;
}

/** The last runs, newest first. */
export async function readSweepRuns(redis: Redis, keys: DeploymentKeys, limit = 20): Promise<SweepRun[]> {
  const rows = await redis.lrange(keys.sweepRuns, 0, Math.max(0, limit - 1));
  return rows.map((row) => JSON.parse(row) as SweepRun);
}

/** Compares one chunk of users (of one partition) with every target; returns the users compared and the repairs enqueued. */
async function sweepChunk(args: {
  ids: readonly string[];
  partition: number;
  targets: readonly TargetConfig[];
  figures: Record<string, TargetSweepFigures>;
  deps: SweepDeps;
  now: () => number;
  signal: AbortSignal;
}): Promise<{ users: number; repairs: number }> {
  const { ids, partition, targets, figures, deps, now, signal } = args;
  const { redis, config, logger } = deps;
  const keys = deps.keyspace.partition(partition);
  const ledger = await readLedgerStates(redis, keys, ids);
  const users = [...ledger.keys()];
  const repairs: Repair[] = [];
  const ctx: ExecutionContext = { logger, signal, now };
  for (const target of targets) {
    const figure = figures[target.service] as TargetSweepFigures;
    const reader = deps.stateReader(target);
    if (!reader?.readState) {
      figure.unchecked += users.length;
      continue;
    }
    let held: TargetVersions;
    try {
      held = await reader.readState(users, target, ctx);
    } catch (caught) {
      // A target that cannot answer gets no blind repairs.
      figure.unreachable += users.length;
      logger.warn('sweep: target state unavailable', {
        target: target.service,
        error: toError(caught).message,
      });
      continue;
    }
    for (const userId of users) {
      const state = ledger.get(userId) as LedgerState;
      if (!targetAccepts(target, { type: repairType(state) })) {
        figure.filtered++;
        continue;
      }
      const verdict = classify(state, held.get(userId) ?? null);
      figure[verdict]++;
      if (REPAIRABLE.has(verdict) && config.autoRepair) repairs.push({ target, userId, state });
    }
  }
  if (repairs.length === 0 || signal.aborted) return { users: users.length, repairs: 0 };
  const planned = await planRepairs(deps.redis, keys, repairs, new Date(now()).toISOString());
  let enqueued = 0;
  for (const [target, deliveries] of planned) {
    const added = await enqueueRepairs(deps.queues.delivery(target, partition), deps.config, deliveries);
    (figures[target] as TargetSweepFigures).repairs += added;
    enqueued += added;
  }
  return { users: users.length, repairs: enqueued };
}

/**
 * What the ledger says of each user of a chunk, from each entry's head (users gone from the
 * ledger, and keys holding something user-sync did not write, are left out).
 */
async function readLedgerStates(
  redis: Redis,
  keys: Keys,
  ids: readonly string[],
): Promise<Map<string, LedgerState>> {
  const entries = await readLedger(redis, keys, ids, { snapshots: false });
  const ledger = new Map<string, LedgerState>();
  for (const [id, entry] of entries) {
    if (isLedgerRecord(entry))
      ledger.set(id, { version: entry.version, deleted: entry.deleted, type: entry.type });
  }
  return ledger;
}
