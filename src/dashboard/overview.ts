/**
 * The overview's figures (`GET /api/overview`, and the page at `/`): one row per target, the
 * state of every target at a glance. Built from what the dashboard reads already
 * (`readTargets`, the latency histogram, the sweep runs, the dead-letter index) and the
 * per-minute delivery counters (`jobs/rate.ts`).
 */
import { RATE_WINDOW_MINUTES, readDeliveryRates } from '../jobs/rate.js';
import { latencyQuantile, readLatency } from '../jobs/stats.js';
import type { Deployment } from '../deployment.js';
import type { SweepRun } from '../sweep/classify.js';
import type { BreakerView } from './breaker-view.js';
import { BOARD_PATH } from './bull-board.js';
import { readTargets, type LastError, type SuccessRate, type TargetReport } from './targets.js';

/**
 * What a target's row says first, by precedence: `disabled` (no worker delivers it), `paused`
 * (by hand: nothing is sent whatever the breaker says), `breaker-open`, `breaker-half-open`
 * (one probe is being tried), else `ok`.
 */
export type TargetState = 'ok' | 'breaker-open' | 'breaker-half-open' | 'paused' | 'disabled';

/** The last sweep run's figures for one target. */
export interface SweepShare {
  /** The run these figures are from. */
  runId: string;
  finishedAt: string;
  /** Pairs found in sync. */
  inSync: number;
  /**
   * Pairs the target could be compared on: every class but `filtered` (not the target's
   * events) and `unchecked` (the target cannot report state).
   */
  compared: number;
  /** Pairs of a target that cannot report state. */
  unchecked: number;
  /** `inSync / compared`, 0 to 1; null when nothing was compared. */
  share: number | null;
}

/** A link to one of a target's queues in Bull Board. */
export interface BoardLink {
  partition: number;
  queue: string;
  url: string;
}

/** One target's row. */
export interface OverviewTarget {
  service: string;
  kind: string;
  enabled: boolean;
  state: TargetState;
  paused: boolean;
  breaker: BreakerView;
  /** Unfinished deliveries, and the age of the one waiting longest (ms, 0 when none waits). */
  backlog: number;
  oldestWaitingAgeMs: number;
  /** Deliveries (outcome `delivered`) per minute, oldest first; the last is the current minute. */
  deliveriesPerMinute: number[];
  /** Their sum: deliveries in the window. */
  deliveredInWindow: number;
  successRate: SuccessRate;
  /** Publish to delivered, from the histogram since the deployment began (ms; null: none yet). */
  latency: { count: number; p50Ms: number | null; p99Ms: number | null };
  /** From the newest sweep run that checked this target; null when none did. */
  sweep: SweepShare | null;
  /** Dead letters held now (waiting to be replayed or purged). */
  deadLetters: number;
  lastError: LastError | null;
  /** Its delivery queues in Bull Board (one per partition); empty when disabled (not shown there). */
  board: BoardLink[];
}

/** What `GET /api/overview` answers. */
export interface Overview {
  generatedAt: string;
  /** Bull Board's address. */
  board: string;
  partitions: number;
  /** Minutes `deliveriesPerMinute` covers. */
  windowMinutes: number;
  targets: OverviewTarget[];
}

/** The row's state from the report (see TargetState). Pure. */
export function targetState(report: Pick<TargetReport, 'enabled' | 'paused' | 'breaker'>): TargetState {
  if (!report.enabled) return 'disabled';
  if (report.paused) return 'paused';
  if (report.breaker.state === 'open') return 'breaker-open';
  if (report.breaker.state === 'half-open') return 'breaker-half-open';
  return 'ok';
}

/** A count from a sweep run read back from Redis: a non-negative whole number, else 0. */
const figure = (value: unknown): number =>
  Number.isSafeInteger(value) && (value as number) > 0 ? (value as number) : 0;

/** A target's share of the newest run that has figures for it, if any. Pure. */
export function sweepShare(runs: readonly SweepRun[], service: string): SweepShare | null {
  const run = runs.find((r) => r.targets && Object.hasOwn(r.targets, service));
  const figures = run?.targets[service];
  if (!run || !figures) return null;
  const inSync = figure(figures.in_sync);
  const unchecked = figure(figures.unchecked);
  const compared =
    inSync +
    figure(figures.missing) +
    figure(figures.stale) +
    figure(figures.extra) +
    figure(figures.foreign) +
    figure(figures.unreachable);
  return {
    runId: String(run.id),
    finishedAt: String(run.finishedAt),
    inSync,
    compared,
    unchecked,
    share: compared === 0 ? null : inSync / compared,
  };
}

/** Sweep runs looked at for each target's newest figures. */
const SWEEP_RUNS_READ = 5;

/** Reads the overview of every configured target (enabled or not), at `now` (ms). */
export async function readOverview(deployment: Deployment, now: number): Promise<Overview> {
  const services = deployment.config.targets.map((t) => t.service);
  const [reports, latency, rates, runs, deadLetters] = await Promise.all([
    readTargets(deployment, now),
    readLatency(deployment.redis, deployment.keyspace, services),
    readDeliveryRates(deployment.redis, deployment.keyspace, services, now),
    deployment.getSweepRuns(SWEEP_RUNS_READ),
    Promise.all(
      services.map(async (s) => (await deployment.listDeadLetters({ service: s, limit: 0 })).total),
    ),
  ]);
  const targets = reports.map((report, i): OverviewTarget => {
    const histogram = latency[report.service];
    const perMinute = rates[report.service] ?? [];
    return {
      service: report.service,
      kind: report.kind,
      enabled: report.enabled,
      state: targetState(report),
      paused: report.paused,
      breaker: report.breaker,
      backlog: report.backlog,
      oldestWaitingAgeMs: report.oldestWaitingAgeMs,
      deliveriesPerMinute: perMinute,
      deliveredInWindow: perMinute.reduce((sum, n) => sum + n, 0),
      successRate: report.successRate,
      latency: {
        count: histogram?.count ?? 0,
        p50Ms: histogram ? latencyQuantile(histogram, 0.5) : null,
        p99Ms: histogram ? latencyQuantile(histogram, 0.99) : null,
      },
      sweep: sweepShare(runs, report.service),
      deadLetters: deadLetters[i] ?? 0,
      lastError: report.lastError,
      board: report.enabled
        ? deployment.queues.deliveriesOf(report.service).map((queue, partition) => ({
            partition,
            queue: queue.name,
            url: `${BOARD_PATH}/queue/${encodeURIComponent(queue.name)}`,
          }))
        : [],
    };
  });
  return {
    generatedAt: new Date(now).toISOString(),
    board: BOARD_PATH,
    partitions: deployment.keyspace.partitions,
    windowMinutes: RATE_WINDOW_MINUTES,
    targets,
  };
}
