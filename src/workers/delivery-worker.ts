import { randomUUID } from 'node:crypto';
import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { SyncConfig, TargetConfig } from '../config/schema.js';
import { DeliveryError, toError } from '../errors.js';
import { EventType, isEventType, type UserSnapshot } from '../events.js';
import { retryDelay } from '../jobs/backoff.js';
import {
  deadLetterId,
  recordFromJob,
  type DeadLetterReason,
  type LastFailure,
  type DeadLetters,
} from '../jobs/dead-letter.js';
import { targetAccepts } from '../config/targets.js';
import { parseDeliveryJobData, type DeliveryJobData, type DeliveryTask } from '../jobs/delivery-job.js';
import { deliveryQueueName, taskId, type Keys } from '../jobs/names.js';
import {
  CLEAR_OUTCOME,
  DELIVERY_BEGIN,
  DELIVERY_FINISH,
  LOCK_EXTEND,
  LOCK_RELEASE,
} from '../jobs/scripts.js';
import { GLOBAL_COUNTER, bumpCounter, latencyBucket, type TargetCounter } from '../jobs/stats.js';
import type { Logger } from '../logger.js';
import type { Redis } from '../redis.js';
import { closeWorker } from './close-worker.js';
import type { DeliveryResult, ExecutionContext, Executor } from '../executors/executor.js';

/** How a delivery attempt ended. */
export type DeliveryOutcome = 'delivered' | 'superseded' | 'retry' | 'dead' | 'released';

/** The value a completed delivery job returns (visible in Bull Board). */
export interface DeliveryJobResult {
  outcome: 'delivered' | 'superseded';
  /** Version sent (the ledger's, when coalesced) or found superseded. */
  version: number;
  status?: number;
  coalesced?: boolean;
}

export interface DeliveryWorkerOptions {
  target: TargetConfig;
  config: SyncConfig;
  executor: Executor;
  /** Connection for BullMQ (maxRetriesPerRequest: null). */
  workerConnection: Redis;
  /** Connection for user-sync's own scripts. */
  redis: Redis;
  keys: Keys;
  deadLetters: DeadLetters;
  logger: Logger;
  now?: () => number;
  /** Called with each outcome (metrics, tests). */
  onOutcome?: (outcome: DeliveryOutcome, target: string, ms: number) => void;
}

/** Delay before trying again when another delivery of the same user to the same target is running. */
const CONTENTION_DELAY_MS = 100;

interface LedgerEntry {
  version: number;
  type: string;
  eventId: string;
  snapshot: string;
  deleted: boolean;
}

class ShutdownRelease extends Error {}

/** Runs `work`, failing with a retryable timeout error after `ms` (executors that ignore their signal). */
async function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new DeliveryError(`no answer within ${ms} ms`, { retryable: true, reason: 'timeout' })),
      ms,
    );
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The worker of one target queue: takes delivery jobs, enforces versions (watermark,
 * coalescing, one delivery per user at a time), calls the executor, and records the outcome:
 * delivered, superseded, retried with backoff, or dead-lettered.
 */
export class DeliveryWorker {
  readonly worker: Worker;
  private readonly target: TargetConfig;
  private readonly now: () => number;
  private readonly logger: Logger;
  private stopping = false;

  constructor(private readonly options: DeliveryWorkerOptions) {
    this.target = options.target;
    this.now = options.now ?? Date.now;
    this.logger = options.logger.child({ target: this.target.service });
    const { config } = options;
    const policy = { baseMs: config.retryInterval, capMs: config.maxRetryInterval };
    this.worker = new Worker(
      deliveryQueueName(this.target.service),
      (job, token, signal) => this.process(job, token, signal),
      {
        connection: options.workerConnection,
        prefix: config.prefix,
        concurrency: config.workers,
        autorun: false,
        // A job's lock is renewed while it runs; a worker that dies leaves it to the stalled
        // check, which hands it to another worker. More than a few stalls means a job that kills
        // its worker: BullMQ fails it, and reconcile() records it as a dead letter.
        maxStalledCount: 3,
        lockDuration: config.lockDuration,
        stalledInterval: config.lockDuration,
        ...(this.target.rateLimit
          ? { limiter: { max: this.target.rateLimit.max, duration: this.target.rateLimit.duration } }
          : {}),
        settings: {
          backoffStrategy: (failures: number, _type?: string, error?: Error) =>
            retryDelay(failures, policy, error),
        },
      },
    );
    this.worker.on('error', (error) => this.logger.error('worker error', { error: toError(error).message }));
  }

