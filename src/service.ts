import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { parseConfig } from './config/parse.js';
import { type SyncConfig, type SyncConfigInput, type TargetConfig } from './config/schema.js';
import { ConfigError, toError } from './errors.js';
import {
  DeadLetters,
  type DeadLetterFilter,
  type DeadLetterRecord,
  type ListOptions,
  type Progress,
} from './jobs/dead-letter.js';
import { keys, type Keys } from './jobs/names.js';
import { QueueSet } from './jobs/queues.js';
import { readStats, type SyncStats } from './jobs/stats.js';
import { createLogger, type Logger } from './logger.js';
import { UserEventPublisher, type PublisherOptions } from './producers/publisher.js';
import { DEFAULT_REDIS_URL, connectRedis, workerConnection, type Redis } from './redis.js';
import type { UserEventSubscriber } from './executors/handler.js';
import { DeliveryWorker, type DeliveryOutcome } from './workers/delivery-worker.js';
import type { Executor } from './executors/executor.js';
import { createHttpExecutor } from './executors/http/executor.js';
import { canReadState } from './executors/http/state.js';
import { createRedisExecutor } from './executors/redis/executor.js';
import { MaintenanceWorker, syncSweepScheduler } from './sweep/maintenance-worker.js';
import { registeredExecutor } from './executors/registry.js';
import { readSweepRuns, runSweep, type SweepOptions, type SweepRun } from './sweep/run.js';

/** `getQueueStatus()`: the Go package's figures. */
export interface QueueStatus {
  /** Unfinished deliveries across every target queue. */
  queue_length: number;
  /** `queueSize`: the backlog cap per target queue. */
  queue_cap: number;
  /** Delivery concurrency of every live worker process (sum of their `workers`). */
  workers: number;
  /** Live worker processes. */
  processes: number;
  /** Whether this process's workers are running. */
  is_running: boolean;
  enabled: boolean;
}

export interface UserSyncServiceOptions {
  logger?: Logger;
  /** Handlers for `handler` targets. */
  subscriber?: UserEventSubscriber;
  /** Executors for custom kinds, for this service only (see also the global `registerExecutor`). */
  executors?: Record<string, Executor>;
  /** Call stop() on SIGTERM and SIGINT. */
  handleSignals?: boolean;
  /** Called with each delivery outcome and its latency (metrics). */
  onOutcome?: (outcome: DeliveryOutcome, target: string, ms: number) => void;
  now?: () => number;
}

const HEARTBEAT_MS = 5_000;
const HEARTBEAT_TTL_MS = 15_000;
const RECONCILE_MS = 5 * 60_000;

/**
 * Runs the delivery workers of every enabled target in this process, and answers for the
 * whole deployment: stats, queue status and dead letters are read from Redis, so any process
 * reports the same figures.
 *
 * ```ts
 * const service = new UserSyncService(loadConfig(), new Redis(process.env.REDIS_URL));
 * await service.start();
 * ```
 */
export class UserSyncService {
  readonly config: SyncConfig;
  readonly redis: Redis;
  readonly keys: Keys;
  readonly queues: QueueSet;
  readonly deadLetters: DeadLetters;
  readonly logger: Logger;
  private readonly ownsRedis: boolean;
  private readonly executors = new Map<string, Executor>();
  private workers: DeliveryWorker[] = [];
  private readonly builtins = new Map<string, Executor>();
  private workerRedis: Redis | undefined;
  private maintenance: MaintenanceWorker | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private reconciler: NodeJS.Timeout | undefined;
  private readonly memberId = `${hostname()}|${process.pid}|${randomUUID()}`;
  private running = false;
  private stopping: Promise<void> | undefined;
  private signalHandler: (() => void) | undefined;

  constructor(
    config: SyncConfig | SyncConfigInput,
    redis?: Redis | string,
    private readonly options: UserSyncServiceOptions = {},
  ) {
    this.config = parseConfig(config);
    this.ownsRedis = typeof redis !== 'object';
    this.redis =
      typeof redis === 'object'
        ? redis
        : connectRedis(redis ?? this.config.redisUrl ?? process.env.REDIS_URL ?? DEFAULT_REDIS_URL);
    this.keys = keys(this.config.prefix);
    this.logger = (options.logger ?? createLogger()).child({ component: 'user-sync' });
    this.queues = new QueueSet(this.redis, this.config.prefix, (error) =>
      this.logger.warn('redis connection error', { error: error.message }),
    );
    this.deadLetters = new DeadLetters(this.queues, this.redis, this.keys, this.config, this.logger);
    for (const [kind, executor] of Object.entries(options.executors ?? {}))
      this.executors.set(kind, executor);
  }

  /** Registers an executor for a custom kind, for this service. Call before start(). */
  registerExecutor(kind: string, executor: Executor): this {
    this.executors.set(kind, executor);
    return this;
  }

