import { randomUUID } from 'node:crypto';
import type { SyncConfig, TargetConfig } from '../config/schema.js';
import { toError } from '../errors.js';
import { EventType, isEventType, type UserSnapshot } from '../events.js';
import type { DeliveryJobData } from '../jobs/delivery-job.js';
import { taskId, type Keys } from '../jobs/names.js';
import { deliveryJobOptions, type QueueSet } from '../jobs/queues.js';
import type { Logger } from '../logger.js';
import { targetAccepts } from '../config/targets.js';
import type { Redis } from '../redis.js';
import type { ExecutionContext, Executor, TargetVersions } from '../executors/executor.js';

/** How a (user, target) pair compares with the ledger. */
export type SweepClass = 'in_sync' | 'missing' | 'stale' | 'extra' | 'unreachable' | 'unchecked' | 'filtered';
export const SWEEP_CLASSES: readonly SweepClass[] = [
  'in_sync',
  'missing',
  'stale',
  'extra',
  'unreachable',
  'unchecked',
  'filtered',
];

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
  /** Ledger position (user id, '' = the start) where the run began and where it stopped. */
  cursorFrom: string;
  cursorTo: string;
  /** True when the run reached the end of the ledger (the next run starts over). */
  passCompleted: boolean;
  stoppedBy: 'end' | 'users' | 'time' | 'aborted' | 'error';
  autoRepair: boolean;
  repairsEnqueued: number;
  targets: Record<string, TargetSweepFigures>;
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
 * Compares what a target holds with the ledger. `held` is the target's version, or null when
 * it holds nothing (or a tombstone). A target ahead of the ledger is in sync: never repaired
 * backwards.
 */
export function classify(
  ledger: LedgerState,
  held: number | null,
): 'in_sync' | 'missing' | 'stale' | 'extra' {
  if (ledger.deleted) return held === null ? 'in_sync' : 'extra';
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

/** The deterministic event id of a repair: the same drift found twice is one job. */
export function repairEventId(userId: string, version: number): string {
  return `repair-v${version}-${userId}`;
}

export function emptyFigures(): TargetSweepFigures {
  return {
    in_sync: 0,
    missing: 0,
    stale: 0,
    extra: 0,
    unreachable: 0,
    unchecked: 0,
    filtered: 0,
    repairs: 0,
  };
}

export interface SweepDeps {
  redis: Redis;
  keys: Keys;
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
  onProgress?: (progress: { usersChecked: number; cursor: string; chunks: number }) => void;
  signal?: AbortSignal;
}

/** Lock of a running sweep: one at a time per deployment. */
const LOCK_MARGIN_MS = 60_000;
const EXTEND_LOCK =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0";

/**
 * Runs the consistency sweep once: walks the ledger from the persisted cursor a chunk at a
 * time (one chunk in memory), asks every enabled target that can report state for the versions
 * it holds (one batched read per chunk and target), classifies each (user, target), and with
 * `autoRepair` enqueues one repair delivery per mismatch. Stops at the end of the ledger or at
 * the per-run budget; the cursor is saved after every chunk, so a run that dies is resumed by
 * the next. Returns undefined when another sweep holds the lock.
 */
export async function runSweep(deps: SweepDeps, options: SweepOptions = {}): Promise<SweepRun | undefined> {
  const { redis, keys, config, logger } = deps;
  const now = deps.now ?? Date.now;
  const token = randomUUID();
  const budget = config.sweep;
  const locked = await redis.set(keys.sweepLock, token, 'PX', budget.maxRunTime + LOCK_MARGIN_MS, 'NX');
  if (locked !== 'OK') {
    logger.info('sweep skipped: another sweep is running');
    return undefined;
  }
  const started = now();
  const targets = config.targets.filter((t) => t.enabled);
  const figures: Record<string, TargetSweepFigures> = Object.fromEntries(
    targets.map((t) => [t.service, emptyFigures()]),
  );
  const cursorFrom = (await redis.get(keys.sweepCursor)) ?? '';
  let cursor = cursorFrom;
  let usersChecked = 0;
  let chunks = 0;
  let repairsEnqueued = 0;
  let stoppedBy: SweepRun['stoppedBy'] = 'end';
  let error: string | undefined;
  // One signal for the run: the caller's (shutdown) or the time budget, whichever comes first;
  // it reaches the state reads in flight too.
  const run = new AbortController();
  const onAbort = () => run.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) run.abort();
  const budgetTimer = setTimeout(() => run.abort(), budget.maxRunTime);
  const stopReason = (): SweepRun['stoppedBy'] => (options.signal?.aborted ? 'aborted' : 'time');
  try {
    for (;;) {
      if (run.signal.aborted) {
        stoppedBy = stopReason();
        break;
      }
      if (usersChecked >= budget.maxUsersPerRun) {
        stoppedBy = 'users';
        break;
      }
      const size = Math.min(budget.chunkSize, budget.maxUsersPerRun - usersChecked);
      const ids = await redis.zrangebylex(
        keys.users,
        cursor === '' ? '-' : `(${cursor}`,
        '+',
        'LIMIT',
        0,
        size,
      );
      if (ids.length > 0) {
        const chunk = await sweepChunk(ids, targets, figures, deps, now, run.signal);
        repairsEnqueued += chunk.repairs;
        if (run.signal.aborted) {
          // Cut short: the cursor stays before this chunk, so the next run sweeps it whole.
          stoppedBy = stopReason();
          break;
        }
        usersChecked += chunk.users;
        chunks++;
        cursor = ids[ids.length - 1] as string;
      }
      if (ids.length < size) {
        // The end of the ledger: the next run starts over.
        cursor = '';
        stoppedBy = 'end';
        await redis.set(keys.sweepCursor, cursor);
        break;
      }
      await redis.set(keys.sweepCursor, cursor);
      // Still ours for as long as the run goes on.
      await redis.eval(EXTEND_LOCK, 1, keys.sweepLock, token, budget.maxRunTime + LOCK_MARGIN_MS);
      options.onProgress?.({ usersChecked, cursor, chunks });
    }
  } catch (caught) {
    stoppedBy = 'error';
    error = toError(caught).message;
    logger.error('sweep failed', { error, cursor });
  } finally {
    clearTimeout(budgetTimer);
    options.signal?.removeEventListener('abort', onAbort);
  }
  const finished = now();
  const result: SweepRun = {
    id: token,
    trigger: options.trigger ?? 'manual',
    ...(options.interval !== undefined ? { interval: options.interval } : {}),
    startedAt: new Date(started).toISOString(),
    finishedAt: new Date(finished).toISOString(),
    durationMs: finished - started,
    usersChecked,
    chunks,
    cursorFrom,
    cursorTo: cursor,
    passCompleted: stoppedBy === 'end',
    stoppedBy,
    autoRepair: config.autoRepair,
    repairsEnqueued,
    targets: figures,
    ...(error !== undefined ? { error } : {}),
  };
  await redis
    .multi()
    .lpush(keys.sweepRuns, JSON.stringify(result))
    .ltrim(keys.sweepRuns, 0, budget.keepRuns - 1)
    .exec();
  await redis.eval(
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
    1,
    keys.sweepLock,
    token,
  );
  logger.info('sweep finished', {
    users_checked: usersChecked,
    repairs: repairsEnqueued,
    stopped_by: stoppedBy,
    ms: result.durationMs,
  });
  return result;
}

