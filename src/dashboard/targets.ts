import type { Job, Queue } from 'bullmq';
import type { TargetConfig } from '../config/schema.js';
import { insecureUrls } from '../config/targets.js';
import type { DeadLetters } from '../jobs/dead-letter-store.js';
import type { TargetStats } from '../jobs/stats.js';
import type { Deployment } from '../deployment.js';
import { redactUrl } from '../redact.js';
import type { Redis } from '../redis.js';
import { CLOSED, readBreakers, type BreakerView } from './breaker-view.js';

/** A target's configuration as the dashboard shows it: no secret, no header value, no password. */
export interface TargetSummary {
  service: string;
  kind: string;
  /** The URL without user info, query or password (see `redactUrl`); null when none. */
  url: string | null;
  method: string;
  enabled: boolean;
  /** Event types delivered; null for all. */
  events: string[] | null;
  timeoutMs: number;
  /** `{ max, duration }`: at most `max` deliveries per `duration` ms; null when unlimited. */
  rateLimit: { max: number; duration: number } | null;
  coalesce: boolean;
  /** Redis targets: the key template. */
  keyTemplate?: string;
  /** Names of the extra headers sent; their values are never shown. */
  headers: string[];
  /** How many signing secrets are active; the secrets are never shown. */
  secrets: number;
  /**
   * True when the target sends user data over plain `http://` to a host that is not loopback
   * and is not marked `allowInsecureHttp` (see `insecureUrls`).
   */
  insecureTransport: boolean;
}

/** How a target's deliveries stand in one partition (to find a hot or stuck one). */
export interface PartitionReport {
  partition: number;
  paused: boolean;
  backlog: number;
  counts: Record<QueueState, number>;
  /** Age of the delivery waiting longest in this partition's queue, ms (0 when none waits). */
  oldestWaitingAgeMs: number;
}

/** A target's summary with how its deliveries are going. */
export interface TargetReport extends TargetSummary {
  /** Whether its delivery queues are paused (`POST /api/targets/:service/pause`): deliveries wait. */
  paused: boolean;
  /** Unfinished deliveries (`queues.backlog`: waiting, prioritized, delayed, active, waiting-children). */
  backlog: number;
  /** Jobs of its delivery queues per state, summed over partitions. */
  counts: Record<QueueState, number>;
  /** Age of the delivery waiting longest in any of its queues, ms (0 when none waits). */
  oldestWaitingAgeMs: number;
  /** With more than one partition: the same figures per partition. */
  partitions?: PartitionReport[];
  /** Its counters since the deployment began (`getStats().by_target`). */
  stats: TargetStats;
  successRate: SuccessRate;
  lastError: LastError | null;
  /** Its circuit breaker (see `readBreakers`). */
  breaker: BreakerView;
}

/** The part of a target's configuration that is safe to show. Pure. */
export function summarizeTarget(target: TargetConfig): TargetSummary {
  return {
    service: target.service,
    kind: target.kind,
    url: target.url === undefined ? null : redactUrl(target.url),
    method: target.method,
    enabled: target.enabled,
    events: target.events ? [...target.events] : null,
    timeoutMs: target.timeoutMs,
    rateLimit: target.rateLimit ? { max: target.rateLimit.max, duration: target.rateLimit.duration } : null,
    coalesce: target.coalesce,
    ...(target.kind === 'redis' ? { keyTemplate: target.keyTemplate } : {}),
    headers: Object.keys(target.headers),
    secrets: target.secrets.length,
    insecureTransport: insecureUrls(target).length > 0,
  };
}

/** Job states the dashboard reports for a queue, as BullMQ names them in `getJobCounts`. */
export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed'] as const;
export type QueueState = (typeof QUEUE_STATES)[number];

/** Jobs of a queue per state, every state present. */
export async function readQueueCounts(queue: Queue): Promise<Record<QueueState, number>> {
  const counts = await queue.getJobCounts(...QUEUE_STATES);
  return Object.fromEntries(QUEUE_STATES.map((s) => [s, counts[s] ?? 0])) as Record<QueueState, number>;
}

