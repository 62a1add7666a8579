/** A dead letter: what it records and how it is built from a failed job (the store is dead-letter-store.ts). */
import type { Job } from 'bullmq';
import { jobFacts } from './delivery-job.js';

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
  /** The target queue, its partition (0 when there is one) and job id of the original delivery. */
  queue: string;
  partition?: number;
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

/** Id of the dead-letter record of a job: its task id, made unique per target for odd job ids. */
export function deadLetterId(target: string, jobId: string): string {
  return jobId.endsWith(`.${target}`) ? jobId : `${jobId}.${target}`;
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

/** Builds a record from a job (of `target`'s queue in `partition`) and what is known of its last failure. */
export function recordFromJob(args: {
  job: Job;
  target: string;
  partition: number;
  reason: DeadLetterReason;
  last: LastFailure;
  now?: () => number;
}): DeadLetterRecord {
  const { job, target, partition, reason, last } = args;
  const now = args.now ?? Date.now;
  const jobId = job.id ?? 'unknown';
  const { eventId, type, userId, version } = jobFacts(job, target);
  return {
    id: deadLetterId(target, jobId),
    service: target,
    queue: job.queueName,
    partition,
    jobId,
    ...(eventId !== undefined ? { eventId } : {}),
    ...(userId !== undefined ? { userId } : {}),
    ...(type !== undefined ? { type } : {}),
    ...(version !== undefined ? { version } : {}),
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
