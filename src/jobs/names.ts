/**
 * Queue names, job ids and Redis key names: the one place that knows how things are named.
 * Every key shares the configured prefix, a `{…}` hash tag, so that all of them live in one
 * Redis Cluster slot and publish can be one MULTI across queues.
 */

export const DEAD_LETTER_QUEUE = 'dead-letter';
export const MAINTENANCE_QUEUE = 'maintenance';

/** The delivery queue of a target. */
export function deliveryQueueName(service: string): string {
  return `deliver.${service}`;
}

/** The deterministic delivery id, also `task_id` and `webhook-id` on the wire. */
export function taskId(eventId: string, service: string): string {
  return `${eventId}.${service}`;
}

/** Our own keys, beside BullMQ's. */
export function keys(prefix: string) {
  return {
    /** hash per user: v (version), type, eid (event id), snap (JSON), del (0/1), ts */
    ledger: (userId: string) => `${prefix}:ledger:${userId}`,
    /** sorted set of every user id in the ledger (score 0, lexicographic walk for the sweep) */
    users: `${prefix}:users`,
    /** hash per published event id: state (pending|enqueued), v, tasks; expires after the dedupe window */
    event: (eventId: string) => `${prefix}:event:${eventId}`,
    /** hash per target: user id -> highest version delivered */
    watermark: (service: string) => `${prefix}:wm:${service}`,
    /** BullMQ's hash of a job in a queue (user-sync adds one field: `uso`, the counted outcome) */
    job: (queueName: string, jobId: string) => `${prefix}:${queueName}:${jobId}`,
    /** per (target, user) delivery lock, so one user's deliveries to a target never overlap */
    lock: (service: string, userId: string) => `${prefix}:lock:${service}:${userId}`,
    /** hash of global counters */
    stats: `${prefix}:stats`,
    /** hash of counters per target */
    targetStats: (service: string) => `${prefix}:stats:${service}`,
    /** hash per target: delivery latency histogram (bucket fields `le_<ms>`, `le_inf`, `count`, `sum_ms`) */
    latency: (service: string) => `${prefix}:latency:${service}`,
    /** set of every target service a worker of this deployment has run */
    targets: `${prefix}:targets`,
    /** the consistency sweep: lock of the running sweep, ledger cursor, last runs, intervals run */
    sweepLock: `${prefix}:sweep:lock`,
    sweepCursor: `${prefix}:sweep:cursor`,
    sweepRuns: `${prefix}:sweep:runs`,
    sweepInterval: (interval: string) => `${prefix}:sweep:interval:${interval}`,
    /** sorted set of live worker processes, scored by heartbeat expiry */
    workers: `${prefix}:workers`,
  };
}
export type Keys = ReturnType<typeof keys>;
