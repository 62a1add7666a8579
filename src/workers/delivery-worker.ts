import { randomUUID } from 'node:crypto';
import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { CircuitBreakers } from '../breaker/breakers.js';
import type { SyncConfig, TargetConfig } from '../config/schema.js';
import { targetAccepts, targetUrls } from '../config/targets.js';
import { DeliveryError, toError } from '../errors.js';
import type { EventType } from '../events.js';
import type { Executor } from '../executors/executor.js';
import { retryDelay } from '../jobs/backoff.js';
import { deliveryRetention } from '../jobs/queues.js';
import { recordFromJob, type DeadLetterReason, type LastFailure } from '../jobs/dead-letter.js';
import type { DeadLetters } from '../jobs/dead-letter-store.js';
import { parseDeliveryJob, rereadDeliveryJob, type DeliveryJobData } from '../jobs/delivery-job.js';
import type { Keys } from '../jobs/names.js';
import {
  beginOf,
  deliverySteps,
  type DeliveryStep,
  type DeliveryStepResult,
} from '../jobs/delivery-steps.js';
import { bumpCounter, type TargetCounter } from '../jobs/stats.js';
import type { Logger } from '../logger.js';
import type { Redis } from '../redis.js';
import { Batcher } from '../batcher.js';
import { redactError, redactText } from '../redact.js';
import { closeWorker } from './close-worker.js';
import { decideDelivery } from './decide.js';
import { Attempts } from './attempts.js';
import { ShutdownRelease, executeUnderDeadline } from './execute.js';
import { UserLocks, type UserLock } from './user-lock.js';

/**
 * How a delivery attempt ended; `held`: not sent, the target's circuit breaker is open (the
 * job waits in its queue, its attempts unspent).
 */
export type DeliveryOutcome = 'delivered' | 'superseded' | 'retry' | 'dead' | 'released' | 'held';

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
  /** The partition this worker delivers, and its keys. */
  partition: number;
  keys: Keys;
  /** Concurrent deliveries of this worker (its share of `workers` for the target). */
  concurrency: number;
  /** Its share of the target's rate limit, if it has one (see partitionRateLimit). */
  limiter?: { max: number; duration: number } | undefined;
  deadLetters: DeadLetters;
  /** The target's circuit breaker, as this process knows it; none: every delivery is sent. */
  breakers?: CircuitBreakers | undefined;
  logger: Logger;
  now?: () => number;
  /** Called with each outcome (metrics, tests). */
  onOutcome?: (outcome: DeliveryOutcome, target: string, ms: number) => void;
}

/** Delay before trying again when another delivery of the same user to the same target is running. */
const CONTENTION_DELAY_MS = 100;

/** A failed probe's job looks again after this long (the breaker, open again, holds it until its next probe). */
const HOLD_AFTER_PROBE_MS = 1_000;

/** One attempt of one job, as the helpers below need it. */
interface Run {
  job: Job;
  token: string | undefined;
  jobId: string;
  attempt: number;
  started: number;
  /** What is known of the job data (all of it once parsed), for the log line. */
  data: Partial<DeliveryJobData>;
  /** Whether the executor was called: only then does a failure say anything of the target. */
  sent?: boolean;
  /** This attempt is the probe of a half-open breaker: its token. */
  probe?: string | undefined;
  /**
   * Set once the attempt's end is decided and recorded (a dead letter, a hold): the error that
   * tells BullMQ so goes to it as it is, never through failed() again.
   */
  settled?: boolean;
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
  /** Whether the target takes an event type (its filter), for decideDelivery. */
  private readonly accepts = (type: EventType) => targetAccepts(this.target, { type });
  /** The starts and ends of deliveries that run at the same time, in one script call (batcher.ts). */
  private readonly steps: Batcher<DeliveryStep, DeliveryStepResult>;
  /** The user locks this worker's deliveries hold, renewed by one timer. */
  readonly locks: UserLocks;
  /** The calls to the target under way: one deadline timer, aborted together at shutdown. */
  private readonly attempts: Attempts;

