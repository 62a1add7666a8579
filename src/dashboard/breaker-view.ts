/**
 * A target's circuit breaker as the dashboard shows it. The dashboard only reads it: the breaker
 * itself (thresholds, transitions, probes) lives with the workers. This is the one place the
 * dashboard reads it from, so `/api/targets`, `/api/overview` and the overview page agree.
 */
import type { Deployment } from '../deployment.js';

/** The states of a circuit breaker: closed (delivering), open (not sending), half-open (probing). */
export const BREAKER_STATES = ['closed', 'open', 'half-open'] as const;
export type BreakerState = (typeof BREAKER_STATES)[number];

/** A target's circuit breaker. */
export interface BreakerView {
  state: BreakerState;
  /** Since when it has been in this state (ms since the epoch); null when closed or unknown. */
  since: number | null;
  /** Why it opened (the failures that tripped it); null when closed or not said. */
  reason: string | null;
  /** When the next probe delivery is due (ms since the epoch); null when none is planned. */
  retryAt: number | null;
}

/** A breaker that lets everything through: what an absent or unreadable record means. */
export const CLOSED: BreakerView = Object.freeze({
  state: 'closed',
  since: null,
  reason: null,
  retryAt: null,
});

/** Longest reason kept: a record written by anything that can reach Redis is not trusted. */
export const MAX_REASON_LENGTH = 500;

/** A time field of the record: a positive whole number of ms, else null. */
function timeOf(value: string | undefined): number | null {
  if (value === undefined || !/^\d{1,16}$/.test(value)) return null;
  const ms = Number(value);
  return Number.isSafeInteger(ms) && ms > 0 ? ms : null;
}

/**
 * A breaker record (the hash `keyspace.deployment.breaker(service)`: `state`, `since`,
 * `reason`, `retryAt`) as a view. Absent, or a state that is not one of `BREAKER_STATES`, is
 * closed; a malformed time is null; a reason is cut to `MAX_REASON_LENGTH`. Pure.
 */
export function breakerOf(record: Record<string, string> | null | undefined): BreakerView {
  const state = record?.state;
  if (!record || state === undefined || !(BREAKER_STATES as readonly string[]).includes(state)) return CLOSED;
  if (state === 'closed') return CLOSED;
  const reason = record.reason ? record.reason.slice(0, MAX_REASON_LENGTH) : null;
  return {
    state: state as BreakerState,
    since: timeOf(record.since),
    reason,
    retryAt: timeOf(record.retryAt),
  };
}

/**
 * Every configured target's breaker, by service name: one HGETALL each, pipelined (the records
 * are the deployment's, under its own prefix and slot).
 */
export async function readBreakers(deployment: Deployment): Promise<Map<string, BreakerView>> {
  const services = deployment.config.targets.map((t) => t.service);
  const pipeline = deployment.redis.pipeline();
  for (const service of services) pipeline.hgetall(deployment.keyspace.deployment.breaker(service));
  const replies = (await pipeline.exec()) ?? [];
  return new Map(
    services.map((service, i) => {
      const [error, value] = replies[i] ?? [null, null];
      if (error) throw error;
      return [service, breakerOf(value as Record<string, string> | null)];
    }),
  );
}
