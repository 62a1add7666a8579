import { Counter, Gauge, Registry } from 'prom-client';
import { TARGET_COUNTERS } from '../jobs/stats.js';
import { SWEEP_CLASSES } from '../sweep/classify.js';
import { histogramText } from './histogram-text.js';
import type { MetricsSnapshot } from './metrics-snapshot.js';

/** Content type of the /metrics answer (Prometheus text format 0.0.4). */
export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/** `user_sync_tasks_total{state}`: the global counters of `getStats()`, by state label. */
const TASK_STATES = {
  published: 'total_tasks',
  completed: 'completed_tasks',
  failed: 'failed_tasks',
  retried: 'retry_tasks',
} as const;

/**
 * The Prometheus text exposition of a snapshot. A fresh prom-client Registry (never the global
 * one) per scrape, so that every figure is the deployment's as read from Redis, with nothing
 * left over from an earlier scrape; the latency histogram is written by `histogramText`.
 */
export async function renderMetrics(snapshot: MetricsSnapshot): Promise<string> {
  const registry = new Registry();
  const registers = [registry];

  const deliveries = new Counter({
    name: 'user_sync_deliveries_total',
    help: 'Delivery outcomes per target since the deployment began (retried: attempts that will be retried; replayed: dead letters sent again).',
    labelNames: ['target', 'outcome'] as const,
    registers,
  });
  for (const [target, counters] of Object.entries(snapshot.stats.by_target))
    for (const outcome of TARGET_COUNTERS) deliveries.inc({ target, outcome }, counters[outcome]);

  const tasks = new Counter({
    name: 'user_sync_tasks_total',
    help: 'Deliveries across targets since the deployment began: published, completed (delivered or superseded), failed (dead), retried (attempts).',
    labelNames: ['state'] as const,
    registers,
  });
  for (const [state, field] of Object.entries(TASK_STATES)) tasks.inc({ state }, snapshot.stats[field]);

  const jobs = new Gauge({
    name: 'user_sync_queue_jobs',
    help: 'Jobs in each queue by state (dead-letter: records waiting to be replayed or purged).',
    labelNames: ['queue', 'state'] as const,
    registers,
  });
  const oldest = new Gauge({
    name: 'user_sync_oldest_waiting_job_age_seconds',
    help: 'Age of the job waiting longest in each queue (0 when none waits).',
    labelNames: ['queue'] as const,
    registers,
  });
  for (const { queue, counts, oldestWaitingAgeMs } of snapshot.queues) {
    for (const [state, value] of Object.entries(counts)) jobs.set({ queue, state }, value);
    if (oldestWaitingAgeMs !== undefined) oldest.set({ queue }, oldestWaitingAgeMs / 1000);
  }

  new Gauge({
    name: 'user_sync_workers',
    help: 'Delivery concurrency of every live worker process (sum of their workers setting).',
    registers,
  }).set(snapshot.status.workers);
  new Gauge({
    name: 'user_sync_worker_processes',
    help: 'Live worker processes.',
    registers,
  }).set(snapshot.status.processes);

  const sweep = snapshot.lastSweep;
  if (sweep) {
    new Gauge({
      name: 'user_sync_sweep_last_run_timestamp_seconds',
      help: 'When the newest consistency sweep run finished (unix seconds).',
      registers,
    }).set(Date.parse(sweep.finishedAt) / 1000);
    new Gauge({
      name: 'user_sync_sweep_last_run_users',
      help: 'Users the newest consistency sweep run checked.',
      registers,
    }).set(sweep.usersChecked);
    const classes = new Gauge({
      name: 'user_sync_sweep_last_run_pairs',
      help: '(user, target) pairs of the newest sweep run by class: in_sync, missing, stale, extra, unreachable, unchecked, filtered.',
      labelNames: ['target', 'class'] as const,
      registers,
    });
    const repairs = new Gauge({
      name: 'user_sync_sweep_last_run_repairs',
      help: 'Repair deliveries the newest sweep run enqueued, per target.',
      labelNames: ['target'] as const,
      registers,
    });
    for (const [target, figures] of Object.entries(sweep.targets)) {
      for (const cls of SWEEP_CLASSES) classes.set({ target, class: cls }, figures[cls]);
      repairs.set({ target }, figures.repairs);
    }
  }

  const latency = histogramText(
    'user_sync_delivery_latency_seconds',
    'Time from publish to delivered, per target.',
    Object.entries(snapshot.latency).map(([target, histogram]) => ({ labels: { target }, histogram })),
  );
  return `${await registry.metrics()}\n${latency}`;
}
