import { Worker, type Job } from 'bullmq';
import type { SyncConfig } from '../config/schema.js';
import { toError } from '../errors.js';
import { MAINTENANCE_QUEUE, type DeploymentKeys } from '../jobs/names.js';
import type { QueueSet } from '../jobs/queues.js';
import type { Logger } from '../logger.js';
import type { Redis } from '../redis.js';
import { closeWorker } from '../workers/close-worker.js';
import type { SweepOptions } from './run.js';
import type { SweepRun } from './classify.js';

/** The job scheduler of the consistency sweep, and the name of its jobs. */
export const SWEEP_SCHEDULER_ID = 'consistency-sweep';

/** What a sweep job returns (visible in Bull Board). */
export interface SweepJobResult {
  skipped?: 'already run for this interval' | 'another sweep is running';
  usersChecked?: number;
  repairsEnqueued?: number;
  stoppedBy?: SweepRun['stoppedBy'];
}

/**
 * Makes the maintenance queue's sweep scheduler match the config: every `checkInterval` while
 * `consistencyCheck` is on, none otherwise. Many processes start at once: a short lock lets
 * one of them do it, and an unchanged scheduler is left alone.
 */
export async function syncSweepScheduler(
  queues: QueueSet,
  redis: Redis,
  keys: DeploymentKeys,
  config: SyncConfig,
  logger: Logger,
): Promise<void> {
  const lock = `${keys.sweepLock}:scheduler`;
  if ((await redis.set(lock, '1', 'PX', 10_000, 'NX')) !== 'OK') return;
  try {
    const queue = queues.maintenance;
    const current = await queue.getJobScheduler(SWEEP_SCHEDULER_ID);
    if (!config.consistencyCheck) {
      if (current) {
        await queue.removeJobScheduler(SWEEP_SCHEDULER_ID);
        logger.info('consistency sweep scheduler removed (consistencyCheck is off)');
      }
      return;
    }
    if (current && Number(current.every) === config.checkInterval) return;
    await queue.upsertJobScheduler(
      SWEEP_SCHEDULER_ID,
      { every: config.checkInterval },
      { name: SWEEP_SCHEDULER_ID, opts: { removeOnComplete: 100, removeOnFail: 100 } },
    );
    logger.info('consistency sweep scheduled', { every_ms: config.checkInterval });
  } finally {
    await redis.del(lock);
  }
}

export interface MaintenanceWorkerOptions {
  connection: Redis;
  redis: Redis;
  keys: DeploymentKeys;
  config: SyncConfig;
  logger: Logger;
  sweep: (options: SweepOptions) => Promise<SweepRun | undefined>;
}

/**
 * Takes the maintenance queue's jobs in this process: the scheduled sweeps. One job per
 * interval reaches one worker (BullMQ's scheduler), and a marker per interval makes sure an
 * interval is never swept twice, even if its job is handed out again after a stall.
 */
export class MaintenanceWorker {
  readonly worker: Worker;

  constructor(private readonly options: MaintenanceWorkerOptions) {
    this.worker = new Worker(MAINTENANCE_QUEUE, (job, _token, signal) => this.process(job, signal), {
      connection: options.connection,
      prefix: options.config.prefix,
      concurrency: 1,
      autorun: false,
    });
    this.worker.on('error', (error) =>
      options.logger.error('maintenance worker error', { error: toError(error).message }),
    );
  }

  start(): void {
    void this.worker
      .run()
      .catch((error: unknown) =>
        this.options.logger.error('maintenance worker stopped', { error: toError(error).message }),
      );
  }

  async process(job: Job, signal?: AbortSignal): Promise<SweepJobResult> {
    if (job.name !== SWEEP_SCHEDULER_ID) return {};
    const { redis, keys, config } = this.options;
    const interval = job.id ?? String(job.timestamp);
    const first = await redis.set(
      keys.sweepInterval(interval),
      '1',
      'PX',
      Math.max(config.checkInterval * 3, 60_000),
      'NX',
    );
    if (first !== 'OK') return { skipped: 'already run for this interval' };
    const run = await this.options.sweep({ trigger: 'scheduled', interval, ...(signal ? { signal } : {}) });
    if (!run) return { skipped: 'another sweep is running' };
    return { usersChecked: run.usersChecked, repairsEnqueued: run.repairsEnqueued, stoppedBy: run.stoppedBy };
  }

  /** Stops taking jobs; a running sweep is told to stop and keeps its cursor. */
  async close(timeoutMs: number): Promise<void> {
    await closeWorker(this.worker, timeoutMs);
  }
}
