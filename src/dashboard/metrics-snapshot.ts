import type { Queue } from 'bullmq';
import { DEAD_LETTER_QUEUE } from '../jobs/names.js';
import { readLatency, type LatencyHistogram, type SyncStats } from '../jobs/stats.js';
import type { QueueStatus, UserSyncService } from '../service.js';
import type { SweepRun } from '../sweep/run.js';
import { readOldestWaitingAgeMs, readQueueCounts, type QueueState } from './queue-figures.js';

/** The figures of one queue. */
export interface QueueFigures {
  /** The BullMQ queue name: `deliver.<service>`, `dead-letter`, `maintenance`. */
  queue: string;
  counts: Partial<Record<QueueState, number>>;
  /** Age of the job waiting longest, ms; left out for the dead-letter queue. */
  oldestWaitingAgeMs?: number;
}

/** Everything /metrics shows, read from Redis at scrape time: the deployment's figures. */
export interface MetricsSnapshot {
  stats: SyncStats;
  latency: Record<string, LatencyHistogram>;
  queues: QueueFigures[];
  status: Pick<QueueStatus, 'workers' | 'processes'>;
  /** The newest consistency sweep run, if any has run. */
  lastSweep?: SweepRun;
}

async function figures(service: UserSyncService, queue: Queue, now: number): Promise<QueueFigures> {
  const [counts, oldestWaitingAgeMs] = await Promise.all([
    readQueueCounts(queue),
    readOldestWaitingAgeMs(service.redis, queue, now),
  ]);
  return { queue: queue.name, counts, oldestWaitingAgeMs };
}

/**
 * Reads the snapshot: counters and latency of every configured target; job counts and the
 * oldest waiting job of every enabled target's queue and of the maintenance queue; the dead
 * letters waiting; live workers.
 */
export async function readMetricsSnapshot(service: UserSyncService, now: number): Promise<MetricsSnapshot> {
  const all = service.config.targets.map((t) => t.service);
  const enabled = service.config.targets.filter((t) => t.enabled).map((t) => t.service);
  const [stats, latency, deliveries, maintenance, deadLetters, status, sweeps] = await Promise.all([
    service.getStats(),
    readLatency(service.redis, service.keys, all),
    Promise.all(enabled.map((s) => figures(service, service.queues.delivery(s), now))),
    figures(service, service.queues.maintenance, now),
    service.queues.deadLetter.getJobCounts('waiting'),
    service.getQueueStatus(),
    service.getSweepRuns(1),
  ]);
  return {
    stats,
    latency,
    queues: [
      ...deliveries,
      maintenance,
      { queue: DEAD_LETTER_QUEUE, counts: { waiting: deadLetters.waiting ?? 0 } },
    ],
    status: { workers: status.workers, processes: status.processes },
    ...(sweeps[0] ? { lastSweep: sweeps[0] } : {}),
  };
}
