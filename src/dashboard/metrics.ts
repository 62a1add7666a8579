import type { Queue } from 'bullmq';
import type { RequestHandler } from 'express';
import { Counter, Gauge, Registry } from 'prom-client';
import { readBreakers } from '../breaker/breakers.js';
import { BREAKER_STATES, type BreakerRecord } from '../jobs/breaker-scripts.js';
import { DEAD_LETTER_QUEUE, deliveryQueueName } from '../jobs/names.js';
import { TARGET_COUNTERS, readLatency, type LatencyHistogram, type SyncStats } from '../jobs/stats.js';
import type { Deployment, QueueStatus } from '../deployment.js';
import { SWEEP_CLASSES, type SweepRun } from '../sweep/classify.js';
import { readOldestWaitingAgeMs, readQueueCounts, sumCounts, type QueueState } from './targets.js';

/** The figures of one queue (a target's: summed over its partitions). */
export interface QueueFigures {
  /** The queue: `deliver.<service>` (every partition's), `dead-letter`, `maintenance`. */
  queue: string;
  counts: Partial<Record<QueueState, number>>;
  /** Age of the job waiting longest, ms (in any partition); left out for the dead-letter queue. */
  oldestWaitingAgeMs?: number;
  /** With more than one partition: each partition's figures, to find a hot or stuck one. */
  partitions?: Array<{ partition: number; counts: Record<QueueState, number>; oldestWaitingAgeMs: number }>;
}

/** Everything /metrics shows, read from Redis at scrape time: the deployment's figures. */
export interface MetricsSnapshot {
  stats: SyncStats;
  latency: Record<string, LatencyHistogram>;
  queues: QueueFigures[];
  status: Pick<QueueStatus, 'workers' | 'processes'>;
  /** The newest consistency sweep run, if any has run. */
  lastSweep?: SweepRun;
  /** Each target's circuit breaker; left out when not read. */
  breakers?: Map<string, BreakerRecord>;
  /** This dashboard process's login throttle, since it started; left out when not counted. */
  logins?: LoginCounts;
}

/** Failed logins and lockouts of one dashboard process since it started (see `LoginThrottle`). */
export interface LoginCounts {
  failures: number;
  lockouts: number;
}

async function figures(deployment: Deployment, queue: Queue, now: number): Promise<QueueFigures> {
  const [counts, oldestWaitingAgeMs] = await Promise.all([
    readQueueCounts(queue),
    readOldestWaitingAgeMs(deployment.redis, queue, now),
  ]);
  return { queue: queue.name, counts, oldestWaitingAgeMs };
}

/** A target's delivery queues: summed, and per partition when there are several. */
async function targetFigures(deployment: Deployment, target: string, now: number): Promise<QueueFigures> {
  const each = await Promise.all(
    deployment.queues.deliveriesOf(target).map((q) => figures(deployment, q, now)),
  );
  return {
    queue: deliveryQueueName(target),
    counts: sumCounts(each.map((f) => f.counts as Record<QueueState, number>)),
    oldestWaitingAgeMs: Math.max(0, ...each.map((f) => f.oldestWaitingAgeMs ?? 0)),
    ...(each.length > 1
      ? {
          partitions: each.map((f, partition) => ({
            partition,
            counts: f.counts as Record<QueueState, number>,
            oldestWaitingAgeMs: f.oldestWaitingAgeMs ?? 0,
          })),
        }
      : {}),
  };
}

/**
 * Reads the snapshot: counters and latency of every configured target; job counts and the
 * oldest waiting job of every enabled target's queue and of the maintenance queue; the dead
 * letters waiting; live workers.
 */