  /** A publisher that shares this service's config and queues. */
  createPublisher(
    source: string,
    options: Omit<PublisherOptions, 'config' | 'queues'> = {},
  ): UserEventPublisher {
    return new UserEventPublisher(this.redis, source, {
      logger: this.options.logger ?? this.logger,
      ...options,
      config: this.config,
      queues: this.queues,
    });
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Starts a delivery worker per enabled target. Resolves when every worker is connected. */
  async start(): Promise<void> {
    if (this.running) return;
    if (this.stopping) await this.stopping;
    if (!this.config.enabled) {
      this.logger.warn('user-sync is disabled (enabled: false): no workers started');
      return;
    }
    const targets = this.config.targets.filter((t) => t.enabled);
    let executors: Executor[];
    try {
      executors = targets.map((target) => this.executorFor(target.kind, this.config.targets.indexOf(target)));
    } catch (error) {
      await this.closeBuiltins();
      throw error;
    }
    this.workerRedis = workerConnection(this.redis);
    this.workers = targets.map(
      (target, i) =>
        new DeliveryWorker({
          target,
          config: this.config,
          executor: executors[i] as Executor,
          workerConnection: this.workerRedis as Redis,
          redis: this.redis,
          keys: this.keys,
          deadLetters: this.deadLetters,
          logger: this.logger,
          ...(this.options.onOutcome ? { onOutcome: this.options.onOutcome } : {}),
          ...(this.options.now ? { now: this.options.now } : {}),
        }),
    );
    for (const worker of this.workers) worker.start();
    await syncSweepScheduler(this.queues, this.redis, this.keys, this.config, this.logger);
    if (this.config.consistencyCheck) {
      this.maintenance = new MaintenanceWorker({
        connection: this.workerRedis,
        redis: this.redis,
        keys: this.keys,
        config: this.config,
        logger: this.logger,
        sweep: (options) => this.runSweep(options),
      });
      this.maintenance.start();
    }
    await Promise.all(this.workers.map((w) => w.worker.waitUntilReady()));
    this.running = true;
    if (targets.length > 0) await this.redis.sadd(this.keys.targets, ...targets.map((t) => t.service));
    await this.beat();
    this.heartbeat = setInterval(() => void this.beat(), HEARTBEAT_MS);
    this.heartbeat.unref();
    void this.reconcile();
    this.reconciler = setInterval(() => void this.reconcile(), RECONCILE_MS);
    this.reconciler.unref();
    if (this.options.handleSignals) {
      this.signalHandler = () => {
        this.logger.info('signal received: stopping');
        void this.stop();
      };
      process.once('SIGTERM', this.signalHandler);
      process.once('SIGINT', this.signalHandler);
    }
    this.logger.info('user-sync started', {
      targets: targets.map((t) => t.service),
      concurrency: this.config.workers,
    });
  }

  /**
   * Stops taking jobs and waits up to `shutdownTimeout` for active deliveries; those still
   * running then are released back to their queue, their attempt not counted.
   */
  async stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    if (!this.running) return;
    this.stopping = (async () => {
      clearInterval(this.heartbeat);
      clearInterval(this.reconciler);
      if (this.signalHandler) {
        process.off('SIGTERM', this.signalHandler);
        process.off('SIGINT', this.signalHandler);
        this.signalHandler = undefined;
      }
      await Promise.all([
        ...this.workers.map((w) => w.close(this.config.shutdownTimeout)),
        this.maintenance?.close(this.config.shutdownTimeout),
      ]);
      this.workers = [];
      this.maintenance = undefined;
      await this.closeBuiltins();
      await this.redis.zrem(this.keys.workers, this.member()).catch(() => undefined);
      await this.workerRedis?.quit().catch(() => undefined);
      this.workerRedis = undefined;
      this.running = false;
      this.logger.info('user-sync stopped');
    })();
    try {
      await this.stopping;
    } finally {
      this.stopping = undefined;
    }
  }

  /** stop(), then closes the queues and the Redis connection if this service opened it. */
  async close(): Promise<void> {
    await this.stop();
    // A service that never started may still have opened executors (to read target state).
    await this.closeBuiltins();
    await this.queues.close();
    if (this.ownsRedis) await this.redis.quit().catch(() => undefined);
  }

  /** Counters since the deployment began, the same from every process. */
  async getStats(): Promise<SyncStats> {
    // This config's targets, and any other target a worker of this deployment ran (a
    // dashboard or CLI with a partial config still shows every target's figures).
    const known = await this.redis.smembers(this.keys.targets);
    const services = [...new Set([...this.config.targets.map((t) => t.service), ...known.sort()])];
    return readStats(this.redis, this.keys, services);
  }

