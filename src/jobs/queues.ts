import { FlowProducer, Queue, type JobsOptions } from 'bullmq';
import type { SyncConfig } from '../config/schema.js';
import type { Redis } from '../redis.js';
import { DEAD_LETTER_QUEUE, MAINTENANCE_QUEUE, deliveryQueueName } from './names.js';

/** States that make up a target's backlog: everything not yet finished. */
export const BACKLOG_STATES = ['wait', 'prioritized', 'delayed', 'active', 'waiting-children'] as const;

/** BullMQ options of every delivery job, from the config. */
export function deliveryJobOptions(config: SyncConfig): JobsOptions {
  return {
    attempts: config.maxRetries + 1,
    backoff: { type: 'user-sync' },
    removeOnComplete: { age: Math.ceil(config.completedRetention / 1000), count: 10_000 },
    removeOnFail: { age: Math.ceil(config.failedRetention / 1000), count: config.maxDeadLetters },
  };
}

/**
 * The BullMQ queues of one deployment, opened lazily on a shared connection: one delivery
 * queue per target, the dead-letter queue and the maintenance queue.
 */
export class QueueSet {
  private readonly deliveries = new Map<string, Queue>();
  private deadLetterQueue: Queue | undefined;
  private maintenanceQueue: Queue | undefined;
  private flowProducer: FlowProducer | undefined;

  /**
   * @param onError - connection errors of the queues (Redis restarting, …); BullMQ would
   * print them to the console if nobody listened.
   */
  constructor(
    readonly connection: Redis,
    readonly prefix: string,
    private readonly onError: (error: Error) => void = () => undefined,
  ) {}

  private watch<T extends Queue | FlowProducer>(queue: T): T {
    (queue as unknown as NodeJS.EventEmitter).on('error', (error: Error) => this.onError(error));
    return queue;
  }

  delivery(target: string): Queue {
    let queue = this.deliveries.get(target);
    if (!queue) {
      queue = this.watch(
        new Queue(deliveryQueueName(target), { connection: this.connection, prefix: this.prefix }),
      );
      this.deliveries.set(target, queue);
    }
    return queue;
  }

  get deadLetter(): Queue {
    this.deadLetterQueue ??= this.watch(
      new Queue(DEAD_LETTER_QUEUE, { connection: this.connection, prefix: this.prefix }),
    );
    return this.deadLetterQueue;
  }

  get maintenance(): Queue {
    this.maintenanceQueue ??= this.watch(
      new Queue(MAINTENANCE_QUEUE, { connection: this.connection, prefix: this.prefix }),
    );
    return this.maintenanceQueue;
  }

  /** Adds jobs across queues in one MULTI (all keys share the prefix's hash tag). */
  get flows(): FlowProducer {
    this.flowProducer ??= this.watch(new FlowProducer({ connection: this.connection, prefix: this.prefix }));
    return this.flowProducer;
  }

  /** Unfinished deliveries of a target. */
  async backlog(target: string): Promise<number> {
    const counts = await this.delivery(target).getJobCounts(...BACKLOG_STATES);
    return Object.values(counts).reduce((sum, n) => sum + n, 0);
  }

  /** Closes the queue objects; the shared connection stays open (its owner closes it). */
  async close(): Promise<void> {
    const all = [
      ...this.deliveries.values(),
      this.deadLetterQueue,
      this.maintenanceQueue,
      this.flowProducer,
    ].filter((q): q is Queue | FlowProducer => q !== undefined);
    await Promise.all(all.map((q) => q.close()));
    this.deliveries.clear();
    this.deadLetterQueue = undefined;
    this.maintenanceQueue = undefined;
    this.flowProducer = undefined;
  }
}
