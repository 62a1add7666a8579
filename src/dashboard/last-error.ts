import type { Queue } from 'bullmq';
import type { DeadLetters } from '../jobs/dead-letter.js';

/** The most recent failed attempt of a target's deliveries. */
export interface LastError {
  /** The error message (BullMQ's `failedReason`, or the dead letter's message). */
  message: string;
  /** When it happened (ISO 8601); for a delivery waiting to retry, when that attempt began. */
  at: string;
  /** The delivery (job id, which is the task id). */
  jobId: string;
  /** Where it was found: a dead job, a delivery waiting to retry, or a dead-letter record. */
  source: 'failed' | 'retrying' | 'dead-letter';
}

/** Delayed jobs looked at for a failed attempt waiting to be retried. */
const DELAYED_SCAN = 50;
/** Dead-letter records looked through when the queue itself has no failure to show. */
const DEAD_LETTER_SCAN = 1_000;

/** The newest of some candidates (by `at`), or null. */
export function newestError(candidates: ReadonlyArray<LastError | undefined>): LastError | null {
  let newest: LastError | null = null;
  for (const candidate of candidates)
    if (candidate && (!newest || Date.parse(candidate.at) > Date.parse(newest.at))) newest = candidate;
  return newest;
}

/**
 * A target's last error: the newest of its queue's most recent failed (dead) job and of its
 * delayed jobs that carry a failure (waiting for a retry; BullMQ records no end time for that
 * attempt, so its start is used). When the queue has neither (failed jobs are removed after
 * `failedRetention`), the newest dead-letter record of the target, among the newest
 * `DEAD_LETTER_SCAN` records.
 */
export async function readLastError(
  queue: Queue,
  service: string,
  deadLetters: DeadLetters,
): Promise<LastError | null> {
  const [failed, delayed] = await Promise.all([queue.getFailed(0, 0), queue.getDelayed(0, DELAYED_SCAN - 1)]);
  const candidates: Array<LastError | undefined> = [];
  const dead = failed[0];
  if (dead?.failedReason && dead.finishedOn) {
    candidates.push({
      message: dead.failedReason,
      at: new Date(dead.finishedOn).toISOString(),
      jobId: dead.id ?? '',
      source: 'failed',
    });
  }
  for (const job of delayed) {
    if (job?.failedReason && job.processedOn) {
      candidates.push({
        message: job.failedReason,
        at: new Date(job.processedOn).toISOString(),
        jobId: job.id ?? '',
        source: 'retrying',
      });
    }
  }
  const fromQueue = newestError(candidates);
  if (fromQueue) return fromQueue;
  let seen = 0;
  for await (const record of deadLetters.all()) {
    if (record.service === service) {
      return { message: record.message, at: record.failedAt, jobId: record.jobId, source: 'dead-letter' };
    }
    if (++seen >= DEAD_LETTER_SCAN) break;
  }
  return null;
}