  /** Backlog, cap and live workers across every process. */
  async getQueueStatus(): Promise<QueueStatus> {
    const services = this.config.targets.filter((t) => t.enabled).map((t) => t.service);
    const now = Date.now();
    const [backlogs, members] = await Promise.all([
      Promise.all(services.map((s) => this.queues.backlog(s))),
      this.redis.zrangebyscore(this.keys.workers, now, '+inf'),
    ]);
    return {
      queue_length: backlogs.reduce((a, b) => a + b, 0),
      queue_cap: this.config.queueSize,
      workers: members.reduce((sum, m) => sum + (Number(m.split('|')[3]) || 0), 0),
      processes: members.length,
      is_running: this.running,
      enabled: this.config.enabled,
    };
  }

  /** Dead letters, newest first. */
  listDeadLetters(options: ListOptions = {}): Promise<{ total: number; records: DeadLetterRecord[] }> {
    return this.deadLetters.list(options);
  }

  /** Replays dead letters (all, by target, by id); returns the ids replayed. */
  replayDeadLetters(filter: DeadLetterFilter = {}, onProgress?: Progress): Promise<string[]> {
    return this.deadLetters.replay(filter, onProgress);
  }

  /** Deletes dead letters (all, by target, by id); returns the ids purged. */
  purgeDeadLetters(filter: DeadLetterFilter = {}, onProgress?: Progress): Promise<string[]> {
    return this.deadLetters.purge(filter, onProgress);
  }

  /**
   * Runs one consistency sweep now (see `consistencyCheck`): compares every target that can
   * report state with the ledger, from the persisted cursor, within the per-run budget, and with
   * `autoRepair` enqueues repairs. Resolves to the run's figures, or undefined when another
   * sweep is running.
   */
  runSweep(options: SweepOptions = {}): Promise<SweepRun | undefined> {
    return runSweep(
      {
        redis: this.redis,
        keys: this.keys,
        config: this.config,
        queues: this.queues,
        logger: this.logger,
        stateReader: (target) => this.stateReader(target),
        ...(this.options.now ? { now: this.options.now } : {}),
      },
      options,
    );
  }

  /** The figures of the last sweeps, newest first. */
  getSweepRuns(limit = 20): Promise<SweepRun[]> {
    return readSweepRuns(this.redis, this.keys, limit);
  }

  /** The executor that can read a target's state, if any: redis natively, http with `state`, custom with readState. */
  private stateReader(target: TargetConfig): Executor | undefined {
    if (target.kind === 'http' && !canReadState(target)) return undefined;
    if (target.kind === 'handler') return undefined;
    try {
      const executor = this.executorFor(target.kind, this.config.targets.indexOf(target));
      return executor.readState ? executor : undefined;
    } catch {
      return undefined;
    }
  }

  private async closeBuiltins(): Promise<void> {
    await Promise.all([...this.builtins.values()].map((e) => e.close?.()));
    this.builtins.clear();
  }

  private member(): string {
    return `${this.memberId}|${this.config.workers}`;
  }

  private async beat(): Promise<void> {
    try {
      const now = Date.now();
      await this.redis
        .multi()
        .zadd(this.keys.workers, now + HEARTBEAT_TTL_MS, this.member())
        .zremrangebyscore(this.keys.workers, '-inf', now)
        .exec();
    } catch (error) {
      this.logger.warn('heartbeat failed', { error: toError(error).message });
    }
  }

  private async reconcile(): Promise<void> {
    for (const target of this.config.targets.filter((t) => t.enabled)) {
      try {
        await this.deadLetters.reconcile(target.service);
      } catch (error) {
        this.logger.warn('dead-letter reconcile failed', {
          target: target.service,
          error: toError(error).message,
        });
      }
    }
  }

  private executorFor(kind: string, index: number): Executor {
    const own = this.executors.get(kind);
    if (own) return own;
    switch (kind) {
      case 'http':
      case 'redis': {
        // One executor per built-in kind while running (shared connections), closed by stop().
        let executor = this.builtins.get(kind);
        if (!executor) {
          executor =
            kind === 'http'
              ? createHttpExecutor({ retryAfterMaxMs: this.config.retryAfterMax })
              : createRedisExecutor({ tombstoneTtlMs: this.config.tombstoneTtl });
          this.builtins.set(kind, executor);
        }
        return executor;
      }
      case 'handler':
        if (!this.options.subscriber) {
          throw new ConfigError(
            `targets[${index}].kind`,
            'is "handler" but no subscriber was given to UserSyncService',
          );
        }
        return this.options.subscriber;
      default: {
        const registered = registeredExecutor(kind);
        if (!registered) {
          throw new ConfigError(
            `targets[${index}].kind`,
            `no executor is registered for kind "${kind}" (registerExecutor)`,
          );
        }
        return registered;
      }
    }
  }
}