  /** Starts taking jobs. */
  start(): void {
    void this.worker
      .run()
      .catch((error: unknown) => this.logger.error('worker stopped', { error: toError(error).message }));
  }

  /**
   * Stops taking jobs; waits up to `timeoutMs` for active deliveries, then aborts them: each
   * aborted delivery is released back to the queue without spending an attempt.
   */
  async close(timeoutMs: number): Promise<void> {
    this.stopping = true;
    await closeWorker(this.worker, timeoutMs, () =>
      this.logger.warn('shutdown timeout: releasing active deliveries', { timeout_ms: timeoutMs }),
    );
  }

  /** The processor: one attempt of one delivery. */
  async process(job: Job, token: string | undefined, signal?: AbortSignal): Promise<DeliveryJobResult> {
    const started = this.now();
    const service = this.target.service;
    const attempt = job.attemptsMade + 1;
    const maxAttempts = job.opts.attempts ?? 1;
    const jobId = job.id ?? '';
    const parsed = parseDeliveryJobData(job.data, service);
    if (!parsed.ok) {
      return this.deadLetter(
        job,
        'malformed',
        { code: 'malformed', message: parsed.reason, attempts: attempt },
        started,
      );
    }
    const data = parsed.data;
    if (jobId !== taskId(data.eventId, service)) {
      const message = `malformed job: id "${jobId}" is not "<eventId>.<service>" (${taskId(data.eventId, service)})`;
      return this.deadLetter(job, 'malformed', { code: 'malformed', message, attempts: attempt }, started);
    }
    const { redis, keys } = this.options;
    const jobKey = keys.job(job.queueName, jobId);
    if (job.attemptsStarted > 1 || attempt > maxAttempts) {
      // Run before, and maybe recorded dead. Either it was failed for good and then retried
      // by hand (from Bull Board): a replay, a new life counted again; or the run that recorded
      // it dead died before failing the job (BullMQ never counted that attempt): that death
      // did not stick and is taken back. Either way the record goes; if this run fails for
      // good, it is recorded again.
      const record = await this.options.deadLetters.take(deadLetterId(service, jobId));
      const retriedByHand = record ? job.attemptsMade >= record.attempts : attempt > maxAttempts;
      if (retriedByHand) {
        await CLEAR_OUTCOME.run(redis, [jobKey], []);
        await bumpCounter(redis, keys, service, 'replayed');
      } else if (record && (await CLEAR_OUTCOME.run(redis, [jobKey], [])) === 'dead') {
        await bumpCounter(redis, keys, service, 'dead', -1);
      }
    }

    const userId = String(data.userId);
    const lockKey = keys.lock(service, userId);
    // Unique to this run of this job: a second run of the same job (after a stall) waits too.
    const lockToken = `${jobId}|${token ?? randomUUID()}`;
    const lockTtl = this.options.config.lockDuration;
    const begin = (await DELIVERY_BEGIN.run(
      redis,
      [lockKey, keys.watermark(service), keys.ledger(userId)],
      // Repairs always send the ledger's latest: never older than what was published since.
      [lockToken, lockTtl, userId, this.target.coalesce || data.repair ? '1' : '0', data.version],
    )) as Array<string | number>;
    if (begin[0] !== 1) {
      // Another delivery of this user to this target is running: wait our turn without
      // spending an attempt, so versions reach the target in order.
      await job.moveToDelayed(
        this.now() + CONTENTION_DELAY_MS + Math.floor(Math.random() * CONTENTION_DELAY_MS),
        token,
      );
      throw new DelayedError();
    }
    let lockHeld = true;
    // The lock lives as long as this run does, like BullMQ's job lock: renewed while the run
    // goes on, gone about lockDuration after a worker died.
    const renew = setInterval(
      () => void LOCK_EXTEND.run(redis, [lockKey], [lockToken, lockTtl]).catch(() => undefined),
      Math.max(100, Math.floor(lockTtl / 3)),
    );
    try {
      const watermark = Number(begin[1] ?? 0);
      // A repair is sent because the target lost what the watermark says it got.
      if (data.version <= watermark && !data.repair) {
        await this.finish(jobKey, lockToken, userId, '', 'superseded', job.timestamp);
        lockHeld = false;
        this.logOutcome('superseded', data, jobId, attempt, started, { watermark });
        return { outcome: 'superseded', version: data.version };
      }
      const ledger = this.target.coalesce || data.repair ? ledgerEntry(begin) : undefined;
      const task = buildTask(data, jobId, attempt, ledger, (type) => targetAccepts(this.target, { type }));
      const ctx: ExecutionContext = {
        logger: this.logger.child({ task_id: jobId, attempt }),
        signal: signal ?? new AbortController().signal,
        now: this.now,
      };
      let result: DeliveryResult | void;
      try {
        result = await withDeadline(
          this.options.executor.execute(task, this.target, ctx),
          this.target.timeoutMs + 1_000,
        );
      } catch (error) {
        if (signal?.aborted && this.stopping) throw new ShutdownRelease();
        throw error;
      }
      const outcome = result?.superseded ? 'superseded' : 'delivered';
      await this.finish(jobKey, lockToken, userId, String(task.version), outcome, job.timestamp);
      lockHeld = false;
      this.logOutcome(outcome, data, jobId, attempt, started, {
        status: result?.status,
        version: task.version,
        ...(task.coalesced ? { coalesced: true } : {}),
      });
      return {
        outcome,
        version: task.version,
        ...(result?.status !== undefined ? { status: result.status } : {}),
        ...(task.coalesced ? { coalesced: true } : {}),
      };
    } catch (error) {
      if (lockHeld) {
        await LOCK_RELEASE.run(redis, [lockKey], [lockToken]).catch(() => undefined);
        lockHeld = false;
      }
      if (error instanceof ShutdownRelease) {
        await job.moveToDelayed(this.now(), token);
        this.logOutcome('released', data, jobId, attempt, started, {});
        throw new DelayedError();
      }
      return this.failed(job, data, attempt, maxAttempts, error, started);
    } finally {
      clearInterval(renew);
    }
  }

