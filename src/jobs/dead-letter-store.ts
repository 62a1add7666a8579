/**
 * The dead-letter store: a BullMQ queue nobody consumes, one job per dead delivery (id = task
 * id, so recording the same death twice leaves one record), with an index by time — one sorted
 * set for the deployment and one per target, scored by when the delivery died — so that
 * listing, replaying and purging cost a page, not a walk of the whole queue. It is bounded:
 * records older than `deadLetterRetention`, and beyond `maxDeadLetters` per target, are
 * trimmed, logged and counted; their users are left for the consistency sweep to repair.
 */
import type { Job, JobsOptions } from 'bullmq';
import type { SyncConfig } from '../config/schema.js';
import { toError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Redis } from '../redis.js';
import {
  deadLetterId,
  recordFromJob,
  type DeadLetterFilter,
  type DeadLetterRecord,
  type ListOptions,
  type Progress,
} from './dead-letter.js';
import type { Keyspace } from './names.js';
import { deliveryJobOptions, type QueueSet } from './queues.js';
import { clearOutcome, countOutcome } from './scripts.js';
import { TRIMMED_FIELD, bumpCounter } from './stats.js';

/** BullMQ states a record can be in (nobody consumes the queue: it waits). */
const RECORD_STATES = ['wait', 'prioritized', 'delayed'] as const;
/** Records read at a time. */
const PAGE = 500;

function matches(record: DeadLetterRecord, filter: DeadLetterFilter): boolean {
  if (filter.service !== undefined && record.service !== filter.service) return false;
  if (filter.since !== undefined && Date.parse(record.failedAt) < filter.since.getTime()) return false;
  return true;
}

export class DeadLetters {
  private indexed = false;

