/**
 * One user's deliveries to one target: pending, retrying, active and dead, with their last
 * errors. Found two ways, and the answer says which were used: by id, for the jobs whose ids
 * follow from the ledger (its latest event's task id, the repair/backfill id of its version,
 * their dead letters), and by a bounded scan of the target's queue in the user's partition
 * (`wait`, `paused`, `prioritized`, `delayed`, `active`, `failed`) and of the target's dead-letter
 * index, for deliveries of older versions — Bull Board cannot search jobs by payload.
 */
import type { Job } from 'bullmq';
import type { DeadLetterRecord } from '../jobs/dead-letter.js';
import { deadLetterId } from '../jobs/dead-letter.js';
import type { DeadLetters } from '../jobs/dead-letter-store.js';
import { jobFacts, type DeliveryJobData } from '../jobs/delivery-job.js';
import type { DeploymentKeys } from '../jobs/names.js';
import type { QueueSet } from '../jobs/queues.js';
import { scanUserJobs, type IdListKind, type UserJobScan } from '../jobs/user-jobs-script.js';
import type { Redis } from '../redis.js';

/** The queue lists scanned, and how each is kept. */
export const SCANNED_STATES: ReadonlyArray<{ state: string; kind: IdListKind }> = [
  { state: 'wait', kind: 'list' },
  { state: 'paused', kind: 'list' },
  { state: 'prioritized', kind: 'zset' },
  { state: 'delayed', kind: 'zset' },
  { state: 'active', kind: 'list' },
  { state: 'failed', kind: 'zset-rev' },
];

/** Most deliveries shown per target (a user rarely has more than a few). */
export const MAX_JOBS_SHOWN = 100;

/** A delivery still to be made, being made, or waiting for its next attempt. */
export interface DeliveryView {
  jobId: string;
  eventId?: string;
  type?: string;
  version?: number;
  /** BullMQ state: `waiting`, `prioritized`, `paused`, `delayed`, `active`. */
  state: string;
  /** Attempts made so far. */
  attemptsMade: number;
  createdAt: string;
  /** The last attempt's error, if an attempt failed. */
  lastError?: string;
  /** Delayed deliveries: when the next attempt is due. */
  nextAttemptAt?: string;
  /** Enqueued by the sweep or a backfill. */
  repair?: boolean;
}

/** A delivery that will not be retried: its dead letter (or its failed job, when it has none). */
export interface DeadView {
  id: string;
  eventId?: string;
  type?: string;
  version?: number;
  reason: string;
  code: string;
  message: string;
  status?: number;
  attempts: number;
  failedAt: string;
  /** The target's answer, capped (may echo personal data): shown only when revealed. */
  excerpt?: string;
}

/** What was read to find them. */
export interface ScanFigures {
  /** Per list scanned: its size and how much of it was read. */
  lists: Array<{ list: string; size: number; scanned: number; truncated: boolean }>;
  /** Job ids looked up directly (derived from the ledger). */
  byId: string[];
}

export interface UserJobs {
  pending: DeliveryView[];
  retrying: DeliveryView[];
  active: DeliveryView[];
  dead: DeadView[];
  scanned: ScanFigures;
  /** True when a list was longer than the bound, or more deliveries matched than are shown. */
  truncated: boolean;
}

export interface UserJobsArgs {
  redis: Redis;
  queues: QueueSet;
  deadLetters: DeadLetters;
  deploymentKeys: DeploymentKeys;
  service: string;
  partition: number;
  userId: string;
  /** Job ids that follow from the ledger, looked up directly. */
  knownIds: readonly string[];
  /** Entries read per list at most. */
  scanLimit: number;
  reveal: boolean;
}

function iso(ms: number | undefined): string {
  return Number.isFinite(ms) ? new Date(ms as number).toISOString() : '';
}

function belongs(job: Job | undefined, userId: string): job is Job {
  const data = job?.data as Partial<DeliveryJobData> | undefined;
  return data !== undefined && String(data.userId) === userId;
}

