/**
 * A target's circuit breaker as the dashboard shows it. The dashboard only reads it: the breaker
 * itself (thresholds, transitions, probes) lives with the workers. This is the one place the
 * dashboard reads it from, so `/api/targets`, `/api/overview` and the overview page agree.
 */
import { readBreakers as readRecords } from '../breaker/breakers.js';
import type { Deployment } from '../deployment.js';
import {
  BREAKER_FIELDS,
  breakerRecord,
  type BreakerRecord,
  type BreakerState,
} from '../jobs/breaker-scripts.js';

export { BREAKER_STATES, MAX_REASON_LENGTH, type BreakerState } from '../jobs/breaker-scripts.js';

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

/** The view of a record (see breakerRecord: strict about what Redis holds). */
export function viewOf(record: BreakerRecord): BreakerView {
  if (record.state === 'closed') return CLOSED;
  return {
    state: record.state,
    since: record.since ?? null,
    reason: record.reason ?? null,
    retryAt: record.retryAt ?? null,
  };
}

/** A breaker hash (`keyspace.deployment.breaker(service)`) as a view. Pure. */
export function breakerOf(record: Record<string, string> | null | undefined): BreakerView {
  return viewOf(breakerRecord(BREAKER_FIELDS.map((field) => record?.[field])));
}

/** Every configured target's breaker, by service name, in one round trip. */
export async function readBreakers(deployment: Deployment): Promise<Map<string, BreakerView>> {
  const services = deployment.config.targets.map((t) => t.service);
  const records = await readRecords(deployment.redis, deployment.keyspace.deployment, services);
  return new Map(services.map((service) => [service, viewOf(records.get(service) ?? breakerRecord([]))]));
}
