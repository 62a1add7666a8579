/**
 * A deployment, read and operated from any process: its configuration, its Redis, its queues,
 * and what everyone asks of it — stats, queue status, targets, dead letters (list, replay,
 * purge), sweep runs, one user's whereabouts, a target's backfill. It starts no workers (that
 * is `UserSyncService`): the dashboard and the CLI take one of these.
 */
import { clusterNodes, parseConfig } from './config/parse.js';
import type { SyncConfig, SyncConfigInput } from './config/schema.js';
import { enabledTargets } from './config/targets.js';
import { readBreakers } from './breaker/breakers.js';
import { ConfigError } from './errors.js';
import { closeBreakerByHand, type BreakerRecord } from './jobs/breaker-scripts.js';
import { Executors, type ExecutorSources } from './executors/choose.js';
import type { DeadLetterFilter, DeadLetterRecord, ListOptions, Progress } from './jobs/dead-letter.js';
import { DeadLetters } from './jobs/dead-letter-store.js';
import { Keyspace } from './jobs/names.js';
import { QueueSet } from './jobs/queues.js';
import { writeRegistry, type RegistryWriteResult, type RegistryWriter } from './jobs/registry.js';
import { readStats, type SyncStats } from './jobs/stats.js';
import { createLogger, type Logger } from './logger.js';
import { UserEventPublisher, type PublisherOptions } from './producers/publisher.js';
import { DEFAULT_REDIS_URL, connectCluster, connectRedis, type Redis } from './redis.js';
import { readSweepRuns, runSweep, type SweepOptions } from './sweep/run.js';
import { type SweepRun } from './sweep/classify.js';
import { readLiveWorkers } from './workers/heartbeat.js';
import { runBackfill, type BackfillOptions, type BackfillResult } from './ops/backfill.js';
import { lookupUser, type LookupOptions, type UserLookup } from './ops/user-lookup.js';

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

export interface DeploymentOptions extends ExecutorSources {
  logger?: Logger | undefined;
  /** Clock (ms), for the sweep's figures and tests. */
  now?: (() => number) | undefined;
}

export class Deployment {
  readonly config: SyncConfig;
  readonly redis: Redis;
  /** Its keys: the deployment's own, and each partition's. */
  readonly keyspace: Keyspace;
  readonly queues: QueueSet;
  readonly deadLetters: DeadLetters;
  readonly logger: Logger;
  /** The executors of its targets: workers deliver with them, the sweep reads state with them. */
  readonly executors: Executors;
  private readonly ownsRedis: boolean;

  /**
   * @param redis - a connection, `Redis` or `Cluster` (left open by close()), or a URL to connect
   * to (closed by close()); default a Cluster of `redisClusterNodes` when the config names them,
   * else the config's `redisUrl`, `REDIS_URL`, else redis://127.0.0.1:6379.
   */
  constructor(
    config: SyncConfig | SyncConfigInput,
    redis?: Redis | string,
    private readonly options: DeploymentOptions = {},
  ) {
    this.config = parseConfig(config);
    this.ownsRedis = typeof redis !== 'object';
    this.redis =
      typeof redis === 'object'
        ? redis
        : redis === undefined && this.config.redisClusterNodes !== undefined
          ? connectCluster(clusterNodes(this.config.redisClusterNodes))
          : connectRedis(redis ?? this.config.redisUrl ?? process.env.REDIS_URL ?? DEFAULT_REDIS_URL);
    this.keyspace = new Keyspace(this.config.prefix, this.config.partitions);
    this.logger = (options.logger ?? createLogger()).child({ component: 'user-sync' });
    this.queues = new QueueSet(this.redis, this.keyspace, (error) =>
      this.logger.warn('redis connection error', { error: error.message }),
    );
    this.deadLetters = new DeadLetters(
      this.queues,
      this.redis,
      this.keyspace,
      this.config,
      this.logger,
      options.now,
    );
    this.executors = new Executors(this.config, options);
  }

  /** A publisher that shares this deployment's config and queues. */
  createPublisher(
    source: string,
    options: Omit<PublisherOptions, 'config' | 'queues'> = {},
  ): UserEventPublisher {
    return new UserEventPublisher(this.redis, source, {
      logger: this.options.logger ?? this.logger,
      ...options,
      config: this.config,
      keyspace: this.keyspace,
    });
  }

  /**
   * Writes this config's targets and publish settings to the deployment's target registry, for
   * producers that have only a Redis connection (see src/jobs/registry.ts). Only when the content
   * changed (its revision moves then). Last writer wins: a registry written from another config
   * is replaced, with a warning naming the differences. Throws a ConfigError for a config
   * without targets (it writes nothing), a ForeignValueError when the key holds something else.
   */
  writeRegistry(writer: RegistryWriter): Promise<RegistryWriteResult> {
    return writeRegistry(this.redis, this.keyspace.deployment.registry, this.config, {
      writer,
      logger: this.logger,
      ...(this.options.now ? { now: this.options.now } : {}),
    });
  }

