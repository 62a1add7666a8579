/**
 * Queue names, job ids and Redis key names: the one place that knows how things are named.
 * Every key shares the configured prefix, a `{…}` hash tag, so that all of them live in one
 * Redis Cluster slot and publish can be one MULTI across queues.
 */

export const DEAD_LETTER_QUEUE = 'dead-letter';
export const MAINTENANCE_QUEUE = 'maintenance';

/** The delivery queue of a target. */
export function deliveryQueueName(target: string): string {
  return `deliver.${target}`;
}

/** The deterministic delivery id, also `task_id` and `webhook-id` on the wire. */
export function taskId(eventId: string, target: string): string {
  return `${eventId}.${target}`;
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
    watermark: (target: string) => `${prefix}:wm:${target}`,
    /** A key of a BullMQ queue: its `wait` list, `delayed` set, … (BullMQ's own layout) */
    queue: (queueName: string, type: string) => `${prefix}:${queueName}:${type}`,
    /** sorted set per target: events admitted by publish whose jobs are not added yet (score: expiry ms) */
    reservations: (target: string) => `${prefix}:reserved:${target}`,
    /** BullMQ's hash of a job in a queue (user-sync adds one field: `uso`, the counted outcome) */
    job: (queueName: string, jobId: string) => `${prefix}:${queueName}:${jobId}`,
    /** per (target, user) delivery lock, so one user's deliveries to a target never overlap */
    lock: (target: string, userId: string) => `${prefix}:lock:${target}:${userId}`,
    /** the dead letters by time: sorted sets of record ids scored by when the delivery died, all and per target */
    deadLetterIndex: `${prefix}:dlq:index`,
    deadLetterIndexOf: (target: string) => `${prefix}:dlq:index:${target}`,
    /** set once the dead letters recorded before the index existed are indexed */
    deadLetterIndexed: `${prefix}:dlq:indexed`,
    /** hash of global counters */
    stats: `${prefix}:stats`,
    /** hash of counters per target */
    targetStats: (target: string) => `${prefix}:stats:${target}`,
    /** hash per target: delivery latency histogram (bucket fields `le_<ms>`, `le_inf`, `count`, `sum_ms`) */
    latency: (target: string) => `${prefix}:latency:${target}`,
    /** set of the name of every target a worker of this deployment has run */
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