/** The last runs, newest first. */
export async function readSweepRuns(redis: Redis, keys: Keys, limit = 20): Promise<SweepRun[]> {
  const rows = await redis.lrange(keys.sweepRuns, 0, Math.max(0, limit - 1));
  return rows.map((row) => JSON.parse(row) as SweepRun);
}

/** Compares one chunk of users with every target; returns the users compared and the repairs enqueued. */
async function sweepChunk(
  ids: readonly string[],
  targets: readonly TargetConfig[],
  figures: Record<string, TargetSweepFigures>,
  deps: SweepDeps,
  now: () => number,
  signal: AbortSignal,
): Promise<{ users: number; repairs: number }> {
  const { redis, keys, config, queues, logger } = deps;
  const pipeline = redis.pipeline();
  for (const id of ids) pipeline.hmget(keys.ledger(id), 'v', 'del', 'type');
  const rows = (await pipeline.exec()) ?? [];
  const ledger = new Map<string, LedgerState>();
  ids.forEach((id, i) => {
    const [err, value] = rows[i] ?? [null, null];
    if (err) throw err;
    const [v, del, type] = (value ?? []) as Array<string | null>;
    if (v) ledger.set(id, { version: Number(v), deleted: del === '1', type: type ?? '' });
  });
  const users = [...ledger.keys()];
  const repairs: Array<{ target: TargetConfig; userId: string; state: LedgerState }> = [];
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
      if (verdict !== 'in_sync' && config.autoRepair) repairs.push({ target, userId, state });
    }
  }
  if (repairs.length === 0 || signal.aborted) return { users: users.length, repairs: 0 };
  // Snapshots only for the users that get a repair.
  const snapshots = redis.pipeline();
  for (const repair of repairs) snapshots.hget(keys.ledger(repair.userId), 'snap');
  const snaps = (await snapshots.exec()) ?? [];
  const jobOptions = deliveryJobOptions(config);
  const byQueue = new Map<
    TargetConfig,
    Array<{ name: string; data: DeliveryJobData; opts: typeof jobOptions }>
  >();
  const timestamp = new Date(now()).toISOString();
  repairs.forEach(({ target, userId, state }, i) => {
    let user: UserSnapshot;
    try {
      user = JSON.parse(String(snaps[i]?.[1] ?? '')) as UserSnapshot;
    } catch {
      user = { id: userId };
    }
    const eventId = repairEventId(userId, state.version);
    const data: DeliveryJobData = {
      v: 1,
      eventId,
      service: target.service,
      type: repairType(state),
      userId: user.id ?? userId,
      version: state.version,
      user,
      timestamp,
      source: 'user-sync-sweep',
      repair: true,
    };
    const list = byQueue.get(target) ?? [];
    list.push({ name: data.type, data, opts: { ...jobOptions, jobId: taskId(eventId, target.service) } });
    byQueue.set(target, list);
  });
  let enqueued = 0;
  for (const [target, jobs] of byQueue) {
    const queue = queues.delivery(target.service);
    const fresh: typeof jobs = [];
    for (const job of jobs) {
      // Deterministic ids: a repair still pending from an earlier sweep is not added twice;
      // one that already ran (the same drift came back) is removed so that it can run again.
      const existing = await queue.getJob(job.opts.jobId as string);
      if (existing) {
        const state = await existing.getState();
        if (state !== 'completed' && state !== 'failed') continue;
        await existing.remove();
      }
      fresh.push(job);
    }
    if (fresh.length > 0) await queue.addBulk(fresh);
    (figures[target.service] as TargetSweepFigures).repairs += fresh.length;
    enqueued += fresh.length;
  }
  return { users: users.length, repairs: enqueued };
}