export async function readMetricsSnapshot(deployment: Deployment, now: number): Promise<MetricsSnapshot> {
  const all = deployment.config.targets.map((t) => t.service);
  const enabled = deployment.config.targets.filter((t) => t.enabled).map((t) => t.service);
  const [stats, latency, deliveries, maintenance, deadLetters, status, sweeps, breakers] = await Promise.all([
    deployment.getStats(),
    readLatency(deployment.redis, deployment.keyspace, all),
    Promise.all(enabled.map((s) => targetFigures(deployment, s, now))),
    figures(deployment, deployment.queues.maintenance, now),
    deployment.queues.deadLetter.getJobCounts('waiting'),
    deployment.getQueueStatus(),
    deployment.getSweepRuns(1),
    readBreakers(deployment.redis, deployment.keyspace.deployment, all),
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
    breakers,
  };
}

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

  const trimmed = new Counter({
    name: 'user_sync_dead_letters_trimmed_total',
    help: 'Dead letters removed per target because they were older than deadLetterRetention or beyond maxDeadLetters; their users are left for the consistency sweep.',
    labelNames: ['target'] as const,
    registers,
  });
  for (const [target, counters] of Object.entries(snapshot.stats.by_target))
    trimmed.inc({ target }, counters.trimmed);

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
  const partitioned = snapshot.queues.filter((q) => q.partitions !== undefined);
  if (partitioned.length > 0) {
    const byPartition = new Gauge({
      name: 'user_sync_partition_queue_jobs',
      help: "Jobs of each target's queue in each partition by state (the sum is user_sync_queue_jobs).",
      labelNames: ['queue', 'partition', 'state'] as const,
      registers,
    });
    const oldestByPartition = new Gauge({
      name: 'user_sync_partition_oldest_waiting_job_age_seconds',
      help: "Age of the job waiting longest in each target's queue in each partition (0 when none waits).",
      labelNames: ['queue', 'partition'] as const,
      registers,
    });
    for (const { queue, partitions = [] } of partitioned) {
      for (const { partition, counts, oldestWaitingAgeMs } of partitions) {
        const p = String(partition);
        for (const [state, value] of Object.entries(counts))
          byPartition.set({ queue, partition: p, state }, value);
        oldestByPartition.set({ queue, partition: p }, oldestWaitingAgeMs / 1000);
      }
    }
  }

  if (snapshot.breakers) {
    const state = new Gauge({
      name: 'user_sync_circuit_breaker_state',
      help: "Each target's circuit breaker: 1 for the state it is in (closed, open, half-open), 0 for the others.",
      labelNames: ['target', 'state'] as const,
      registers,
    });
    const since = new Gauge({
      name: 'user_sync_circuit_breaker_since_timestamp_seconds',
      help: "When each target's circuit breaker entered its state (unix seconds; absent for one that never opened).",
      labelNames: ['target'] as const,
      registers,
    });
    for (const [target, record] of snapshot.breakers) {
      for (const s of BREAKER_STATES) state.set({ target, state: s }, record.state === s ? 1 : 0);
      if (record.since !== undefined) since.set({ target }, record.since / 1000);
    }
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
      help: '(user, target) pairs of the newest sweep run by class: in_sync, missing, stale, extra, foreign, unreachable, unchecked, filtered.',
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

  if (snapshot.logins) {
    new Counter({
      name: 'user_sync_dashboard_login_failures_total',
      help: 'Failed dashboard logins (wrong credentials) received by this dashboard process since it started; each process counts its own.',
      registers,
    }).inc(snapshot.logins.failures);
    new Counter({
      name: 'user_sync_dashboard_login_lockouts_total',
      help: 'Addresses this dashboard process locked out after repeated failed logins, since it started; each process counts its own.',
      registers,
    }).inc(snapshot.logins.lockouts);
  }

  const latency = histogramText(
    'user_sync_delivery_latency_seconds',
    'Time from publish to delivered, per target.',
    Object.entries(snapshot.latency).map(([target, histogram]) => ({ labels: { target }, histogram })),
  );
  return `${await registry.metrics()}\n${latency}`;
}

/**
 * `GET /metrics`: the deployment's figures in the Prometheus text format, read from Redis at
 * each scrape (`readMetricsSnapshot`, then `renderMetrics`), and this process's login counts
 * when `logins` reads them.
 */
export function metricsRoute(
  deployment: Deployment,
  now: () => number,
  logins?: () => LoginCounts,
): RequestHandler {
  return async (_req, res) => {
    const snapshot = await readMetricsSnapshot(deployment, now());
    const text = await renderMetrics(logins ? { ...snapshot, logins: logins() } : snapshot);
    res.type(METRICS_CONTENT_TYPE).send(text);
  };
}

/** One labelled series of a histogram kept in ms. */
export interface HistogramSeries {
  labels: Record<string, string>;
  histogram: LatencyHistogram;
}

/** Escapes a label value for the Prometheus text format. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Escapes HELP text for the Prometheus text format. */
export function escapeHelp(help: string): string {
  return help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatLabels(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

function formatNumber(value: number): string {
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  if (Number.isNaN(value)) return 'NaN';
  return String(value);
}

/**
 * The Prometheus text exposition of a histogram kept in Redis in milliseconds (see
 * `readLatency`), in seconds: HELP and TYPE, then per series its cumulative `_bucket` lines
 * (`le` in seconds, `+Inf` last), `_sum` and `_count`. prom-client's Histogram can only
 * observe values one by one, so this one is written out directly.
 *
 * `_count` and the `+Inf` bucket are the recorded count, and no bucket exceeds it, so that the
 * series stays valid even if a bucket and the count were read a moment apart.
 */
export function histogramText(name: string, help: string, series: readonly HistogramSeries[]): string {
  const lines = [`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} histogram`];
  for (const { labels, histogram } of series) {
    const count = histogram.count;
    for (const [boundMs, cumulative] of histogram.buckets) {
      if (boundMs === Infinity) continue;
      const le = formatNumber(boundMs / 1000);
      lines.push(`${name}_bucket${formatLabels({ ...labels, le })} ${Math.min(cumulative, count)}`);
    }
    lines.push(`${name}_bucket${formatLabels({ ...labels, le: '+Inf' })} ${count}`);
    lines.push(`${name}_sum${formatLabels(labels)} ${formatNumber(histogram.sumMs / 1000)}`);
    lines.push(`${name}_count${formatLabels(labels)} ${count}`);
  }
  return lines.join('\n') + '\n';
}