  constructor(private readonly options: DeliveryWorkerOptions) {
    this.target = options.target;
    this.now = options.now ?? Date.now;
    this.logger = options.logger.child({
      target: this.target.service,
      ...(options.keys.prefix !== options.config.prefix ? { partition: options.partition } : {}),
    });
    const { config, redis, keys } = options;
    this.steps = new Batcher((batch) => deliverySteps(redis, keys, batch));
    this.locks = new UserLocks(redis, config.lockDuration);
    this.attempts = new Attempts(this.target.timeoutMs);
    const policy = { baseMs: config.retryInterval, capMs: config.maxRetryInterval };
    this.worker = new Worker(
      options.keys.deliveryQueue(this.target.service),
      // Two parameters: BullMQ makes no AbortController per job for a processor that takes no
      // signal; shutdown aborts this worker's attempts itself (close()).
      (job, token) => this.process(job, token),
      {
        connection: options.workerConnection,
        prefix: options.keys.prefix,
        concurrency: options.concurrency,
        autorun: false,
        // A job's lock is renewed while it runs; a worker that dies leaves it to the stalled
        // check, which hands it to another worker. More than a few stalls means a job that kills
        // its worker: BullMQ fails it, and reconcile() records it as a dead letter.
        maxStalledCount: 3,
        ...deliveryRetention(config),
        lockDuration: config.lockDuration,
        stalledInterval: config.lockDuration,
        ...(options.limiter ? { limiter: options.limiter } : {}),
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
    await closeWorker(this.worker, timeoutMs, () => {
      this.logger.warn('shutdown timeout: releasing active deliveries', { timeout_ms: timeoutMs });
      this.attempts.abortAll();
    });
  }

  /** The processor: one attempt of one delivery. Decide, act, record. */
  async process(job: Job, token: string | undefined): Promise<DeliveryJobResult> {
    const run: Run = {
      job,
      token,
      jobId: job.id ?? '',
      attempt: job.attemptsMade + 1,
      started: this.now(),
      data: {},
    };
    const parsed = parseDeliveryJob(run.job, this.target.service);
    if (!parsed.ok) return this.deadLetter(run, 'malformed', { code: 'malformed', message: parsed.reason });
    let data = (run.data = parsed.data);
    await this.options.deadLetters.revive(job, this.target.service, this.options.partition);

    const { keys, config } = this.options;
    const userId = String(data.userId);
    // Unique to this run of this job: a second run of the same job (after a stall) waits too.
    const lockToken = `${run.jobId}|${token ?? randomUUID()}`;
    const begin = beginOf(
      await this.steps.call({
        begin: {
          target: this.target.service,
          userId,
          token: lockToken,
          lockTtlMs: config.lockDuration,
          // Repairs always send the ledger's latest: never older than what was published since.
          // A job without a snapshot (format 3) sends the ledger's: its own, or a newer one.
          snapshot: data.repair || !data.user ? 'newer-or-equal' : this.target.coalesce ? 'newer' : 'none',
          version: data.version,
          jobKey: keys.job(job.queueName, run.jobId),
          rereadJob: !data.user,
          ordered: !this.target.coalesce,
        },
      }),
    );
    if (!begin.locked) return this.waitForTurn(run);
    const lock = this.locks.hold(keys.lock(this.target.service, userId), lockToken);
    try {
      if (begin.storedData !== undefined) {
        const reread = rereadDeliveryJob(job, this.target.service, begin.storedData, data);
        if (!reread.ok) {
          await lock.release();
          return await this.deadLetter(run, 'malformed', { code: 'malformed', message: reread.reason });
        }
        data = run.data = reread.data;
      }
      const decision = decideDelivery({
        data,
        jobId: run.jobId,
        attempt: run.attempt,
        watermark: begin.watermark,
        ledger: begin.ledger,
        coalesce: this.target.coalesce,
        accepts: this.accepts,
      });
      if (decision.action === 'not-in-ledger') {
        await lock.release();
        return await this.deadLetter(run, 'not_in_ledger', { code: 'not_in_ledger', message: decision.why });
      }
      if (decision.action === 'superseded') {
        await this.finish(run, lock, { counter: 'superseded', version: undefined });
        this.logOutcome(run, 'superseded', { watermark: decision.watermark });
        return { outcome: 'superseded', version: data.version };
      }
      const { task } = decision;
      const admission = (await this.options.breakers?.admit(this.target.service)) ?? { kind: 'send' };
      if (admission.kind === 'wait') {
        await lock.release();
        return await this.holdBack(run, admission.ms);
      }
      if (admission.kind === 'probe') run.probe = admission.token;
      run.sent = true;
      const result = await executeUnderDeadline({
        executor: this.options.executor,
        target: this.target,
        task,
        lock,
        logger: this.logger,
        now: this.now,
        attempts: this.attempts,
      });
      await this.options.breakers?.report(this.target.service, true, '', run.probe);
      const outcome = result?.superseded ? 'superseded' : 'delivered';
      await this.finish(run, lock, { counter: outcome, version: task.version });
      const status = result?.status !== undefined ? { status: result.status } : {};
      const coalesced = task.coalesced ? { coalesced: true } : {};
      this.logOutcome(run, outcome, { version: task.version, ...status, ...coalesced });
      return { outcome, version: task.version, ...status, ...coalesced };
    } catch (error) {
      // Released now unless the call to the target may still be running (see execute()).
      await lock.release();
      if (run.settled) throw error;
      return this.failed(run, error);
    }
  }

  /**
   * The target's breaker is open: the job goes back to its queue without spending an attempt,
   * and this worker takes nothing from the queue for `ms` (BullMQ's manual rate limit).
   */
  private async holdBack(run: Run, ms: number): Promise<never> {
    await this.worker.rateLimit(ms);
    run.settled = true;
    this.logOutcome(run, 'held', {
      wait_ms: ms,
      breaker: this.options.breakers?.stateOf(this.target.service).state,
    });
    throw Worker.RateLimitError();
  }

  /**
   * Another delivery of this user to this target is running, or (a target that takes every
   * version) an older version waits for it: wait our turn without spending an attempt, so
   * versions reach the target in order.
   */
  private async waitForTurn(run: Run): Promise<never> {
    // The same delay for every waiting delivery: they come back in the order they left.
    await run.job.moveToDelayed(this.now() + CONTENTION_DELAY_MS, run.token);
    throw new DelayedError();
  }

  /** A failed attempt: released at shutdown, retried with backoff, or dead-lettered. */
  private async failed(run: Run, error: unknown): Promise<never> {
    if (error instanceof ShutdownRelease) {
      await run.job.moveToDelayed(this.now(), run.token);
      this.logOutcome(run, 'released', {});
      throw new DelayedError();
    }
    // Its message becomes the job's failedReason (and the dead letter's), its stack the job's stacktrace.
    const err = redactError(toError(error), targetUrls(this.target));
    const delivery = err instanceof DeliveryError ? err : undefined;
    const retryable = delivery ? delivery.retryable : true;
    const code = delivery?.failureCode ?? 'error';
    if (run.sent && this.options.breakers && code !== 'aborted') {
      // A retryable failure says the target is down or struggling; a refusal for good says it is up.
      const breaker = await this.options.breakers.report(this.target.service, !retryable, code, run.probe);
      // A failed probe spends no attempt: the job waits for the next one with the others.
      if (run.probe !== undefined && retryable && breaker.state === 'open')
        return this.holdBack(run, HOLD_AFTER_PROBE_MS);
    }
    if (retryable && run.attempt < (run.job.opts.attempts ?? 1)) {
      await bumpCounter(this.options.redis, this.options.keys, this.target.service, 'retried');
      this.logOutcome(run, 'retry', {
        status: delivery?.status,
        code,
        error: err.message,
        retry_after_ms: delivery?.retryAfterMs,
      });
      throw err;
    }
    return this.deadLetter(run, retryable ? 'retries_exhausted' : 'non_retryable', {
      code,
      message: err.message,
      status: delivery?.status,
      excerpt: delivery?.excerpt,
    });
  }

  /**
   * Records the dead letter, then fails the job for good. Every dead letter's message and
   * excerpt, and the failedReason of every dead job, are made here: through `redactText`.
   */
  private async deadLetter(run: Run, reason: DeadLetterReason, last: LastFailure): Promise<never> {
    const urls = targetUrls(this.target);
    const message = redactText(last.message, urls);
    const excerpt = last.excerpt === undefined ? undefined : redactText(last.excerpt, urls);
    const failure = { ...last, message, excerpt, attempts: run.attempt };
    await this.options.deadLetters.record(
      recordFromJob({
        job: run.job,
        target: this.target.service,
        partition: this.options.partition,
        reason,
        last: failure,
        now: this.now,
      }),
    );
    this.logOutcome(run, 'dead', { reason, code: last.code, status: last.status, error: message });
    run.settled = true;
    throw new UnrecoverableError(`${reason}: ${message}`);
  }

  /**
   * Records the outcome in one script: watermark raised to `version` (if given), outcome counted
   * once per job, latency (publish to now) for delivered jobs, lock released.
   */
  private async finish(
    run: Run,
    lock: UserLock,
    outcome: { counter: TargetCounter; version: number | undefined },
  ): Promise<void> {
    const { keys } = this.options;
    const now = this.now();
    await this.steps.call({
      finish: {
        target: this.target.service,
        userId: String(run.data.userId),
        token: lock.token,
        jobKey: keys.job(run.job.queueName, run.jobId),
        version: outcome.version,
        counter: outcome.counter,
        latencyMs: now - run.job.timestamp,
        finishedAt: now,
      },
    });
    lock.releasedByScript();
  }

  /** One log line per delivery outcome: ids and figures, never snapshots or secrets. */
  private logOutcome(run: Run, outcome: DeliveryOutcome, extra: Record<string, unknown>): void {
    const ms = this.now() - run.started;
    this.options.onOutcome?.(outcome, this.target.service, ms);
    const level = outcome === 'dead' ? 'warn' : outcome === 'held' ? 'debug' : 'info';
    if (!this.logger.isLevelEnabled(level)) return;
    const fields: Record<string, unknown> = {
      task_id: run.jobId,
      target: this.target.service,
      attempt: run.attempt,
      outcome,
      user_id: run.data.userId,
      event_type: run.data.type,
      ms,
    };
    for (const [key, value] of Object.entries(extra)) if (value !== undefined) fields[key] = value;
    this.logger.log(level, `delivery ${outcome}`, fields);
  }
}