  /** A failed attempt: retry with backoff, or dead-letter when it cannot help or attempts are spent. */
  private async failed(
    job: Job,
    data: DeliveryJobData,
    attempt: number,
    maxAttempts: number,
    error: unknown,
    started: number,
  ): Promise<never> {
    const err = toError(error);
    const delivery = err instanceof DeliveryError ? err : undefined;
    const retryable = delivery ? delivery.retryable : true;
    const code = delivery?.reason ?? 'error';
    if (retryable && attempt < maxAttempts) {
      await bumpCounter(this.options.redis, this.options.keys, this.target.service, 'retried');
      this.logOutcome('retry', data, job.id ?? '', attempt, started, {
        status: delivery?.status,
        code,
        error: err.message,
        ...(delivery?.retryAfterMs !== undefined ? { retry_after_ms: delivery.retryAfterMs } : {}),
      });
      throw err;
    }
    return this.deadLetter(
      job,
      retryable ? 'retries_exhausted' : 'non_retryable',
      { code, message: err.message, status: delivery?.status, excerpt: delivery?.excerpt, attempts: attempt },
      started,
    );
  }

  /** Records the dead letter, then fails the job for good. */
  private async deadLetter(
    job: Job,
    reason: DeadLetterReason,
    last: LastFailure & { attempts: number },
    started: number,
  ): Promise<never> {
    const record = recordFromJob(job, this.target.service, reason, last, this.now);
    await this.options.deadLetters.record(record);
    const data = (
      typeof job.data === 'object' && job.data !== null ? job.data : {}
    ) as Partial<DeliveryJobData>;
    this.logOutcome('dead', data, job.id ?? '', last.attempts, started, {
      reason,
      code: last.code,
      status: last.status,
      error: last.message,
    });
    throw new UnrecoverableError(`${reason}: ${last.message}`);
  }

