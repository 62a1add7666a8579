import { loadConfig } from '../config/load.js';
import { type SyncConfig } from '../config/schema.js';
import { QueueFullError, ReplicationError, ValidationError } from '../errors.js';
import { EventType, type UserEventInput, type UserSnapshot } from '../events.js';
import { checkPartitions } from '../jobs/meta.js';
import { Keyspace } from '../jobs/names.js';
import { QueueSet, deliveryJobOptions } from '../jobs/queues.js';
import { commitPublish, reservePublish, type PublishState, type ReserveResult } from '../jobs/scripts.js';
import { createLogger, type Logger } from '../logger.js';
import { waitForReplicas, type Redis } from '../redis.js';
import { newEventId } from './event-id.js';
import { planDeliveries } from './fan-out.js';
import { DEFAULT_STATUSES, validateEvent } from './validation.js';

export interface PublisherOptions {
  /** The configuration (targets, queueSize, …). Default: `loadConfig()` (file and environment). */
  config?: SyncConfig;
  logger?: Logger;
  /** Accepted user statuses (default: active, inactive, pending, suspended, banned, locked, disabled). */
  statuses?: readonly string[];
  /** Clock, for tests. */
  now?: () => number;
  /** Share an existing QueueSet (the service's) instead of opening queues of its own. */
  queues?: QueueSet;
}

/** What a publish did. */
export interface PublishResult {
  eventId: string;
  /** The event's version: the caller's, or the one assigned in Redis. */
  version: number;
  /** Task ids (`<eventId>.<service>`) of the deliveries, one per matching target. */
  tasks: string[];
  /** False when publishing is disabled in the config: nothing was written. */
  enabled: boolean;
  /** True when this event id had been published before: nothing new was enqueued. */
  duplicate: boolean;
  /** False when the ledger already held a newer version of the user. */
  ledgerUpdated: boolean;
}

/**
 * Publishes user events: validates them, gives them a version, records them in the ledger and
 * enqueues one delivery job per matching target, all or nothing.
 *
 * ```ts
 * const publisher = new UserEventPublisher(redis, 'accounts', { config });
 * await publisher.publishUserCreated({ id: 42, username: 'ada', email: 'ada@example.com', status: 'active' });
 * ```
 */
export class UserEventPublisher {
  readonly config: SyncConfig;
  private readonly keyspace: Keyspace;
  /** The deployment's partitions, checked once (see checkPartitions). */
  private shapeChecked: Promise<void> | undefined;
  private readonly queues: QueueSet;
  private readonly ownsQueues: boolean;
  private readonly logger: Logger;
  private readonly statuses: readonly string[];
  private readonly now: () => number;
  private warnedDisabled = false;

