import { loadConfig } from '../config/load.js';
import { parseConfig } from '../config/parse.js';
import type { SyncConfig, SyncConfigInput } from '../config/schema.js';
import { ForeignValueError, QueueFullError, ReplicationError, ValidationError, toError } from '../errors.js';
import { EventType, type UserEvent, type UserEventInput, type UserSnapshot } from '../events.js';
import { referenceData } from '../jobs/delivery-job.js';
import { checkPartitions } from '../jobs/meta.js';
import type { Keyspace } from '../jobs/names.js';
import { publishBatch } from '../jobs/publish-script.js';
import { createLogger, type Logger } from '../logger.js';
import { waitForReplicas, type Redis } from '../redis.js';
import { newEventId } from './event-id.js';
import { planDeliveries } from './fan-out.js';
import { PublishSettingsSource, checkOptionNames, type PublishSettings } from './publish-settings.js';
import { DEFAULT_STATUSES, validateEvent } from './validation.js';

/**
 * Events per script call: a large batch is cut into calls of this many, so that no one script
 * holds Redis for long (each event is a few hundred microseconds of Lua at most).
 */
export const MAX_SCRIPT_BATCH = 200;

export interface PublisherOptions {
  /**
   * The configuration (targets, queueSize, …), as `UserSyncService` takes it: validated here,
   * with errors naming the field. Default: `loadConfig()` (file and environment). Without
   * targets, the targets and the deployment's publish settings (partitions, queueSize, …) are
   * read from the target registry in Redis under its `prefix` (see `registryRefresh`).
   */
  config?: SyncConfig | SyncConfigInput;
  logger?: Logger;
  /** Accepted user statuses (default: active, inactive, pending, suspended, banned, locked, disabled). */
  statuses?: readonly string[];
  /** Clock, for tests. */
  now?: () => number;
  /** The deployment's keys (the service's), instead of its own from the config. */
  keyspace?: Keyspace;
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
  /** Where each publish's targets and settings come from: the config, or the registry. */
  private readonly settings: PublishSettingsSource;
  /** The deployment's partitions, checked once per keyspace (see checkPartitions). */
  private shapeChecked: { keyspace: Keyspace; done: Promise<void> } | undefined;
  private readonly logger: Logger;
  private readonly now: () => number;
  private warnedDisabled = false;

