import { FlowProducer, Queue, type JobsOptions, type WorkerOptions } from 'bullmq';
import type { SyncConfig } from '../config/schema.js';
import type { Redis } from '../redis.js';
import { DEAD_LETTER_QUEUE, MAINTENANCE_QUEUE, type Keyspace } from './names.js';

/** States that make up a target's backlog: everything not yet finished. */
export const BACKLOG_STATES = ['wait', 'prioritized', 'delayed', 'active', 'waiting-children'] as const;

/**
 * BullMQ options of every delivery job, from the config: only what a job needs of its own
 * (attempts, backoff). They are stored in each job's hash; what is the same for every job of a
 * target — how long finished jobs are kept — is the workers' ({@link deliveryRetention}).
 */
export function deliveryJobOptions(config: SyncConfig): JobsOptions {
  return { attempts: config.maxRetries + 1, backoff: { type: 'user-sync' } };
}

/**
 * How long finished delivery jobs are kept: options of the delivery workers, which BullMQ
 * applies to every job that has none of its own (jobs created before this kept theirs).
 */
export function deliveryRetention(
  config: SyncConfig,
): Pick<WorkerOptions, 'removeOnComplete' | 'removeOnFail'> {
  return {
    removeOnComplete: { age: Math.ceil(config.completedRetention / 1000), count: 10_000 },
    removeOnFail: { age: Math.ceil(config.failedRetention / 1000), count: config.maxDeadLetters },
  };
}

/**
 * How many entries each delivery queue's BullMQ event stream keeps (approximately: Redis trims
 * whole stream nodes). user-sync reads none of them — its dashboard, stats and Bull Board read
 * the queues themselves — so the streams only serve a `QueueEvents` listener of your own.
 * BullMQ's default is 10,000: about 1 MB per queue.
 */
export const EVENT_STREAM_MAX_LEN = 100;

/**
 * Job options as BullMQ stores them in a job's hash (`opts`), as JSON: what `Queue.add` keeps
 * of these options (`attempts`, `backoff`, `removeOnComplete`, `removeOnFail`), for jobs created
 * by user-sync's own publish script.
 */
export function storedJobOptions(options: JobsOptions): string {
  const stored: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(options)) if (value !== undefined) stored[name] = value;
  return JSON.stringify(stored);
}

/**
 * The BullMQ queues of one deployment, opened lazily on a shared connection: one delivery
 * queue per (partition, target), each under its partition's prefix; the dead-letter queue and
 * the maintenance queue under the deployment's own prefix.
 */
export class QueueSet {
  private readonly deliveries = new Map<string, Queue>();
  private readonly flowProducers = new Map<number, FlowProducer>();
  private deadLetterQueue: Queue | undefined;
  private maintenanceQueue: Queue | undefined;

  /**
   * @param onError - connection errors of the queues (Redis restarting, …); BullMQ would
   * print them to the console if nobody listened.
   */
  constructor(
    readonly connection: Redis,
    readonly keyspace: Keyspace,
    private readonly onError: (error: Error) => void = () => undefined,
  ) {}

  private watch<T extends Queue | FlowProducer>(queue: T): T {
    (queue as unknown as NodeJS.EventEmitter).on('error', (error: Error) => this.onError(error));
    return queue;
  }

  /** The delivery queue of a target in one partition (the only one by default). */
  delivery(target: string, partition = 0): Queue {
    const id = `${partition}:${target}`;
    let queue = this.deliveries.get(id);
    if (!queue) {
      const keys = this.keyspace.partition(partition);
      queue = this.watch(
        new Queue(keys.deliveryQueue(target), {
          connection: this.connection,
          prefix: keys.prefix,
          streams: { events: { maxLen: EVENT_STREAM_MAX_LEN } },
        }),
      );
      this.deliveries.set(id, queue);
    }
    return queue;
  }

  /** The delivery queues of a target, one per partition, in partition order. */
  deliveriesOf(target: string): Queue[] {
    return this.keyspace.all().map((_, p) => this.delivery(target, p));
  }

  /** Whether a target is paused: every partition's queue (`Queue.isPaused`). */
  async isPaused(target: string): Promise<boolean> {
    return (await Promise.all(this.deliveriesOf(target).map((q) => q.isPaused()))).every(Boolean);
  }

  get deadLetter(): Queue {
    this.deadLetterQueue ??= this.watch(
      new Queue(DEAD_LETTER_QUEUE, { connection: this.connection, prefix: this.keyspace.prefix }),
    );
    return this.deadLetterQueue;
  }

  get maintenance(): Queue {
    this.maintenanceQueue ??= this.watch(
      new Queue(MAINTENANCE_QUEUE, { connection: this.connection, prefix: this.keyspace.prefix }),
    );
    return this.maintenanceQueue;
  }

  /** Adds jobs across one partition's target queues in one MULTI (they share its hash tag). */
  flows(partition: number): FlowProducer {
    let producer = this.flowProducers.get(partition);
    if (!producer) {
      const { prefix } = this.keyspace.partition(partition);
      producer = this.watch(new FlowProducer({ connection: this.connection, prefix }));
      this.flowProducers.set(partition, producer);
    }
    return producer;
  }

  /** Unfinished deliveries of a target in each partition, in partition order. */
  async backlogByPartition(target: string): Promise<number[]> {
    return Promise.all(
      this.deliveriesOf(target).map(async (queue) => {
        const counts = await queue.getJobCounts(...BACKLOG_STATES);
        return Object.values(counts).reduce((sum, n) => sum + n, 0);
      }),
    );
  }

  /** Unfinished deliveries of a target, across partitions. */
  async backlog(target: string): Promise<number> {
    return (await this.backlogByPartition(target)).reduce((a, b) => a + b, 0);
  }

  /** Closes the queue objects; the shared connection stays open (its owner closes it). */
  async close(): Promise<void> {
    const all = [
      ...this.deliveries.values(),
      ...this.flowProducers.values(),
      this.deadLetterQueue,
      this.maintenanceQueue,
    ].filter((q): q is Queue | FlowProducer => q !== undefined);
    await Promise.all(all.map((q) => q.close()));
    this.deliveries.clear();
    this.flowProducers.clear();
    this.deadLetterQueue = undefined;
    this.maintenanceQueue = undefined;
  }
}
