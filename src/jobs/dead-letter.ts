import type { Job, JobsOptions } from 'bullmq';
import type { SyncConfig } from '../config/schema.js';
import type { Logger } from '../logger.js';
import type { Redis } from '../redis.js';
import { deliveryJobOptions, type QueueSet } from './queues.js';
import type { Keys } from './names.js';
import { clearOutcome, countOutcome } from './scripts.js';
import { bumpCounter } from './stats.js';

/** Why a delivery was dead-lettered. */
export type DeadLetterReason =
  /** The target answered with an error that retrying cannot fix (most 4xx). */
  | 'non_retryable'
  /** Every attempt failed with a retryable error. */
  | 'retries_exhausted'
  /** The job data could not be read as a delivery. */
  | 'malformed'
  /** The ledger, the record of what was published, does not vouch for the job: never sent. */
  | 'not_in_ledger'
  /** The job failed outside the delivery code (stalled too often, failed by hand). */
  | 'failed';

/** A dead letter: a delivery that will not be retried, with what is known of why. */
export interface DeadLetterRecord {
  /** Id of the dead-letter record (the task id for well-formed deliveries). */
  id: string;
  service: string;
  /** The target queue and job id of the original delivery. */
  queue: string;
  jobId: string;
  eventId?: string;
  userId?: string | number;
  type?: string;
  version?: number;
  reason: DeadLetterReason;
  /** Short code of the last error: `http_404`, `timeout`, `connection`, … */
  code: string;
  /** Last error message. */
  message: string;
  /** Last HTTP status (or executor status), if any. */
  status?: number;
  /** Capped excerpt of the last response body. */
  excerpt?: string;
  /** Attempts made, this one included. */
  attempts: number;
  /** Error messages of the earlier attempts, oldest first (at most 10). */
  history: string[];
  failedAt: string;
  /** The job data as it was, to replay from if the original job is gone. */
  data: unknown;
}

export interface DeadLetterFilter {
  /** Only this target's dead letters. */
  service?: string;
  /** Only these record ids (task ids). */
  ids?: readonly string[];
  /** Only those dead-lettered at or after this time. */
  since?: Date;
}

/** Told after each record of a long operation: how many are done, of how many. */
export type Progress = (done: number, total: number) => void;

export interface ListOptions extends DeadLetterFilter {
  /** Records to skip, newest first. */
  offset?: number;
  /** At most this many (default 100). */
  limit?: number;
}

const RECORD_STATES = ['wait', 'prioritized', 'delayed'] as const;
const PAGE = 500;

/** Id of the dead-letter record of a job: its task id, made unique per target for odd job ids. */
export function deadLetterId(target: string, jobId: string): string {
  return jobId.endsWith(`.${target}`) ? jobId : `${jobId}.${target}`;
}

function matches(record: DeadLetterRecord, filter: DeadLetterFilter): boolean {
  if (filter.service !== undefined && record.service !== filter.service) return false;
  if (filter.ids !== undefined && !filter.ids.includes(record.id)) return false;
  if (filter.since !== undefined && Date.parse(record.failedAt) < filter.since.getTime()) return false;
  return true;
}

/**
 * The dead-letter queue: a BullMQ queue nobody consumes, one job per dead delivery, id =
 * task id, so that recording the same death twice (a worker that died between recording it and
 * failing the job) leaves one record.
 */
export class DeadLetters {
  constructor(
    private readonly queues: QueueSet,
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly config: SyncConfig,
    private readonly logger: Logger,
  ) {}

  /** Records a dead delivery. Idempotent per record id; counts it as dead once per job life. */
  async record(record: DeadLetterRecord): Promise<void> {
    const options: JobsOptions = { jobId: record.id, removeOnComplete: false, removeOnFail: false };
    await this.queues.deadLetter.add(record.reason, record, options);
    await countOutcome(this.redis, this.keys, {
      target: record.service,
      jobKey: this.keys.job(record.queue, record.jobId),
      counter: 'dead',
    });
  }