  /**
   * @param redis - a `Redis` or a `Cluster` connection; the publisher opens none of its own.
   * @param source - this service's name, in every event it publishes.
   */
  constructor(
    private readonly redis: Redis,
    readonly source: string,
    options: PublisherOptions = {},
  ) {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(source)) {
      throw new ValidationError('source', 'must be 1-64 letters, digits or "_.-"');
    }
    checkOptionNames(options);
    const config = options.config === undefined ? loadConfig() : parseConfig(options.config);
    this.logger = (options.logger ?? createLogger()).child({ component: 'publisher', source });
    this.now = options.now ?? Date.now;
    this.settings = new PublishSettingsSource(redis, config, {
      keyspace: options.keyspace,
      statuses: options.statuses ?? DEFAULT_STATUSES,
      source,
      configGiven: options.config !== undefined,
      logger: this.logger,
    });
  }

  /**
   * The configuration in effect: the one given (or loaded), or, for a publisher that reads its
   * targets from the registry, that config with the registry's targets and settings as last read.
   */
  get config(): SyncConfig {
    return this.settings.latest.config;
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
   * durably queued — one atomic step, one round trip; from then on it is not lost whatever
   * process dies. Publishing the same event id again enqueues nothing new (within
   * `dedupeWindow`). Throws a ValidationError naming the field, a QueueFullError, a
   * ReplicationError (see `replicaAcks`), or a ConfigError when there are no targets at all.
   */
  async publish(input: UserEventInput): Promise<PublishResult> {
    const [outcome] = await this.publishMany([input]);
    if (!outcome) throw new Error('publish: no outcome');
    if (!outcome.ok) throw outcome.error;
    return outcome.result;
  }

  /**
   * Publishes a batch: one round trip per partition the events touch (per 200 events of it),
   * each event still all or nothing. Resolves with an outcome per event, in order: `{ ok: true, result }`, or
   * `{ ok: false, error }` for an event refused (invalid, its target full, its version taken) —
   * a bad event does not sink the others. Events of one user keep their order within the batch.
   * Rejects, publishing nothing, when there are no targets (ConfigError) or the target registry
   * cannot be trusted (ForeignValueError).
   */
  async publishMany(inputs: readonly UserEventInput[]): Promise<PublishOutcomeOf[]> {
    const settings = await this.settings.current();
    const outcomes: PublishOutcomeOf[] = new Array<PublishOutcomeOf>(inputs.length);
    const valid: Array<{ index: number; event: UserEvent; versionGiven: boolean }> = [];
    inputs.forEach((input, index) => {
      try {
        const partial = validateEvent(input, settings.validation, this.now);
        const event = { ...partial, id: partial.id ?? newEventId(this.now()), version: partial.version ?? 0 };
        valid.push({ index, event, versionGiven: partial.version !== undefined });
      } catch (error) {
        outcomes[index] = { ok: false, error: toError(error) };
      }
    });
    if (!settings.config.enabled) {
      this.warnDisabled(settings);
      for (const { index, event, versionGiven } of valid) {
        outcomes[index] = {
          ok: true,
          result: {
            eventId: event.id,
            version: versionGiven ? event.version : 0,
            tasks: [],
            enabled: false,
            duplicate: false,
            ledgerUpdated: false,
          },
        };
      }
      return outcomes;
    }
    if (valid.length > 0) await this.checkShape(settings.keyspace);
    const byPartition = new Map<number, typeof valid>();
    for (const item of valid) {
      const p = settings.keyspace.partitionOf(item.event.userId);
      byPartition.set(p, [...(byPartition.get(p) ?? []), item]);
    }
    // Partitions in parallel; within one, chunks in order (a user's events keep their order).
    await Promise.all(
      [...byPartition].map(async ([partition, items]) => {
        for (let start = 0; start < items.length; start += MAX_SCRIPT_BATCH) {
          const chunk = items.slice(start, start + MAX_SCRIPT_BATCH);
          const results = await this.publishPartition(settings, partition, chunk);
          results.forEach((outcome, i) => (outcomes[(chunk[i] as (typeof chunk)[number]).index] = outcome));
        }
      }),
    );
    return outcomes;
  }

  /** The events of one partition, in one round trip; then, with replicaAcks, a WAIT. */
  private async publishPartition(
    { config, keyspace, jobOptions }: PublishSettings,
    partition: number,
    items: ReadonlyArray<{ event: UserEvent; versionGiven: boolean }>,
  ): Promise<PublishOutcomeOf[]> {
    const keys = keyspace.partition(partition);
    const planned = items.map(({ event }) =>
      planDeliveries(event, config.targets, { queueName: keys.deliveryQueue }),
    );
    // Every target, not only those this batch goes to: an event leaving the ledger gives its
    // snapshot back to its jobs at any of them (publish-script.ts).
    const targets = config.targets.map((t) => t.service);
    const outcomes = await publishBatch(this.redis, keys, {
      targets,
      queueSize: config.queueSize,
      dedupeWindowMs: config.dedupeWindow,
      jobTimestamp: this.now(),
      jobOptions,
      events: items.map(({ event, versionGiven }, i) => ({
        eventId: event.id,
        userId: String(event.userId),
        version: versionGiven ? event.version : undefined,
        type: event.type,
        snapshot: JSON.stringify(event.user),
        deleted: event.type === EventType.UserDeleted,
        timestamp: event.timestamp,
        deliveries: (planned[i] ?? []).map((p) => ({
          target: p.service,
          jobId: p.jobId,
          data: referenceData(p.data),
        })),
      })),
    });
    const written = outcomes.filter((o) => o.state === 'new' || o.state === 'enqueued').length;
    let replication: ReplicationError | undefined;
    if (written > 0 && config.replicaAcks > 0) {
      const { replicaAcks, replicaAckTimeout } = config;
      const acked = await waitForReplicas(this.redis, keys.users, replicaAcks, replicaAckTimeout);
      if (acked < replicaAcks)
        replication = new ReplicationError(
          items.map((x) => x.event.id).join(', '),
          acked,
          replicaAcks,
          replicaAckTimeout,
        );
    }
    return outcomes.map((outcome, i): PublishOutcomeOf => {
      const { event } = items[i] as (typeof items)[number];
      const tasks = (planned[i] ?? []).map((p) => p.jobId);
      const userId = String(event.userId);
      switch (outcome.state) {
        case 'full':
          return {
            ok: false,
            error: new QueueFullError(outcome.target, outcome.backlog, config.queueSize),
          };
        case 'exhausted':
          return {
            ok: false,
            error: new ValidationError(
              'version',
              `user ${userId} is at version ${outcome.current}, the largest a version may be: no next version can be ` +
                'assigned (publish with your own versions, or start the user over under a new id)',
            ),
          };
        case 'foreign':
          return {
            ok: false,
            error:
              outcome.key === 'event'
                ? new ForeignValueError(
                    keys.event(event.id),
                    `something else than the dedupe record of event ${event.id}`,
                  )
                : new ForeignValueError(
                    keys.ledger(userId),
                    `something else than a ledger entry of user ${userId}`,
                  ),
          };
        case 'conflict':
          return {
            ok: false,
            error: new ValidationError(
              'version',
              `${outcome.version} is already recorded for user ${userId} by another event (${outcome.heldBy}); ` +
                'versions must increase with every change',
            ),
          };
        default: {
          if (replication) return { ok: false, error: replication };
          const duplicate = outcome.state === 'enqueued';
          const ledgerUpdated = outcome.state === 'new' && outcome.ledgerUpdated;
          if (this.logger.isLevelEnabled('info')) {
            this.logger.info(duplicate ? 'duplicate publish ignored' : 'event published', {
              event_id: event.id,
              event_type: event.type,
              user_id: userId,
              version: outcome.version,
              tasks: duplicate ? 0 : tasks.length,
              ...(keyspace.partitions > 1 ? { partition } : {}),
              ...(duplicate || ledgerUpdated ? {} : { ledger: 'newer version already recorded' }),
            });
          }
          return {
            ok: true,
            result: {
              eventId: event.id,
              version: outcome.version,
              tasks,
              enabled: true,
              duplicate,
              ledgerUpdated,
            },
          };
        }
      }
    });
  }

  /** The deployment's partitions, checked once per keyspace (see checkPartitions). */
  private async checkShape(keyspace: Keyspace): Promise<void> {
    if (this.shapeChecked?.keyspace !== keyspace) {
      const check = { keyspace, done: checkPartitions(this.redis, keyspace) };
      check.done.catch(() => {
        if (this.shapeChecked === check) this.shapeChecked = undefined;
      });
      this.shapeChecked = check;
    }
    await this.shapeChecked.done;
  }

  private warnDisabled(settings: PublishSettings): void {
    if (this.warnedDisabled) return;
    const where = settings.rev === undefined ? '' : ` in the target registry (rev ${settings.rev})`;
    this.logger.warn(`publishing is disabled (enabled: false${where}): events are accepted and dropped`);
    this.warnedDisabled = true;
  }

  /** Nothing to close: a publisher opens no connection of its own (it is kept for the Go API's shape). */
  async close(): Promise<void> {
    return Promise.resolve();
  }
}

/** What `publishMany` says of one event. */
export type PublishOutcomeOf = { ok: true; result: PublishResult } | { ok: false; error: Error };

/** Per-call options of the typed publish methods. */
export type PublishOptions = Pick<UserEventInput, 'id' | 'version' | 'timestamp' | 'source'>;
