import type { TargetConfig } from '../config/schema.js';
import type { TargetStats } from '../jobs/stats.js';
import type { Deployment } from '../deployment.js';
import { readLastError, type LastError } from './last-error.js';
import { readQueueCounts, type QueueState } from './queue-figures.js';
import { redactUrl } from '../redact.js';
import { readSuccessRate, type SuccessRate } from './success-rate.js';

/** A target's configuration as the dashboard shows it: no secret, no header value, no password. */
export interface TargetSummary {
  service: string;
  kind: string;
  /** The URL without user info, query or password (see `redactUrl`); null when none. */
  url: string | null;
  method: string;
  enabled: boolean;
  /** Event types delivered; null for all. */
  events: string[] | null;
  timeoutMs: number;
  /** `{ max, duration }`: at most `max` deliveries per `duration` ms; null when unlimited. */
  rateLimit: { max: number; duration: number } | null;
  coalesce: boolean;
  /** Redis targets: the key template. */
  keyTemplate?: string;
  /** Names of the extra headers sent; their values are never shown. */
  headers: string[];
  /** How many signing secrets are active; the secrets are never shown. */
  secrets: number;
}

/** A target's summary with how its deliveries are going. */
export interface TargetReport extends TargetSummary {
  /** Unfinished deliveries (`queues.backlog`: waiting, prioritized, delayed, active, waiting-children). */
  backlog: number;
  /** Jobs of its delivery queue per state. */
  counts: Record<QueueState, number>;
  /** Its counters since the deployment began (`getStats().by_target`). */
  stats: TargetStats;
  successRate: SuccessRate;
  lastError: LastError | null;
}

/** The part of a target's configuration that is safe to show. Pure. */
export function summarizeTarget(target: TargetConfig): TargetSummary {
  return {
    service: target.service,
    kind: target.kind,
    url: target.url === undefined ? null : redactUrl(target.url),
    method: target.method,
    enabled: target.enabled,
    events: target.events ? [...target.events] : null,
    timeoutMs: target.timeoutMs,
    rateLimit: target.rateLimit ? { max: target.rateLimit.max, duration: target.rateLimit.duration } : null,
    coalesce: target.coalesce,
    ...(target.kind === 'redis' ? { keyTemplate: target.keyTemplate } : {}),
    headers: Object.keys(target.headers),
    secrets: target.secrets.length,
  };
}

const NO_STATS: TargetStats = { delivered: 0, superseded: 0, retried: 0, dead: 0, replayed: 0 };

/** Every configured target (enabled or not), summarized, with its queue's figures. */
export async function readTargets(deployment: Deployment, now: number): Promise<TargetReport[]> {
  const stats = await deployment.getStats();
  return Promise.all(
    deployment.config.targets.map(async (target): Promise<TargetReport> => {
      const queue = deployment.queues.delivery(target.service);
      const [backlog, counts, successRate, lastError] = await Promise.all([
        deployment.queues.backlog(target.service),
        readQueueCounts(queue),
        readSuccessRate(deployment.redis, queue, now, deployment.config.completedRetention),
        readLastError(queue, target.service, deployment.deadLetters),
      ]);
      return {
        ...summarizeTarget(target),
        backlog,
        counts,
        stats: stats.by_target[target.service] ?? NO_STATS,
        successRate,
        lastError,
      };
    }),
  );
}