  /** Removes a record and returns it, if it exists. */
  async take(id: string): Promise<DeadLetterRecord | undefined> {
    const job = await this.queues.deadLetter.getJob(id);
    if (!job) return undefined;
    await this.queues.deadLetter.remove(id);
    return job.data as DeadLetterRecord;
  }

  /** Removes a record if it exists (a delivery being attempted again is no longer dead). */
  async forget(id: string): Promise<void> {
    await this.queues.deadLetter.remove(id);
  }

  /**
   * A delivery starts a run after an earlier run of it may have recorded it dead. Either it was
   * failed for good and then retried by hand (Bull Board): a replay, a new life counted again;
   * or the run that recorded it dead died before failing the job (BullMQ never counted that
   * attempt): that death did not stick and is taken back. Either way the record goes; if this
   * run fails for good, it is recorded again. Runs that cannot follow a death cost nothing.
   */
  async revive(job: Job, target: string): Promise<void> {
    const attempt = job.attemptsMade + 1;
    const exhausted = attempt > (job.opts.attempts ?? 1);
    if (job.attemptsStarted <= 1 && !exhausted) return;
    const record = await this.take(deadLetterId(target, job.id ?? ''));
    const jobKey = this.keys.job(job.queueName, job.id ?? '');
    const retriedByHand = record ? job.attemptsMade >= record.attempts : exhausted;
    if (retriedByHand) {
      await clearOutcome(this.redis, jobKey);
      await bumpCounter(this.redis, this.keys, target, 'replayed');
    } else if (record && (await clearOutcome(this.redis, jobKey)) === 'dead') {
      await bumpCounter(this.redis, this.keys, target, 'dead', -1);
    }
  }

  /** Walks every record, newest first, a page at a time. */
  async *all(filter: DeadLetterFilter = {}): AsyncGenerator<DeadLetterRecord> {
    if (filter.ids) {
      for (const id of filter.ids) {
        const job = await this.queues.deadLetter.getJob(id);
        if (job && matches(job.data as DeadLetterRecord, filter)) yield job.data as DeadLetterRecord;
      }
      return;
    }
    for (let start = 0; ; start += PAGE) {
      const jobs = await this.queues.deadLetter.getJobs([...RECORD_STATES], start, start + PAGE - 1, false);
      for (const job of jobs) {
        if (job && matches(job.data as DeadLetterRecord, filter)) yield job.data as DeadLetterRecord;
      }
      if (jobs.length < PAGE) return;
    }
  }

  /** Dead letters, newest first, filtered and paged. */
  async list(options: ListOptions = {}): Promise<{ total: number; records: DeadLetterRecord[] }> {
    const offset = options.offset ?? 0;
    const limit = options.limit ?? 100;
    const records: DeadLetterRecord[] = [];
    let total = 0;
    for await (const record of this.all(options)) {
      if (total >= offset && records.length < limit) records.push(record);
      total++;
    }
    return { total, records };
  }

  /**
   * Sends dead letters back to their target queue under their original job id, with a fresh
   * set of attempts. The delivery still obeys versions: if the target has since received a
   * newer version, it completes as superseded. Returns the ids replayed.
   */
  async replay(filter: DeadLetterFilter = {}, onProgress?: Progress): Promise<string[]> {
    const replayed: string[] = [];
    const records: DeadLetterRecord[] = [];
    for await (const record of this.all(filter)) records.push(record);
    for (const record of records) {
      const queue = this.queues.delivery(record.service);
      const job = await queue.getJob(record.jobId);
      if (job && (await job.isFailed())) {
        // A new life: its outcome is counted again.
        await clearOutcome(this.redis, this.keys.job(queue.name, record.jobId));
        await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
      } else if (!job) {
        await queue.add(record.type ?? 'replay', record.data, {
          ...deliveryJobOptions(this.config),
          jobId: record.jobId,
        });
      }
      // Forgotten only once the delivery is queued again: a crash in between leaves the record.
      await this.forget(record.id);
      await bumpCounter(this.redis, this.keys, record.service, 'replayed');
      replayed.push(record.id);
      onProgress?.(replayed.length, records.length);
      this.logger.info('dead letter replayed', { task_id: record.id, target: record.service });
    }
    return replayed;
  }

