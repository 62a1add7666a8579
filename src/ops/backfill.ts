/**
 * Backfill (I/O): sends the ledger's latest state of every user to one target — a service newly
 * added, or one restored empty. Walks each partition's users (`keys.users`) a chunk at a time
 * from a cursor persisted after every chunk (backfill-state.ts), so a run that dies is continued
 * by the next; decides each user (backfill-plan.ts); builds the deliveries through the
 * publisher's own fan-out with the sweep's repair semantics (the ledger's latest snapshot is
 * sent, under the per-user lock, never an older one) and their deterministic ids
 * (`repair-v<version>-<user>.<service>`: one job per user, version and target, however many
 * backfills and sweeps ask for it); and paces itself: the target's backlog is kept below a bound
 * and enqueuing below a rate (the workers' limiter paces the sends themselves).
 */
import { randomUUID } from 'node:crypto';
import type { SyncConfig, TargetConfig } from '../config/schema.js';
import { UserSyncError } from '../errors.js';
import { acquireLock, extendLock, releaseLock } from '../jobs/locks.js';
import type { Keyspace } from '../jobs/names.js';
import type { QueueSet } from '../jobs/queues.js';
import { addDeliveries } from '../sweep/repairs.js';
import type { Logger } from '../logger.js';
import type { Redis } from '../redis.js';
import {
  backfillRate,
  chunkUsers,
  defaultMaxBacklog,
  estimate,
  paceDelayMs,
  type BackfillCounts,
} from './backfill-plan.js';
import { planChunk, withoutQueued } from './backfill-chunk.js';
import {
  newBackfillState,
  readBackfillState,
  writeBackfillState,
  type BackfillState,
} from './backfill-state.js';

export interface BackfillOptions {
  /** Walk and count what would be sent; enqueue nothing, store nothing. */
  dryRun?: boolean;
  /** Deliveries enqueued per second at most (default: the target's `rateLimit`, else no limit). */
  rate?: number;
  /** Start over, forgetting where an unfinished run stood. */
  restart?: boolean;
  /** Send every user, even where the watermark says the target has the version (it was restored empty). */
  ignoreWatermarks?: boolean;
  /** Keep the target's backlog at or below this (default: a quarter of `queueSize`). */
  maxBacklog?: number;
  /** Users read at a time (default 500). */
  chunkSize?: number;
  /** Stops the run after the chunk in hand (its cursor is saved: the next run continues). */
  signal?: AbortSignal;
  /** Told after every chunk, and while waiting for the backlog to go down. */
  onProgress?: (progress: BackfillProgress) => void;
}

/** Where a backfill stands. */
export interface BackfillProgress {
  runId: string;
  service: string;
  dryRun: boolean;
  /** This run continues one that stopped before its end. */
  resumed: boolean;
  total: number;
  done: number;
  counts: BackfillCounts;
  /** Users walked per second in this process. */
  ratePerSecond: number;
  /** Seconds left at that pace; undefined until it is known. */
  etaSeconds: number | undefined;
  /** Set while waiting for the target's backlog to go below the bound. */
  waitingForBacklog?: { backlog: number; maxBacklog: number };
}

/** How a backfill ended. */
export interface BackfillResult extends BackfillProgress {
  status: 'done' | 'aborted';
  durationMs: number;
  maxBacklog: number;
  /** Deliveries enqueued per second at most, if paced. */
  rate: number | undefined;
}

export interface BackfillDeps {
  redis: Redis;
  keyspace: Keyspace;
  config: SyncConfig;
  queues: QueueSet;
  logger: Logger;
  now?: () => number;
}

/** The run's lock lives this long unless extended (after every chunk and every wait). */
export const BACKFILL_LOCK_MS = 5_000;
/** How often the backlog is looked at while waiting for it to go down. */
const BACKLOG_POLL_MS = 250;
/** Users read at a time, by default. */
export const DEFAULT_BACKFILL_CHUNK = 500;

/** Waits `ms`, or less when `signal` aborts. */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** The target to backfill: configured and enabled, or an error saying so. */
function targetOf(config: SyncConfig, service: string): TargetConfig {
  const target = config.targets.find((t) => t.service === service);
  if (!target)
    throw new UserSyncError(
      'USER_SYNC_ERR_NOT_FOUND',
      `backfill: no target named ${JSON.stringify(service)} is configured`,
    );
  if (!target.enabled)
    throw new UserSyncError(
      'USER_SYNC_ERR_CONFIG',
      `backfill: target ${service} is disabled: enable it first`,
    );
  return target;
}

/**
 * Takes the target's backfill lock. A run that died leaves it for at most BACKFILL_LOCK_MS: wait
 * that long for it before saying another backfill is running.
 */
async function lock(deps: BackfillDeps, service: string, token: string, signal?: AbortSignal): Promise<void> {
  const key = deps.keyspace.deployment.backfillLock(service);
  const deadline = Date.now() + BACKFILL_LOCK_MS + 1_000;
  while (!(await acquireLock(deps.redis, key, token, BACKFILL_LOCK_MS))) {
    if (Date.now() > deadline || signal?.aborted)
      throw new UserSyncError('USER_SYNC_ERR_CONFIG', `backfill: another backfill of ${service} is running`);
    await pause(BACKLOG_POLL_MS, signal);
  }
}