  constructor(
    private readonly queues: QueueSet,
    private readonly redis: Redis,
    private readonly keyspace: Keyspace,
    private readonly config: SyncConfig,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Records a dead delivery and indexes it. Idempotent per record id; counts it as dead once per
   * job life. Then trims the target's records to the bounds.
   */
  async record(record: DeadLetterRecord): Promise<void> {
    const options: JobsOptions = { jobId: record.id, removeOnComplete: false, removeOnFail: false };
    await this.queues.deadLetter.add(record.reason, record, options);
    const score = Date.parse(record.failedAt);
    await this.redis
      .multi()
      .zadd(this.index.deadLetterIndex, score, record.id)
      .zadd(this.index.deadLetterIndexOf(record.service), score, record.id)
      .exec();
    const keys = this.keyspace.partition(this.partitionOf(record));
    await countOutcome(this.redis, keys, {
      target: record.service,
      jobKey: keys.job(record.queue, record.jobId),
      counter: 'dead',
    });
    await this.trim(record.service);
  }

  /** Removes a record and returns it, if it exists. */
  async take(id: string): Promise<DeadLetterRecord | undefined> {
    const [record] = await this.fetch([id]);
    if (record) await this.forget(record);
    return record;
  }

  /** Removes a record and its index entries (a delivery attempted again is no longer dead). */
  async forget(record: Pick<DeadLetterRecord, 'id' | 'service'>): Promise<void> {
    await this.queues.deadLetter.remove(record.id);
    await this.redis
      .multi()
      .zrem(this.index.deadLetterIndex, record.id)
      .zrem(this.index.deadLetterIndexOf(record.service), record.id)
      .exec();
  }

  /** The keys of the deployment the index lives under. */
  private get index() {
    return this.keyspace.deployment;
  }

  /** The partition of a record's delivery: recorded, else its user's, else the first. */
  partitionOf(record: Pick<DeadLetterRecord, 'partition' | 'userId'>): number {
    if (record.partition !== undefined && record.partition < this.keyspace.partitions)
      return record.partition;
    return record.userId !== undefined ? this.keyspace.partitionOf(record.userId) : 0;
  }

  /**
   * A delivery starts a run after an earlier run of it may have recorded it dead. Either it was
   * failed for good and then retried by hand (Bull Board): a replay, a new life counted again;
   * or the run that recorded it dead died before failing the job (BullMQ never counted that
   * attempt): that death did not stick and is taken back. Either way the record goes; if this
   * run fails for good, it is recorded again. Runs that cannot follow a death cost nothing.
   */
  async revive(job: Job, target: string, partition: number): Promise<void> {
    const attempt = job.attemptsMade + 1;
    const exhausted = attempt > (job.opts.attempts ?? 1);
    if (job.attemptsStarted <= 1 && !exhausted) return;
    const record = await this.take(deadLetterId(target, job.id ?? ''));
    const keys = this.keyspace.partition(partition);
    const jobKey = keys.job(job.queueName, job.id ?? '');
    const retriedByHand = record ? job.attemptsMade >= record.attempts : exhausted;
    if (retriedByHand) {
      await clearOutcome(this.redis, jobKey);
      await bumpCounter(this.redis, keys, target, 'replayed');
    } else if (record && (await clearOutcome(this.redis, jobKey)) === 'dead') {
      await bumpCounter(this.redis, keys, target, 'dead', -1);
    }
  }

  /** Dead letters, newest first, filtered and paged: one page read, whatever the queue holds. */
  async list(options: ListOptions = {}): Promise<{ total: number; records: DeadLetterRecord[] }> {
    const offset = options.offset ?? 0;
    const limit = options.limit ?? 100;
    if (options.ids) {
      const all = (await this.fetch(options.ids)).filter((r) => matches(r, options));
      return { total: all.length, records: all.slice(offset, offset + limit) };
    }
    await this.ensureIndex();
    const { key, min } = this.range(options);
    const [total, ids] = await Promise.all([
      this.redis.zcount(key, min, '+inf'),
      limit > 0 ? this.redis.zrevrangebyscore(key, '+inf', min, 'LIMIT', offset, limit) : Promise.resolve([]),
    ]);
    return { total, records: await this.fetch(ids) };
  }

  /** The newest dead letter of a target, if any. */
  async newest(target: string): Promise<DeadLetterRecord | undefined> {
    return (await this.list({ service: target, limit: 1 })).records[0];
  }

  /**
   * Sends dead letters back to their target queue under their original job id, with a fresh
   * set of attempts. The delivery still obeys versions: if the target has since received a
   * newer version, it completes as superseded. Returns the ids replayed.
   */
  async replay(filter: DeadLetterFilter = {}, onProgress?: Progress): Promise<string[]> {
    return this.drain(filter, onProgress, async (record) => {
      const partition = this.partitionOf(record);
      const keys = this.keyspace.partition(partition);
      const queue = this.queues.delivery(record.service, partition);
      const job = await queue.getJob(record.jobId);
      if (job && (await job.isFailed())) {
        // A new life: its outcome is counted again.
        await clearOutcome(this.redis, keys.job(queue.name, record.jobId));
        await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
      } else if (!job) {
        await queue.add(record.type ?? 'replay', record.data, {
          ...deliveryJobOptions(this.config),
          jobId: record.jobId,
        });
      }
      // Forgotten only once the delivery is queued again: a crash in between leaves the record.
      await this.forget(record);
      await bumpCounter(this.redis, keys, record.service, 'replayed');
      this.logger.info('dead letter replayed', { task_id: record.id, target: record.service });
    });
  }

  /** Deletes dead letters and their failed jobs. Returns the ids purged. */
  async purge(filter: DeadLetterFilter = {}, onProgress?: Progress): Promise<string[]> {
    const purged = await this.drain(filter, onProgress, (record) => this.remove(record));
    if (purged.length) this.logger.info('dead letters purged', { count: purged.length, ...filter });
    return purged;
  }

  /**
   * Trims a target's records to the bounds: older than `deadLetterRetention`, and the oldest
   * beyond `maxDeadLetters`. What is trimmed is logged and counted (`dead_letters_trimmed`);
   * its users are left for the consistency sweep to repair. Returns how many were trimmed.
   */
  async trim(target: string): Promise<number> {
    await this.ensureIndex();
    const key = this.index.deadLetterIndexOf(target);
    const [expired, count] = await Promise.all([
      this.redis.zrangebyscore(
        key,
        '-inf',
        `(${this.now() - this.config.deadLetterRetention}`,
        'LIMIT',
        0,
        PAGE,
      ),
      this.redis.zcard(key),
    ]);
    const excess = Math.min(PAGE, count - expired.length - this.config.maxDeadLetters);
    const oldest =
      excess > 0 ? await this.redis.zrange(key, expired.length, expired.length + excess - 1) : [];
    const victims = await this.fetch([...expired, ...oldest]);
    for (const record of victims) await this.remove(record);
    if (victims.length === 0) return 0;
    await this.redis.hincrby(this.index.targetStats(target), TRIMMED_FIELD, victims.length);
    this.logger.warn('dead letters trimmed: their users are left for the consistency sweep to repair', {
      target,
      count: victims.length,
      older_than_retention: expired.length,
      over_max: oldest.length,
      user_ids: victims.slice(0, 20).map((r) => r.userId),
    });
    return victims.length;
  }

  /**
   * Makes sure every failed job of a target queue has a record: jobs BullMQ failed by itself
   * (stalled too many times) or that a worker failed before it could record them. Looks at the
   * `scan` most recent failures. Returns how many records it added.
   */
  async reconcile(target: string, partition: number, scan = 1000): Promise<number> {
    const queue = this.queues.delivery(target, partition);
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
        recordFromJob({
          job,
          target,
          partition,
          reason: 'failed',
          last: { code: 'failed', message: job.failedReason || 'failed' },
          now: this.now,
        }),
      );
      added++;
    }
    if (added)
      this.logger.warn('dead letters recorded for jobs failed outside delivery', { target, count: added });
    return added;
  }

  /** Removes a record and, if its delivery is still a failed job, that job too. */
  private async remove(record: DeadLetterRecord): Promise<void> {
    const job = await this.queues.delivery(record.service, this.partitionOf(record)).getJob(record.jobId);
    if (job && (await job.isFailed())) await job.remove();
    await this.forget(record);
  }

  /** The index and lowest score a filter reads. */
  private range(filter: DeadLetterFilter): { key: string; min: string } {
    return {
      key:
        filter.service !== undefined
          ? this.index.deadLetterIndexOf(filter.service)
          : this.index.deadLetterIndex,
      min: filter.since !== undefined ? String(filter.since.getTime()) : '-inf',
    };
  }

  /**
   * Acts on every record a filter selects, a page at a time, newest first: only those recorded
   * before it began (a replayed delivery that dies again is not replayed twice). Each act
   * removes its record from the index; a record it cannot act on stops the drain with the error.
   */
  private async drain(
    filter: DeadLetterFilter,
    onProgress: Progress | undefined,
    act: (record: DeadLetterRecord) => Promise<void>,
  ): Promise<string[]> {
    const done: string[] = [];
    if (filter.ids) {
      const records = (await this.fetch(filter.ids)).filter((r) => matches(r, filter));
      for (const record of records) {
        await act(record);
        done.push(record.id);
        onProgress?.(done.length, records.length);
      }
      return done;
    }
    await this.ensureIndex();
    const { key, min } = this.range(filter);
    const max = String(this.now());
    const total = await this.redis.zcount(key, min, max);
    const seen = new Set<string>();
    for (;;) {
      const ids = (await this.redis.zrevrangebyscore(key, max, min, 'LIMIT', 0, PAGE)).filter(
        (id) => !seen.has(id),
      );
      if (ids.length === 0) return done;
      for (const id of ids) seen.add(id);
      for (const record of await this.fetch(ids)) {
        await act(record);
        done.push(record.id);
        onProgress?.(done.length, total);
      }
    }
  }

  /**
   * The records of these ids, in order; ids whose record is gone (removed by hand, say) are left
   * out and their index entries dropped.
   */
  private async fetch(ids: readonly string[]): Promise<DeadLetterRecord[]> {
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hget(this.queues.deadLetter.toKey(id), 'data');
    const rows = (await pipeline.exec()) ?? [];
    const records: DeadLetterRecord[] = [];
    const gone: string[] = [];
    ids.forEach((id, i) => {
      const [error, raw] = rows[i] ?? [null, null];
      if (error) throw toError(error);
      if (typeof raw !== 'string') return void gone.push(id);
      records.push(JSON.parse(raw) as DeadLetterRecord);
    });
    if (gone.length) {
      const cleanup = this.redis.pipeline().zrem(this.index.deadLetterIndex, ...gone);
      for (const id of gone)
        cleanup.zrem(this.index.deadLetterIndexOf(id.slice(id.lastIndexOf('.') + 1)), id);
      await cleanup.exec();
    }
    return records;
  }

  /**
   * Indexes records written before the index existed (an upgraded deployment), once: a walk of
   * the queue, remembered in Redis so no process walks it again.
   */
  private async ensureIndex(): Promise<void> {
    if (this.indexed) return;
    if ((await this.redis.get(this.index.deadLetterIndexed)) !== '1') {
      for (let start = 0; ; start += PAGE) {
        const jobs = await this.queues.deadLetter.getJobs([...RECORD_STATES], start, start + PAGE - 1, false);
        const pipeline = this.redis.pipeline();
        for (const job of jobs) {
          const record = job?.data as DeadLetterRecord | undefined;
          if (!record?.id) continue;
          const score = Date.parse(record.failedAt) || job.timestamp;
          pipeline.zadd(this.index.deadLetterIndex, score, record.id);
          pipeline.zadd(this.index.deadLetterIndexOf(record.service), score, record.id);
        }
        await pipeline.exec();
        if (jobs.length < PAGE) break;
      }
      await this.redis.set(this.index.deadLetterIndexed, '1');
    }
    this.indexed = true;
  }
}