  /**
   * Records the outcome. `publishedAt` (the job's creation, ms) feeds the latency histogram of
   * delivered jobs.
   */
  private async finish(
    jobKey: string,
    lockToken: string,
    userId: string,
    version: string,
    counter: TargetCounter,
    publishedAt: number,
  ): Promise<void> {
    const { redis, keys } = this.options;
    const service = this.target.service;
    const latencyMs = Math.max(0, Math.round(this.now() - publishedAt));
    await DELIVERY_FINISH.run(
      redis,
      [
        keys.lock(service, userId),
        keys.watermark(service),
        keys.stats,
        keys.targetStats(service),
        jobKey,
        keys.latency(service),
      ],
      [
        lockToken,
        userId,
        version,
        counter,
        GLOBAL_COUNTER[counter],
        counter === 'delivered' ? latencyBucket(latencyMs) : '',
        latencyMs,
      ],
    );
  }

  /** One log line per delivery outcome: ids and figures, never snapshots or secrets. */
  private logOutcome(
    outcome: DeliveryOutcome,
    data: Partial<DeliveryJobData>,
    jobId: string,
    attempt: number,
    started: number,
    extra: Record<string, unknown>,
  ): void {
    const ms = this.now() - started;
    this.options.onOutcome?.(outcome, this.target.service, ms);
    const fields: Record<string, unknown> = {
      task_id: jobId,
      target: this.target.service,
      attempt,
      outcome,
      user_id: data.userId,
      event_type: data.type,
      ms,
    };
    for (const [key, value] of Object.entries(extra)) if (value !== undefined) fields[key] = value;
    this.logger.log(outcome === 'dead' ? 'warn' : 'info', `delivery ${outcome}`, fields);
  }
}

function ledgerEntry(begin: ReadonlyArray<string | number>): LedgerEntry | undefined {
  const [, , v, type, eventId, snapshot, deleted] = begin;
  if (!v) return undefined;
  return {
    version: Number(v),
    type: String(type),
    eventId: String(eventId),
    snapshot: String(snapshot),
    deleted: deleted === '1',
  };
}

/** The task an executor sees: the event itself, or the ledger's newer snapshot when coalescing. */
export function buildTask(
  data: DeliveryJobData,
  jobId: string,
  attempt: number,
  ledger?: LedgerEntry,
  accepts: (type: EventType) => boolean = () => true,
): DeliveryTask {
  const latestType = ledger?.deleted ? EventType.UserDeleted : ledger?.type;
  // A target's event filter holds for coalesced deliveries too: a target that does not take
  // the latest event's type gets its own event, not a snapshot it did not ask for.
  if (ledger && ledger.version > data.version && isEventType(latestType) && accepts(latestType)) {
    let user: UserSnapshot | undefined;
    try {
      user = JSON.parse(ledger.snapshot) as UserSnapshot;
    } catch {
      user = undefined;
    }
    // A ledger entry is used only if it really is this user's snapshot.
    if (user && typeof user === 'object' && !Array.isArray(user) && String(user.id) === String(data.userId)) {
      const { changes: _dropped, ...rest } = data;
      return {
        ...rest,
        type: latestType,
        version: ledger.version,
        user,
        taskId: jobId,
        attempt,
        coalesced: true,
      };
    }
  }
  return { ...data, taskId: jobId, attempt, coalesced: false };
}