  constructor(
    private readonly redis: Redis,
    readonly source: string,
    options: PublisherOptions = {},
  ) {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(source)) {
      throw new ValidationError('source', 'must be 1-64 letters, digits or "_.-"');
    }
    this.config = options.config ?? loadConfig();
    this.keyspace = options.queues?.keyspace ?? new Keyspace(this.config.prefix, this.config.partitions);
    this.ownsQueues = options.queues === undefined;
    this.logger = (options.logger ?? createLogger()).child({ component: 'publisher', source });
    this.queues =
      options.queues ??
      new QueueSet(redis, this.keyspace, (error) =>
        this.logger.warn('redis connection error', { error: error.message }),
      );
    this.statuses = options.statuses ?? DEFAULT_STATUSES;
    this.now = options.now ?? Date.now;
  }

  /** Publishes `user.created` with the user's snapshot. */
  publishUserCreated(user: UserSnapshot, options: PublishOptions = {}): Promise<PublishResult> {
    return this.publish({ ...options, type: EventType.UserCreated, user });
  }

  /** Publishes `user.updated` with the snapshot after the change and, optionally, the changed fields. */
  publishUserUpdated(
    user: UserSnapshot,
    changes?: Record<string, unknown>,
    options: PublishOptions = {},
  ): Promise<PublishResult> {
    return this.publish({ ...options, type: EventType.UserUpdated, user, ...(changes ? { changes } : {}) });
  }

  /** Publishes `user.deleted` with the last known snapshot (at least the id). */
  publishUserDeleted(user: UserSnapshot, options: PublishOptions = {}): Promise<PublishResult> {
    return this.publish({ ...options, type: EventType.UserDeleted, user });
  }

  /** Publishes `user.status_changed`; `changes.status` records `{ from, to }` when the old status is given. */
  publishUserStatusChanged(
    user: UserSnapshot,
    oldStatus?: string,
    options: PublishOptions = {},
  ): Promise<PublishResult> {
    const changes = oldStatus !== undefined ? { status: { from: oldStatus, to: user.status } } : undefined;
    return this.publish({
      ...options,
      type: EventType.UserStatusChanged,
      user,
      ...(changes ? { changes } : {}),
    });
  }

  /**
   * Publishes any event. Resolves once the event is in the ledger and its deliveries are
   * durably queued; from then on it is not lost whatever process dies. Publishing the same
   * event id again enqueues nothing new (within `dedupeWindow`), and completes a publish of
   * that id that failed half way.
   */
  async publish(input: UserEventInput): Promise<PublishResult> {
    const partial = validateEvent(
      input,
      {
        maxSnapshotBytes: this.config.maxSnapshotBytes,
        maxTimestampAheadMs: this.config.maxTimestampAhead,
        statuses: this.statuses,
        source: this.source,
      },
      this.now,
    );
    const eventId = partial.id ?? newEventId(this.now());
    if (!this.config.enabled) {
      if (!this.warnedDisabled) {
        this.logger.warn('publishing is disabled (enabled: false): events are accepted and dropped');
        this.warnedDisabled = true;
      }
      return {
        eventId,
        version: partial.version ?? 0,
        tasks: [],
        enabled: false,
        duplicate: false,
        ledgerUpdated: false,
      };
    }

    const userId = String(partial.userId);
    const partition = this.keyspace.partitionOf(userId);
    const keys = this.keyspace.partition(partition);
    const planned = planDeliveries(
      { ...partial, id: eventId, version: partial.version ?? 0 },
      this.config.targets,
      {
        queueName: keys.deliveryQueue,
      },
    );
    const targets = planned.map((p) => p.service);
    this.shapeChecked ??= checkPartitions(this.redis, this.keyspace).catch((error: unknown) => {
      this.shapeChecked = undefined;
      throw error;
    });
    await this.shapeChecked;
    const reserved = await reservePublish(this.redis, keys, {
      eventId,
      userId,
      version: partial.version,
      type: partial.type,
      snapshot: JSON.stringify(partial.user),
      deleted: partial.type === EventType.UserDeleted,
      timestamp: partial.timestamp,
      dedupeWindowMs: this.config.dedupeWindow,
      targets,
      queueSize: this.config.queueSize,
      reservationTtlMs: RESERVATION_TTL_MS,
    });
    const { state, version, ledgerUpdated } = admitted(reserved, userId, this.config.queueSize);
    const tasks = planned.map((p) => p.jobId);
    if (state === 'enqueued') {
      this.logger.info('duplicate publish ignored', { event_id: eventId, user_id: userId, version });
      await this.confirmReplicas(keys.event(eventId), eventId);
      return { eventId, version, tasks, enabled: true, duplicate: true, ledgerUpdated: false };
    }

    const jobOptions = deliveryJobOptions(this.config);
    if (planned.length > 0) {
      // One MULTI across the target queues: every delivery of the event is queued, or none.
      await this.queues.flows(partition).addBulk(
        planned.map((p) => ({
          name: partial.type,
          queueName: p.queueName,
          data: { ...p.data, version },
          opts: { ...jobOptions, jobId: p.jobId },
        })),
      );
    }
    await commitPublish(this.redis, keys, { eventId, tasks: planned.length, targets });
    await this.confirmReplicas(keys.event(eventId), eventId);
    this.logger.info('event published', {
      event_id: eventId,
      event_type: partial.type,
      user_id: userId,
      version,
      tasks: planned.length,
      ...(this.keyspace.partitions > 1 ? { partition } : {}),
      ...(ledgerUpdated ? {} : { ledger: 'newer version already recorded' }),
      ...(state === 'pending' ? { resumed: true } : {}),
    });
    return { eventId, version, tasks, enabled: true, duplicate: false, ledgerUpdated };
  }

  /**
   * With `replicaAcks`, waits until that many replicas hold the event's writes (everything sent
   * before on the connection to its partition's master); fewer within `replicaAckTimeout` is a
   * ReplicationError (the writes stay: publishing the same id again waits again).
   */
  private async confirmReplicas(key: string, eventId: string): Promise<void> {
    const { replicaAcks, replicaAckTimeout } = this.config;
    if (replicaAcks <= 0) return;
    const acked = await waitForReplicas(this.redis, key, replicaAcks, replicaAckTimeout);
    if (acked < replicaAcks) throw new ReplicationError(eventId, acked, replicaAcks, replicaAckTimeout);
  }

  /** Closes the queues this publisher opened (not the Redis connection it was given). */
  async close(): Promise<void> {
    if (this.ownsQueues) await this.queues.close();
  }
}

/**
 * How long a publish's place in its target queues is held when it never commits (its process
 * died between reserving and adding the jobs); normally the jobs replace it within milliseconds.
 */
const RESERVATION_TTL_MS = 30_000;

/** The event was admitted by reservePublish; otherwise the error that says why not, naming the field. */
function admitted(
  result: ReserveResult,
  userId: string,
  queueSize: number,
): { state: PublishState; version: number; ledgerUpdated: boolean } {
  switch (result.state) {
    case 'full':
      throw new QueueFullError(result.target, result.backlog, queueSize);
    case 'exhausted':
      throw new ValidationError(
        'version',
        `user ${userId} is at version ${result.current}, the largest a version may be: no next version can be ` +
          'assigned (publish with your own versions, or start the user over under a new id)',
      );
    case 'conflict':
      throw new ValidationError(
        'version',
        `${result.version} is already recorded for user ${userId} by another event (${result.heldBy}); ` +
          'versions must increase with every change',
      );
    default:
      return result;
  }
}

/** Per-call options of the typed publish methods. */
export type PublishOptions = Pick<UserEventInput, 'id' | 'version' | 'timestamp' | 'source'>;