/** Runs (or continues) the backfill of one target; see the file's comment. */
export async function runBackfill(
  deps: BackfillDeps,
  service: string,
  options: BackfillOptions = {},
): Promise<BackfillResult> {
  const { redis, keyspace, config } = deps;
  const target = targetOf(config, service);
  const dryRun = options.dryRun === true;
  const maxBacklog = options.maxBacklog ?? defaultMaxBacklog(config);
  const rate = backfillRate(target, options.rate);
  for (const [name, value] of Object.entries({
    maxBacklog,
    chunkSize: options.chunkSize ?? 1,
    rate: rate ?? 1,
  }))
    if (!Number.isFinite(value) || value <= 0)
      throw new UserSyncError('USER_SYNC_ERR_VALIDATION', `backfill: ${name}: must be a number above 0`);
  const token = randomUUID();
  if (!dryRun) await lock(deps, service, token, options.signal);
  try {
    return await backfillLocked({ deps, target, options, token, dryRun, maxBacklog, rate });
  } finally {
    if (!dryRun)
      await releaseLock(redis, keyspace.deployment.backfillLock(service), token).catch(() => undefined);
  }
}

async function backfillLocked(args: {
  deps: BackfillDeps;
  target: TargetConfig;
  options: BackfillOptions;
  token: string;
  dryRun: boolean;
  maxBacklog: number;
  rate: number | undefined;
}): Promise<BackfillResult> {
  const { deps, target, options, token, dryRun, maxBacklog, rate } = args;
  const { redis, keyspace } = deps;
  const now = deps.now ?? Date.now;
  const started = now();
  const service = target.service;
  const ignoreWatermarks = options.ignoreWatermarks === true;
  const stored = options.restart
    ? undefined
    : await readBackfillState(redis, keyspace.deployment, service, keyspace.partitions);
  const resumed = stored?.status === 'running';
  let state: BackfillState;
  if (stored && resumed) {
    state = stored;
  } else {
    const sizes = await Promise.all(keyspace.all().map((keys) => redis.zcard(keys.users)));
    state = newBackfillState(
      service,
      keyspace.partitions,
      sizes.reduce((a, b) => a + b, 0),
      ignoreWatermarks,
      started,
    );
  }
  const doneAtStart = state.done;
  const size = chunkUsers(options.chunkSize ?? DEFAULT_BACKFILL_CHUNK, maxBacklog, rate);
  let sent = 0;
  const progress = (waiting?: BackfillProgress['waitingForBacklog']): BackfillProgress => ({
    runId: state.runId,
    service,
    dryRun,
    resumed,
    total: Math.max(state.total, state.done),
    done: state.done,
    counts: { ...state.counts },
    ...estimate({ total: state.total, done: state.done, doneAtStart, elapsedMs: now() - started }),
    ...(waiting ? { waitingForBacklog: waiting } : {}),
  });
  const keepLock = async () => {
    if (!dryRun) await extendLock(redis, keyspace.deployment.backfillLock(service), token, BACKFILL_LOCK_MS);
  };
  /** Waits until `n` more deliveries fit under the backlog bound and the rate. */
  const makeRoom = async (n: number) => {
    for (;;) {
      if (options.signal?.aborted) return;
      const backlog = await deps.queues.backlog(service);
      if (backlog + n <= maxBacklog) break;
      options.onProgress?.(progress({ backlog, maxBacklog }));
      await pause(BACKLOG_POLL_MS, options.signal);
      await keepLock();
    }
    await pause(paceDelayMs(sent, rate, started, now()), options.signal);
  };

  if (!dryRun) await writeBackfillState(redis, keyspace.deployment, state);
  deps.logger.info(resumed ? 'backfill resumed' : 'backfill started', {
    target: service,
    run_id: state.runId,
    total: state.total,
    done: state.done,
    dry_run: dryRun,
  });
  walk: for (const keys of keyspace.all()) {
    const p = keys.partition;
    while (!state.finished[p]) {
      if (options.signal?.aborted) break walk;
      const cursor = state.cursors[p] ?? '';
      const ids = await redis.zrangebylex(
        keys.users,
        cursor === '' ? '-' : `(${cursor}`,
        '+',
        'LIMIT',
        0,
        size,
      );
      const planned = await planChunk({
        deps,
        keys,
        target,
        ids,
        counts: state.counts,
        ignoreWatermarks: state.ignoreWatermarks,
        now,
      });
      const fresh = await withoutQueued(deps, keys, planned, state.counts, {
        partition: p,
        dryRun,
        restoredEmpty: state.ignoreWatermarks,
      });
      if (fresh.length > 0 && !dryRun) {
        await makeRoom(fresh.length);
        if (options.signal?.aborted) break walk;
        await addDeliveries(deps.queues.delivery(service, p), deps.config, fresh);
        sent += fresh.length;
      }
      state.counts.enqueued += fresh.length;
      state.counts.deletes += fresh.filter((d) => d.type === 'user.deleted').length;
      state.done += ids.length;
      if (ids.length > 0) state.cursors[p] = ids[ids.length - 1] as string;
      if (ids.length < size) state.finished[p] = true;
      state.updatedAt = new Date(now()).toISOString();
      if (!dryRun) {
        await writeBackfillState(redis, keyspace.deployment, state);
        await keepLock();
      }
      if (ids.length > 0) options.onProgress?.(progress());
    }
  }
  const complete = state.finished.every(Boolean);
  if (complete) {
    state.status = 'done';
    state.finishedAt = new Date(now()).toISOString();
    if (!dryRun) await writeBackfillState(redis, keyspace.deployment, state);
  }
  const result: BackfillResult = {
    ...progress(),
    status: complete ? 'done' : 'aborted',
    durationMs: now() - started,
    maxBacklog,
    rate,
  };
  deps.logger.info(complete ? 'backfill finished' : 'backfill stopped', {
    target: service,
    run_id: state.runId,
    done: state.done,
    enqueued: state.counts.enqueued,
    dry_run: dryRun,
  });
  return result;
}
