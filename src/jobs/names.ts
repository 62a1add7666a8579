/**
 * Queue names, job ids and Redis key names: the one place that knows how things are named.
 *
 * A deployment's keys live under its prefix, which carries a `{…}` hash tag. With
 * `partitions: 1` (the default) every key shares that one prefix. With more, the users are
 * split into partitions (`partitionOf`), each with a prefix of its own hash tag: everything one
 * user's publish and delivery touch — its slice of the ledger, the delivery queues, the
 * watermarks and locks of its users, their counters — lives in that partition, so each script
 * and MULTI stays in one Redis Cluster slot while the partitions spread over the masters. What
 * belongs to the whole deployment (the dead letters, the maintenance queue, worker heartbeats,
 * the target registry, the sweep's lock and runs) stays under the prefix itself.
 */

import calculateSlot from 'cluster-key-slot';

export const DEAD_LETTER_QUEUE = 'dead-letter';
export const MAINTENANCE_QUEUE = 'maintenance';

/**
 * The delivery queue of a target: `deliver.<target>`; with more than one partition, each
 * partition's is `deliver.<target>.p<n>` (zero-padded, under that partition's prefix), so that
 * Bull Board tells them apart and groups them by target.
 */
export function deliveryQueueName(target: string, partition = 0, partitions = 1): string {
  if (partitions <= 1) return `deliver.${target}`;
  return `deliver.${target}.p${String(partition).padStart(String(partitions - 1).length, '0')}`;
}

/** The deterministic delivery id, also `task_id` and `webhook-id` on the wire. */
export function taskId(eventId: string, target: string): string {
  return `${eventId}.${target}`;
}

/**
 * The partition of a user: FNV-1a (32-bit) of the user id's decimal or string form, as UTF-8,
 * modulo `partitions`. Stable across processes, versions and machines; documented in the README
 * so other tools can compute it.
 */
export function partitionOf(userId: string | number, partitions: number): number {
  if (partitions <= 1) return 0;
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(String(userId), 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % partitions;
}

/** Redis Cluster's hash slots. */
const SLOTS = 16_384;

/**
 * The prefix of a partition: the deployment's prefix itself when there is one partition;
 * otherwise its hash tag extended with `-p<n>` (`{user-sync}` → `{user-sync-p3}`; the whole
 * prefix is made a tag when it has none: `my-app` → `{my-app-p3}`). When that tag's slot does
 * not lie in the partition's share of the 16,384 slots (partition n of P: slots n·16384/P up to
 * (n+1)·16384/P), the first `-p<n>-<k>` whose slot does is taken instead (`{user-sync-p3-41}`):
 * so partitions spread evenly over masters that split the slots evenly (as `redis-cli --cluster
 * create` does), rather than as the tags happen to hash. Deterministic: every process computes
 * the same prefixes.
 */
export function partitionPrefix(prefix: string, partition: number, partitions: number): string {
  if (partitions <= 1) return prefix;
  const tag = /\{([^}]+)\}/.exec(prefix);
  const [before, name, after] = tag
    ? [prefix.slice(0, tag.index), tag[1] as string, prefix.slice(tag.index + tag[0].length)]
    : ['', prefix, ''];
  const from = Math.floor((partition * SLOTS) / partitions);
  const to = Math.floor(((partition + 1) * SLOTS) / partitions);
  for (let k = 0; ; k++) {
    const candidate = k === 0 ? `${name}-p${partition}` : `${name}-p${partition}-${k}`;
    const slot = calculateSlot(candidate);
    if (slot >= from && slot < to) return `${before}{${candidate}}${after}`;
  }
}

const prefixCache = new Map<string, readonly string[]>();

/** Every partition's prefix, computed once per (prefix, partitions) in a process. */
function partitionPrefixes(prefix: string, partitions: number): readonly string[] {
  const id = `${partitions}\n${prefix}`;
  let prefixes = prefixCache.get(id);
  if (!prefixes) {
    prefixes = Array.from({ length: partitions }, (_, p) => partitionPrefix(prefix, p, partitions));
    prefixCache.set(id, prefixes);
  }
  return prefixes;
}

