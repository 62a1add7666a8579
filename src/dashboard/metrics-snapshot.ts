import type { Queue } from 'bullmq';
import { DEAD_LETTER_QUEUE } from '../jobs/names.js';
import { readLatency, type LatencyHistogram, type SyncStats } from '../jobs/stats.js';
import type { Deployment, QueueStatus } from '../deployment.js';
import type { SweepRun } from '../sweep/classify.js';
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

async function figures(deployment: Deployment, queue: Queue, now: number): Promise<QueueFigures> {
  const [counts, oldestWaitingAgeMs] = await Promise.all([
    readQueueCounts(queue),
    readOldestWaitingAgeMs(deployment.redis, queue, now),
  ]);
  return { queue: queue.name, counts, oldestWaitingAgeMs };
}

/**
 * Reads the snapshot: counters and latency of every configured target; job counts and the
 * oldest waiting job of every enabled target's queue and of the maintenance queue; the dead
 * letters waiting; live workers.
 */
export async function readMetricsSnapshot(deployment: Deployment, now: number): Promise<MetricsSnapshot> {
  const all = deployment.config.targets.map((t) => t.service);
  const enabled = deployment.config.targets.filter((t) => t.enabled).map((t) => t.service);
  const [stats, latency, deliveries, maintenance, deadLetters, status, sweeps] = await Promise.all([
    deployment.getStats(),
    readLatency(deployment.redis, deployment.keys, all),
    Promise.all(enabled.map((s) => figures(deployment, deployment.queues.delivery(s), now))),
    figures(deployment, deployment.queues.maintenance, now),
    deployment.queues.deadLetter.getJobCounts('waiting'),
    deployment.getQueueStatus(),
    deployment.getSweepRuns(1),
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