/** Counts per state, added up (a target's partitions). */
export function sumCounts(all: ReadonlyArray<Record<QueueState, number>>): Record<QueueState, number> {
  return Object.fromEntries(QUEUE_STATES.map((s) => [s, all.reduce((sum, c) => sum + c[s], 0)])) as Record<
    QueueState,
    number
  >;
}

/**
 * How long the oldest job in the wait list has existed, in ms (0 when the list is empty).
 *
 * BullMQ adds jobs at the head of the wait list (LPUSH; RPUSH only for `lifo` jobs and jobs put
 * back by a stalled worker, which go next) and workers take from the tail (RPOPLPUSH in
 * `moveToActive`), so the tail, index -1, is the job waiting longest. Its age counts from its
 * `timestamp`, when it was published (for a retried delivery, its first attempt's publish).
 */
export async function readOldestWaitingAgeMs(redis: Redis, queue: Queue, now: number): Promise<number> {
  const id = await redis.lindex(queue.toKey('wait'), -1);
  if (id === null) return 0;
  const timestamp = Number(await redis.hget(queue.toKey(id), 'timestamp'));
  return Number.isFinite(timestamp) && timestamp > 0 ? Math.max(0, now - timestamp) : 0;
}

/** Finished deliveries looked at for a target's success rate. */
export const RECENT_WINDOW = 100;

/**
 * A target's recent success rate: of its newest finished deliveries, the share that ended well.
 *
 * Why finished jobs rather than the counters of `getStats()`: the counters run since the
 * deployment began, so a target that started failing an hour ago after a million deliveries
 * would still show 99.9%. The queue's own finished jobs say how the latest deliveries ended:
 * `completed` jobs are delivered or superseded (both fine), `failed` jobs are dead. Retried
 * attempts are not failures here (the delivery may still succeed); the counters, shown beside
 * this as `stats`, have them.
 *
 * Completed jobs are kept `completedRetention` (default 1 h) and failed ones much longer, so only
 * jobs finished within the last `completedRetention` count: otherwise old failures would outweigh
 * deliveries whose completed jobs are already gone. With `completedRetention` 0 nothing is kept to
 * look at, and `rate` is null.
 */
export interface SuccessRate {
  /** Finished deliveries looked at: the newest, at most `RECENT_WINDOW`, within the retention. */
  window: number;
  /** Of those, delivered or superseded. */
  succeeded: number;
  /** Of those, dead. */
  failed: number;
  /** `succeeded / window`, 0 to 1; null when nothing finished in the period. */
  rate: number | null;
}

/**
 * The success rate from the finish times (ms) of completed and failed jobs, each list newest
 * first: merges them, keeps the newest `window`, and counts.
 */
export function successRate(
  completedAt: readonly number[],
  failedAt: readonly number[],
  window = RECENT_WINDOW,
): SuccessRate {
  let succeeded = 0;
  let failed = 0;
  let c = 0;
  let f = 0;
  while (succeeded + failed < window && (c < completedAt.length || f < failedAt.length)) {
    const nextCompleted = completedAt[c] ?? -Infinity;
    const nextFailed = failedAt[f] ?? -Infinity;
    if (nextCompleted >= nextFailed) {
      succeeded++;
      c++;
    } else {
      failed++;
      f++;
    }
  }
  const total = succeeded + failed;
  return { window: total, succeeded, failed, rate: total === 0 ? null : succeeded / total };
}

/** Finish times (ms) of a finished-jobs sorted set since `sinceMs`, newest first, at most `limit`. */
async function finishTimes(redis: Redis, key: string, sinceMs: number, limit: number): Promise<number[]> {
  const flat = await redis.zrevrangebyscore(key, '+inf', sinceMs, 'WITHSCORES', 'LIMIT', 0, limit);
  const times: number[] = [];
  for (let i = 1; i < flat.length; i += 2) times.push(Number(flat[i]));
  return times;
}