  /**
   * The targets to report on: this config's, and any other target a worker of this deployment
   * ran (a dashboard or CLI with a partial config still shows every target's figures).
   */
  async knownTargets(): Promise<string[]> {
    const known = await this.redis.smembers(this.keyspace.deployment.targets);
    return [...new Set([...this.config.targets.map((t) => t.service), ...known.sort()])];
  }

  /** Counters since the deployment began, the same from every process. */
  async getStats(): Promise<SyncStats> {
    return readStats(this.redis, this.keyspace, await this.knownTargets());
  }

  /** Backlog, cap and live workers across every process; `is_running` is false here (no workers). */
  async getQueueStatus(): Promise<QueueStatus> {
    const [backlogs, workers] = await Promise.all([
      Promise.all(enabledTargets(this.config).map((t) => this.queues.backlog(t.service))),
      readLiveWorkers(this.redis, this.keyspace.deployment),
    ]);
    return {
      queue_length: backlogs.reduce((a, b) => a + b, 0),
      queue_cap: this.config.queueSize,
      workers: workers.reduce((sum, w) => sum + w.concurrency, 0),
      processes: workers.length,
      is_running: false,
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
        keyspace: this.keyspace,
        config: this.config,
        queues: this.queues,
        logger: this.logger,
        stateReader: (target) => this.executors.stateReader(target),
        ...(this.options.now ? { now: this.options.now } : {}),
      },
      options,
    );
  }

  /**
   * Pauses or resumes a target's delivery queues in every partition (BullMQ `pause`/`resume`):
   * while paused its deliveries wait, nothing is lost, retried or dead-lettered; resumed, they
   * drain in order. Resolves to whether every queue is now paused. Throws a ConfigError for a
   * target neither this config nor any worker of the deployment names.
   */
  async setPaused(service: string, paused: boolean): Promise<boolean> {
    if (!(await this.knownTargets()).includes(service))
      throw new ConfigError(
        'service',
        `no target named ${JSON.stringify(service)} is known to this deployment`,
      );
    const queues = this.queues.deliveriesOf(service);
    await Promise.all(queues.map((queue) => (paused ? queue.pause() : queue.resume())));
    this.logger.info(paused ? 'target paused' : 'target resumed', { target: service });
    return this.queues.isPaused(service);
  }

  /**
   * Closes a target's circuit breaker by hand (an operator knows it is back): every worker sees
   * it within a second, and its held deliveries go within a few. Returns the breaker as it is
   * now. Throws a ConfigError for a target the deployment does not know.
   */
  async closeBreaker(service: string): Promise<BreakerRecord> {
    if (!(await this.knownTargets()).includes(service))
      throw new ConfigError(
        'service',
        `no target named ${JSON.stringify(service)} is known to this deployment`,
      );
    const record = await closeBreakerByHand(
      this.redis,
      this.keyspace.deployment.breaker(service),
      Date.now(),
    );
    this.logger.info('circuit breaker closed by hand', { target: service });
    return record;
  }

  /** Whether each target is paused, and its circuit breaker (closed for one that never opened). */
  async targetStates(
    services: readonly string[],
  ): Promise<Map<string, { paused: boolean; breaker: BreakerRecord }>> {
    const [paused, breakers] = await Promise.all([
      Promise.all(services.map((service) => this.queues.isPaused(service))),
      readBreakers(this.redis, this.keyspace.deployment, services),
    ]);
    return new Map(
      services.map((service, i) => [
        service,
        { paused: paused[i] === true, breaker: breakers.get(service) as BreakerRecord },
      ]),
    );
  }

  /** The figures of the last sweeps, newest first. */
  getSweepRuns(limit = 20): Promise<SweepRun[]> {
    return readSweepRuns(this.redis, this.keyspace.deployment, limit);
  }

  /**
   * One user across the deployment: its partition, the ledger's version, deleted flag, latest
   * event and snapshot summary (personal values masked unless `reveal`), and per target the
   * watermark, whether it is in sync, and the user's pending, retrying, active and dead
   * deliveries with their last errors (see src/ops/user-lookup.ts). Throws for an id that is not
   * a user id.
   */
  lookupUser(id: string, options: LookupOptions = {}): Promise<UserLookup> {
    const { redis, keyspace, config, queues, deadLetters } = this;
    return lookupUser({ redis, keyspace, config, queues, deadLetters }, id, options);
  }

  /**
   * Sends the ledger's latest state of every user to one target (a service newly added, or one
   * restored empty): chunked, resumable (a run that died is continued unless `restart`), paced,
   * idempotent (see src/ops/backfill.ts). Resolves with the run's figures.
   */
  backfill(service: string, options: BackfillOptions = {}): Promise<BackfillResult> {
    const { redis, keyspace, config, queues, logger } = this;
    return runBackfill(
      { redis, keyspace, config, queues, logger, ...(this.options.now ? { now: this.options.now } : {}) },
      service,
      options,
    );
  }

  /** Closes the executors' connections, the queues, and the Redis connection if it opened it. */
  async close(): Promise<void> {
    await this.executors.close();
    await this.queues.close();
    if (this.ownsRedis) await this.redis.quit().catch(() => undefined);
  }
}