  /** Deletes dead letters and their failed jobs. Returns the ids purged. */
  async purge(filter: DeadLetterFilter = {}, onProgress?: Progress): Promise<string[]> {
    const purged: string[] = [];
    const records: DeadLetterRecord[] = [];
    for await (const record of this.all(filter)) records.push(record);
    for (const record of records) {
      const job = await this.queues.delivery(record.service).getJob(record.jobId);
      if (job && (await job.isFailed())) await job.remove();
      await this.forget(record.id);
      purged.push(record.id);
      onProgress?.(purged.length, records.length);
    }
    if (purged.length) this.logger.info('dead letters purged', { count: purged.length, ...filter });
    return purged;
  }

  /**
   * Makes sure every failed job of a target queue has a record: jobs BullMQ failed by itself
   * (stalled too many times) or that a worker failed before it could record them. Looks at the
   * `scan` most recent failures. Returns how many records it added.
   */
  async reconcile(target: string, scan = 1000): Promise<number> {
    const queue = this.queues.delivery(target);
    const failed = (await queue.getFailed(0, scan - 1)).filter((job) => job?.id !== undefined);
    // One round trip to learn which failed jobs already have a record.
    const pipeline = this.redis.pipeline();
    for (const job of failed)
      pipeline.exists(this.queues.deadLetter.toKey(deadLetterId(target, job.id as string)));
    const exists = (await pipeline.exec()) ?? [];
    let added = 0;
    for (const [i, job] of failed.entries()) {
      if (exists[i]?.[1] === 1) continue;
      await this.record(
        recordFromJob(job, target, 'failed', { code: 'failed', message: job.failedReason || 'failed' }),
      );
      added++;
    }
    if (added)
      this.logger.warn('dead letters recorded for jobs failed outside delivery', {
        target,
        count: added,
      });
    return added;
  }
}

/** What is known of a delivery's last failed attempt. */
export interface LastFailure {
  /** Short code: `http_404`, `timeout`, `malformed`, … */
  code: string;
  message: string;
  status?: number | undefined;
  excerpt?: string | undefined;
  /** Attempts made, this one included (default: the job's attemptsMade). */
  attempts?: number;
}

/** Builds a record from a job and what is known of its last failure. */
export function recordFromJob(
  job: Job,
  target: string,
  reason: DeadLetterReason,
  last: LastFailure,
  now: () => number = Date.now,
): DeadLetterRecord {
  const data = (typeof job.data === 'object' && job.data !== null ? job.data : {}) as Record<string, unknown>;
  const pick = <T>(key: string, type: string): T | undefined =>
    typeof data[key] === type ? (data[key] as T) : undefined;
  const userId = pick<string>('userId', 'string') ?? pick<number>('userId', 'number');
  const jobId = job.id ?? 'unknown';
  return {
    id: deadLetterId(target, jobId),
    service: target,
    queue: job.queueName,
    jobId,
    ...(pick<string>('eventId', 'string') !== undefined
      ? { eventId: pick<string>('eventId', 'string') }
      : {}),
    ...(userId !== undefined ? { userId } : {}),
    ...(pick<string>('type', 'string') !== undefined ? { type: pick<string>('type', 'string') } : {}),
    ...(pick<number>('version', 'number') !== undefined
      ? { version: pick<number>('version', 'number') }
      : {}),
    reason,
    code: last.code,
    message: last.message,
    ...(last.status !== undefined ? { status: last.status } : {}),
    ...(last.excerpt !== undefined ? { excerpt: last.excerpt } : {}),
    attempts: last.attempts ?? Math.max(1, job.attemptsMade),
    history: (job.stacktrace ?? []).slice(-10).map((s) => String(s).split('\n')[0] ?? ''),
    failedAt: new Date(now()).toISOString(),
    data: job.data,
  };
}