/** The keys of one partition (or of the only one), beside BullMQ's. */
export function partitionKeys(prefix: string, partition = 0, partitions = 1) {
  return {
    prefix,
    partition,
    /** The delivery queue of a target in this partition (see deliveryQueueName). */
    deliveryQueue: (target: string) => deliveryQueueName(target, partition, partitions),
    /** hash per user: v (version), type, eid (event id), snap (JSON), del (0/1), ts */
    ledger: (userId: string) => `${prefix}:ledger:${userId}`,
    /** sorted set of every user id in this slice of the ledger (score 0, lexicographic walk for the sweep) */
    users: `${prefix}:users`,
    /** hash per published event id: state (pending|enqueued), v, tasks; expires after the dedupe window */
    event: (eventId: string) => `${prefix}:event:${eventId}`,
    /** hash per target: user id -> highest version delivered */
    watermark: (target: string) => `${prefix}:wm:${target}`,
    /** A key of a BullMQ queue: its `wait` list, `delayed` set, … (BullMQ's own layout) */
    queue: (queueName: string, type: string) => `${prefix}:${queueName}:${type}`,
    /** BullMQ's hash of a job in a queue (user-sync adds one field: `uso`, the counted outcome) */
    job: (queueName: string, jobId: string) => `${prefix}:${queueName}:${jobId}`,
    /** per (target, user) delivery lock, so one user's deliveries to a target never overlap */
    lock: (target: string, userId: string) => `${prefix}:lock:${target}:${userId}`,
    /**
     * per (target, user), while a delivery waits for the lock: the oldest waiting version, so the
     * deliveries of one user reach a target in version order (see DELIVERY_STEPS,
     * delivery-steps.ts); expires after lockDuration
     */
    turn: (target: string, userId: string) => `${prefix}:turn:${target}:${userId}`,
    /** hash of this partition's global counters (the deployment's: the sum over partitions) */
    stats: `${prefix}:stats`,
    /** hash of this partition's counters per target */
    targetStats: (target: string) => `${prefix}:stats:${target}`,
    /** hash per target: delivery latency histogram (bucket fields `le_<ms>`, `le_inf`, `count`, `sum_ms`) */
    latency: (target: string) => `${prefix}:latency:${target}`,
    /**
     * hash per (target, hour since the epoch): minute of that hour (0-59) -> deliveries counted
     * `delivered` in it (see `jobs/rate.ts`); expires 2 h after its last write
     */
    deliveryRate: (target: string, hour: number) => `${prefix}:rate:${target}:${hour}`,
    /** where the consistency sweep's walk of this slice of the ledger stands (a user id, '' = start) */
    sweepCursor: `${prefix}:sweep:cursor`,
  };
}
export type Keys = ReturnType<typeof partitionKeys>;

/** The keys of the deployment as a whole, under its own prefix. */
export function deploymentKeys(prefix: string) {
  return {
    prefix,
    /** the dead letters by time: sorted sets of record ids scored by when the delivery died, all and per target */
    deadLetterIndex: `${prefix}:dlq:index`,
    deadLetterIndexOf: (target: string) => `${prefix}:dlq:index:${target}`,
    /** set once the dead letters recorded before the index existed are indexed */
    deadLetterIndexed: `${prefix}:dlq:indexed`,
    /** hash of deployment-wide counters per target that belong to no partition (dead letters trimmed) */
    targetStats: (target: string) => `${prefix}:stats:${target}`,
    /** set of the name of every target a worker of this deployment has run */
    targets: `${prefix}:targets`,
    /** the consistency sweep: lock of the running sweep, last runs, intervals run */
    sweepLock: `${prefix}:sweep:lock`,
    sweepRuns: `${prefix}:sweep:runs`,
    sweepInterval: (interval: string) => `${prefix}:sweep:interval:${interval}`,
    /** the partition the next run starts with (the first one the last run did not finish) */
    sweepNextPartition: `${prefix}:sweep:next-partition`,
    /** sorted set of live worker processes, scored by heartbeat expiry */
    workers: `${prefix}:workers`,
    /**
     * hash per target: its circuit breaker (state, since, reason, retryAt, cooldown, consecutive,
     * probe, probeUntil, and the attempts of the last window in ring fields r0..r5)
     */
    breaker: (target: string) => `${prefix}:breaker:${target}`,
    /** hash of the deployment's shape: `partitions` (changing it needs a migration) */
    meta: `${prefix}:meta`,
    /**
     * the target registry, for producers with only a Redis connection: hash of `doc` (JSON, no
     * secrets), `rev` (raised on each change), `updated` (ms) and `writer`
     */
    registry: `${prefix}:registry`,
    /** a target's backfill: its run and where its walk of each partition stands (JSON), and its lock */
    backfill: (target: string) => `${prefix}:backfill:${target}`,
    backfillLock: (target: string) => `${prefix}:backfill:${target}:lock`,
  };
}
export type DeploymentKeys = ReturnType<typeof deploymentKeys>;

/** All the keys of a deployment: its own, and each partition's. */
export class Keyspace {
  readonly deployment: DeploymentKeys;
  private readonly slices: Keys[];

  constructor(
    readonly prefix: string,
    readonly partitions = 1,
  ) {
    if (!Number.isSafeInteger(partitions) || partitions < 1)
      throw new RangeError(`partitions must be >= 1, got ${partitions}`);
    this.deployment = deploymentKeys(prefix);
    this.slices = partitionPrefixes(prefix, partitions).map((slice, p) =>
      partitionKeys(slice, p, partitions),
    );
  }

  /** The keys of partition `p`. */
  partition(p: number): Keys {
    const keys = this.slices[p];
    if (!keys) throw new RangeError(`no partition ${p} (partitions: ${this.partitions})`);
    return keys;
  }

  /** The partition of a user. */
  partitionOf(userId: string | number): number {
    return partitionOf(userId, this.partitions);
  }

  /** The keys of the partition a user belongs to. */
  forUser(userId: string | number): Keys {
    return this.partition(this.partitionOf(userId));
  }

  /** Every partition's keys, in order. */
  all(): readonly Keys[] {
    return this.slices;
  }
}