/** Reads a target's recent success rate (see SuccessRate) over its delivery queues (partitions). */
export async function readSuccessRate(
  redis: Redis,
  queues: readonly Queue[],
  now: number,
  retentionMs: number,
  window = RECENT_WINDOW,
): Promise<SuccessRate> {
  if (retentionMs <= 0) return successRate([], [], window);
  const since = now - retentionMs;
  const newestFirst = (lists: number[][]) => lists.flat().sort((a, b) => b - a);
  const [completed, failed] = await Promise.all(
    (['completed', 'failed'] as const).map(async (state) =>
      newestFirst(await Promise.all(queues.map((q) => finishTimes(redis, q.toKey(state), since, window)))),
    ),
  );
  return successRate(completed as number[], failed as number[], window);
}

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
 * `failedRetention`), the newest dead-letter record of the target (one read of its index).
 */
export async function readLastError(
  queues: readonly Queue[],
  service: string,
  deadLetters: DeadLetters,
): Promise<LastError | null> {
  const found = await Promise.all(
    queues.map(async (queue) => Promise.all([queue.getFailed(0, 0), queue.getDelayed(0, DELAYED_SCAN - 1)])),
  );
  const candidates: Array<LastError | undefined> = [];
  for (const [failed, delayed] of found) candidates.push(...lastErrorsOf(failed[0], delayed));
  const fromQueue = newestError(candidates);
  if (fromQueue) return fromQueue;
  const record = await deadLetters.newest(service);
  return record
    ? { message: record.message, at: record.failedAt, jobId: record.jobId, source: 'dead-letter' }
    : null;
}

/** The failures a queue's newest failed job and its delayed jobs carry. */
function lastErrorsOf(dead: Job | undefined, delayed: readonly Job[]): LastError[] {
  const candidates: LastError[] = [];
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
  return candidates;
}

const NO_STATS: TargetStats = { delivered: 0, superseded: 0, retried: 0, dead: 0, replayed: 0, trimmed: 0 };

/** Every configured target (enabled or not), summarized, with its queues' figures. */
export async function readTargets(deployment: Deployment, now: number): Promise<TargetReport[]> {
  const [stats, breakers] = await Promise.all([deployment.getStats(), readBreakers(deployment)]);
  const partitioned = deployment.keyspace.partitions > 1;
  return Promise.all(
    deployment.config.targets.map(async (target): Promise<TargetReport> => {
      const queues = deployment.queues.deliveriesOf(target.service);
      const [perPartition, successRate, lastError] = await Promise.all([
        Promise.all(
          queues.map(async (queue, partition): Promise<PartitionReport> => {
            const [paused, counts, oldestWaitingAgeMs] = await Promise.all([
              queue.isPaused(),
              readQueueCounts(queue),
              readOldestWaitingAgeMs(deployment.redis, queue, now),
            ]);
            const backlog = counts.waiting + counts.active + counts.delayed + counts.prioritized;
            return { partition, paused, backlog, counts, oldestWaitingAgeMs };
          }),
        ),
        readSuccessRate(deployment.redis, queues, now, deployment.config.completedRetention),
        readLastError(queues, target.service, deployment.deadLetters),
      ]);
      return {
        ...summarizeTarget(target),
        paused: perPartition.every((p) => p.paused),
        backlog: await deployment.queues.backlog(target.service),
        counts: sumCounts(perPartition.map((p) => p.counts)),
        oldestWaitingAgeMs: Math.max(0, ...perPartition.map((p) => p.oldestWaitingAgeMs)),
        ...(partitioned ? { partitions: perPartition } : {}),
        stats: stats.by_target[target.service] ?? NO_STATS,
        successRate,
        lastError,
        breaker: breakers.get(target.service) ?? CLOSED,
      };
    }),
  );
}