/** Reads one user's deliveries to one target (see the file's comment). */
export async function findUserJobs(args: UserJobsArgs): Promise<UserJobs> {
  const { redis, queues, service, partition, userId, scanLimit } = args;
  const queue = queues.delivery(service, partition);
  const scanned: ScanFigures = { lists: [], byId: [...args.knownIds] };
  let truncated = false;
  const stateOf = new Map<string, string>();
  for (const { state, kind } of SCANNED_STATES) {
    const key = queue.toKey(state);
    const scan = await scanUserJobs(redis, {
      key,
      kind,
      jobKeyPrefix: queue.toKey(''),
      userId,
      limit: scanLimit,
    });
    if (scan.size > 0) scanned.lists.push({ list: key, ...scanOnly(scan) });
    truncated ||= scan.truncated;
    for (const id of scan.ids) if (!stateOf.has(id)) stateOf.set(id, state === 'wait' ? 'waiting' : state);
  }
  const ids = [...new Set([...stateOf.keys(), ...args.knownIds])];
  if (ids.length > MAX_JOBS_SHOWN) truncated = true;
  const jobs = (await Promise.all(ids.slice(0, MAX_JOBS_SHOWN).map((id) => queue.getJob(id)))).filter(
    (job): job is Job => belongs(job, userId),
  );
  const delayedAt = await delayedTimes(
    redis,
    queue.toKey('delayed'),
    jobs.map((j) => j.id as string),
  );

  const result: UserJobs = { pending: [], retrying: [], active: [], dead: [], scanned, truncated };
  const failed: Job[] = [];
  for (const job of jobs) {
    const id = job.id as string;
    const state = stateOf.get(id) ?? (await job.getState());
    if (state === 'failed') {
      failed.push(job);
      continue;
    }
    if (state === 'completed' || state === 'unknown') continue;
    const view = deliveryView(job, service, state, delayedAt.get(id));
    if (state === 'active') result.active.push(view);
    else if (state === 'delayed' && job.attemptsMade > 0) result.retrying.push(view);
    else result.pending.push(view);
  }
  const dead = await deadOf(args, failed, queue.name);
  result.dead = dead.views;
  if (dead.scan.size > 0) scanned.lists.push({ list: dead.key, ...scanOnly(dead.scan) });
  result.truncated ||= dead.scan.truncated;
  return result;
}

function scanOnly(scan: { size: number; scanned: number; truncated: boolean }) {
  return { size: scan.size, scanned: scan.scanned, truncated: scan.truncated };
}

function deliveryView(job: Job, service: string, state: string, nextAt: number | undefined): DeliveryView {
  const { eventId, type, version, repair } = jobFacts(job, service);
  return {
    jobId: job.id as string,
    ...(eventId !== undefined ? { eventId } : {}),
    ...(type !== undefined ? { type } : {}),
    ...(version !== undefined ? { version } : {}),
    state,
    attemptsMade: job.attemptsMade,
    createdAt: iso(job.timestamp),
    ...(job.failedReason ? { lastError: job.failedReason } : {}),
    ...(nextAt !== undefined ? { nextAttemptAt: iso(nextAt) } : {}),
    ...(repair ? { repair: true } : {}),
  };
}

/** When each delayed job is due: BullMQ scores a delayed job `timestamp * 0x1000 + counter`. */
async function delayedTimes(redis: Redis, key: string, ids: readonly string[]): Promise<Map<string, number>> {
  const times = new Map<string, number>();
  if (ids.length === 0) return times;
  const pipeline = redis.pipeline();
  for (const id of ids) pipeline.zscore(key, id);
  const rows = (await pipeline.exec()) ?? [];
  ids.forEach((id, i) => {
    const score = rows[i]?.[1];
    if (typeof score === 'string') times.set(id, Math.floor(Number(score) / 0x1000));
  });
  return times;
}

/**
 * The user's dead deliveries to the target: its dead letters (scanned in the target's index, and
 * by the ids derived from the ledger), and failed jobs that have none (failed outside delivery).
 */
async function deadOf(
  args: UserJobsArgs,
  failed: readonly Job[],
  queueName: string,
): Promise<{ views: DeadView[]; key: string; scan: UserJobScan }> {
  const { redis, queues, deadLetters, deploymentKeys, service, userId, scanLimit } = args;
  const key = deploymentKeys.deadLetterIndexOf(service);
  const scan = await scanUserJobs(redis, {
    key,
    kind: 'zset-rev',
    jobKeyPrefix: queues.deadLetter.toKey(''),
    userId,
    limit: scanLimit,
  });
  const candidates = new Set([
    ...scan.ids,
    ...[...args.knownIds, ...failed.map((j) => j.id as string)].map((id) => deadLetterId(service, id)),
  ]);
  const { records } = await deadLetters.list({ ids: [...candidates], limit: MAX_JOBS_SHOWN });
  const mine = records.filter((r) => r.service === service && String(r.userId) === userId);
  const recorded = new Set(mine.map((r) => r.jobId));
  const views = mine.map((r) => deadView(r, args.reveal));
  for (const job of failed) {
    if (recorded.has(job.id as string)) continue;
    const { eventId, type, version } = jobFacts(job, service);
    views.push({
      id: deadLetterId(service, job.id as string),
      ...(eventId !== undefined ? { eventId } : {}),
      ...(type !== undefined ? { type } : {}),
      ...(version !== undefined ? { version } : {}),
      reason: 'failed',
      code: 'failed',
      message: job.failedReason || `failed in ${queueName}`,
      attempts: job.attemptsMade,
      failedAt: iso(job.finishedOn),
    });
  }
  return { views, key, scan };
}

function deadView(record: DeadLetterRecord, reveal: boolean): DeadView {
  return {
    id: record.id,
    ...(record.eventId !== undefined ? { eventId: record.eventId } : {}),
    ...(record.type !== undefined ? { type: record.type } : {}),
    ...(record.version !== undefined ? { version: record.version } : {}),
    reason: record.reason,
    code: record.code,
    message: record.message,
    ...(record.status !== undefined ? { status: record.status } : {}),
    attempts: record.attempts,
    failedAt: record.failedAt,
    ...(reveal && record.excerpt !== undefined ? { excerpt: record.excerpt } : {}),
  };
}
