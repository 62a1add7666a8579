/**
 * Shared fixtures: a finished target config, a delivery's job data, the task an executor sees,
 * a ledger entry and an event, each with realistic defaults and overrides. Tests that need
 * other defaults wrap these rather than copy them.
 */
import type { TargetConfig } from '../../src/config/schema.js';
import type { UserEvent } from '../../src/events.js';
import { parseDeliveryJob, type DeliveryJobData, type DeliveryTask } from '../../src/jobs/delivery-job.js';
import type { LedgerEntry } from '../../src/jobs/delivery-steps.js';

export const FIXTURE_EVENT_ID = '0190f5b8-3f1e-7c2a-9b4d-1234567890ab';
export const FIXTURE_TIMESTAMP = '2025-09-19T21:51:28Z';

/** A target as `parseConfig` leaves it: an http target named `orders` unless overridden. */
export function targetConfig(overrides: Partial<TargetConfig> = {}): TargetConfig {
  return {
    service: 'orders',
    kind: 'http',
    url: 'http://127.0.0.1:9/webhooks/users',
    method: 'POST',
    enabled: true,
    headers: {},
    secrets: [],
    timeoutMs: 5_000,
    coalesce: true,
    keyTemplate: 'user:{id}',
    ...overrides,
  };
}

/** The data of a delivery job: user 1's `user.updated` at version 7, for `orders`. */
export function jobData(overrides: Partial<DeliveryJobData> = {}): DeliveryJobData {
  return {
    v: 1,
    eventId: FIXTURE_EVENT_ID,
    service: 'orders',
    type: 'user.updated',
    userId: 1,
    version: 7,
    user: { id: 1, username: 'testuser', email: 'old@example.com', role: 'guest', status: 'active' },
    changes: { email: 'old@example.com' },
    timestamp: FIXTURE_TIMESTAMP,
    source: 'my-service',
    ...overrides,
  };
}

/**
 * Reads job data (format 1) as a worker reads a job that holds it: under the id and name a
 * publish gives it (`<eventId>.<service>`, the event type), taken from the data itself.
 */
export function parseJobData(data: unknown, service: string) {
  const d = (typeof data === 'object' && data !== null ? data : {}) as Record<string, unknown>;
  return parseDeliveryJob({ id: `${String(d.eventId)}.${service}`, name: String(d.type), data }, service);
}

/** The task an executor sees for {@link jobData}: first attempt, not coalesced. */
export function deliveryTask(overrides: Partial<DeliveryTask> = {}): DeliveryTask {
  const data = jobData(overrides);
  return { ...data, taskId: `${data.eventId}.${data.service}`, attempt: 1, coalesced: false, ...overrides };
}

/** A ledger entry for user 1, newer (9) than {@link jobData}. */
export function ledgerEntry(overrides: Partial<LedgerEntry> = {}): LedgerEntry {
  return {
    version: 9,
    type: 'user.updated',
    eventId: 'later-event',
    snapshot: JSON.stringify({ id: 1, username: 'testuser', email: 'new@example.com', status: 'active' }),
    deleted: false,
    timestamp: '2025-09-19T21:55:00.000Z',
    ...overrides,
  };
}

/** A validated event: user 1 created at version 1. */
export function userEvent(overrides: Partial<UserEvent> = {}): UserEvent {
  return {
    id: FIXTURE_EVENT_ID,
    type: 'user.created',
    userId: 1,
    version: 1,
    user: { id: 1, username: 'testuser', email: 'test@example.com', role: 'guest', status: 'active' },
    timestamp: FIXTURE_TIMESTAMP,
    source: 'my-service',
    ...overrides,
  };
}
