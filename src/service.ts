import type { SyncConfig, SyncConfigInput } from './config/schema.js';
import { partitionList } from './config/parse.js';
import { enabledTargets, insecureUrls } from './config/targets.js';
import { settlesWithin } from './deadline.js';
import { Deployment, type QueueStatus } from './deployment.js';
import { toError } from './errors.js';
import type { Executor } from './executors/executor.js';
import type { UserEventSubscriber } from './executors/handler.js';
import type { DeadLetterFilter, DeadLetterRecord, ListOptions, Progress } from './jobs/dead-letter.js';
import type { SyncStats } from './jobs/stats.js';
import type { Logger } from './logger.js';
import type { PublisherOptions, UserEventPublisher } from './producers/publisher.js';
import { redactUrl } from './redact.js';
import { workerConnection, type Redis } from './redis.js';
import { MaintenanceWorker, syncSweepScheduler } from './sweep/maintenance-worker.js';
import type { SweepOptions } from './sweep/run.js';
import type { SweepRun } from './sweep/classify.js';
import { DeliveryWorker, type DeliveryOutcome } from './workers/delivery-worker.js';
import { CircuitBreakers } from './breaker/breakers.js';
import { checkPartitions } from './jobs/meta.js';
import { Heartbeat, thisProcess } from './workers/heartbeat.js';
import { concurrencyShares, partitionRateLimit } from './workers/shares.js';

export type { QueueStatus } from './deployment.js';

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

/** A probe's lock outlives the target's deadline by this much before another delivery may probe. */
const PROBE_MARGIN_MS = 5_000;

/** How often dead letters of jobs BullMQ failed by itself are looked for. */
const RECONCILE_MS = 5 * 60_000;

/** What a running service has open, so that stop() — or a start() that failed — closes it all. */
interface Running {
  workerRedis: Redis;
  workers: DeliveryWorker[];
  /** This process's view of the targets' circuit breakers (shared by its workers). */
  breakers: CircuitBreakers;
  maintenance: MaintenanceWorker | undefined;
  heartbeat: Heartbeat | undefined;
  reconciler: NodeJS.Timeout | undefined;
  /** The reconciliation in progress, if any: stop() waits for it (bounded) before closing. */
  reconciling: Promise<void> | undefined;
  /** Set by stop(): a reconciliation in progress ends after its current target. */
  closing: boolean;
  signalHandler: (() => void) | undefined;
}

/**
 * Runs the delivery workers of every enabled target in this process (and the maintenance
 * worker of the sweep), and answers for the whole deployment by delegating to its
 * {@link Deployment}: stats, queue status and dead letters are read from Redis, so any process
 * reports the same figures.
 *
 * ```ts
 * const service = new UserSyncService(loadConfig(), new Redis(process.env.REDIS_URL));
 * await service.start();
 * ```
 */
export class UserSyncService {
  /** The deployment this service runs workers for: config, connection, queues, reads. */
  readonly deployment: Deployment;
  private running: Running | undefined;
  private stopping: Promise<void> | undefined;

  constructor(
    config: SyncConfig | SyncConfigInput,
    redis?: Redis | string,
    private readonly options: UserSyncServiceOptions = {},
  ) {
    this.deployment = new Deployment(config, redis, options);
  }

  get config(): SyncConfig {
    return this.deployment.config;
  }

  get logger(): Logger {
    return this.deployment.logger;
  }

  get isRunning(): boolean {
    return this.running !== undefined;
  }

  /** Registers an executor for a custom kind, for this service. Call before start(). */
  registerExecutor(kind: string, executor: Executor): this {
    this.deployment.executors.register(kind, executor);
    return this;
  }

  /** A publisher that shares this service's config and queues. */
  createPublisher(
    source: string,
    options: Omit<PublisherOptions, 'config' | 'keyspace'> = {},
  ): UserEventPublisher {
    return this.deployment.createPublisher(source, options);
  }

  /**
   * Starts a delivery worker per enabled target (and, with `consistencyCheck`, the maintenance
   * worker). Resolves when every worker is connected. A start that fails half way closes all it
   * opened and rejects: no worker is left taking jobs.
   */
  async start(): Promise<void> {
    if (this.running) return;
    if (this.stopping) await this.stopping;
    const { config, logger, executors } = this.deployment;
    if (!config.enabled) {
      // Producers reading the registry learn that publishing is off, too.
      await this.writeRegistry();
      logger.warn('user-sync is disabled (enabled: false): no workers started');
      return;
    }
    const targets = enabledTargets(config);
    this.warnInsecureTransport(targets);
    let run: Running | undefined;
    try {
      await checkPartitions(this.deployment.redis, this.deployment.keyspace);
      await this.writeRegistry();
      const chosen = targets.map((target) => executors.forTarget(target));
      run = this.openWorkers(targets.map((target, i) => ({ target, executor: chosen[i] as Executor })));
      await this.startWorkers(
        run,
        targets.map((t) => t.service),
      );
    } catch (error) {
      if (run) await this.closeRunning(run);
      await executors.close();
      throw error;
    }
    this.running = run;
    logger.info('user-sync started', {
      targets: targets.map((t) => t.service),
      concurrency: config.workers,
      ...(config.partitions > 1 ? { partitions: this.partitions().join(','), of: config.partitions } : {}),
    });
  }

  /**
   * Stops taking jobs and waits up to `shutdownTimeout` for active deliveries; those still
   * running then are released back to their queue, their attempt not counted.
   */
  async stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    const run = this.running;
    if (!run) return;
    this.stopping = (async () => {
      await this.closeRunning(run);
      await this.deployment.executors.close();
      this.running = undefined;
      this.deployment.logger.info('user-sync stopped');
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
    await this.deployment.close();
  }

  /** Counters since the deployment began, the same from every process. */
  getStats(): Promise<SyncStats> {
    return this.deployment.getStats();
  }

  /** Backlog, cap and live workers across every process. */
  async getQueueStatus(): Promise<QueueStatus> {
    return { ...(await this.deployment.getQueueStatus()), is_running: this.isRunning };
  }

  /** Dead letters, newest first. */
  listDeadLetters(options: ListOptions = {}): Promise<{ total: number; records: DeadLetterRecord[] }> {
    return this.deployment.listDeadLetters(options);
  }

  /** Replays dead letters (all, by target, by id); returns the ids replayed. */
  replayDeadLetters(filter: DeadLetterFilter = {}, onProgress?: Progress): Promise<string[]> {
    return this.deployment.replayDeadLetters(filter, onProgress);
  }

  /** Deletes dead letters (all, by target, by id); returns the ids purged. */
  purgeDeadLetters(filter: DeadLetterFilter = {}, onProgress?: Progress): Promise<string[]> {
    return this.deployment.purgeDeadLetters(filter, onProgress);
  }

  /** Runs one consistency sweep now; see {@link Deployment.runSweep}. */
  runSweep(options: SweepOptions = {}): Promise<SweepRun | undefined> {
    return this.deployment.runSweep(options);
  }

  /** The figures of the last sweeps, newest first. */
  getSweepRuns(limit = 20): Promise<SweepRun[]> {
    return this.deployment.getSweepRuns(limit);
  }

  /**
   * Writes the targets to the registry producers read (see Deployment.writeRegistry); a
   * process with no targets leaves the registry as it is.
   */
  private async writeRegistry(): Promise<void> {
    if (this.deployment.config.targets.length === 0) return;
    await this.deployment.writeRegistry('worker');
  }

  /**
   * One warning per target that sends user data over plain http to a host that is not loopback
   * (see `insecureUrls`), naming the target and its URLs (redacted), each time workers start.
   */
  private warnInsecureTransport(targets: readonly SyncConfig['targets'][number][]): void {
    for (const target of targets) {
      const urls = insecureUrls(target);
      if (urls.length === 0) continue;
      this.deployment.logger.warn(
        `target ${target.service} sends user data over plain http to a host that is not loopback: ` +
          'use https, or set allowInsecureHttp: true on the target if this network is private and trusted',
        { target: target.service, urls: urls.map(redactUrl) },
      );
    }
  }

  /** The partitions this process delivers: `workerPartitions`, or all. */
  private partitions(): number[] {
    const { workerPartitions, partitions } = this.deployment.config;
    return workerPartitions === undefined
      ? Array.from({ length: partitions }, (_, p) => p)
      : partitionList(workerPartitions, partitions);
  }

  /** Creates (does not start) the workers of this process on a connection of their own. */
  private openWorkers(chosen: Array<{ target: SyncConfig['targets'][number]; executor: Executor }>): Running {
    const d = this.deployment;
    const workerRedis = workerConnection(d.redis);
    const partitions = this.partitions();
    const shares = concurrencyShares(d.config.workers, partitions.length);
    const breakers = new CircuitBreakers({
      redis: d.redis,
      keys: d.keyspace.deployment,
      settings: d.config.circuitBreaker,
      targets: chosen.map(({ target }) => target.service),
      logger: d.logger,
      ...(this.options.now ? { now: this.options.now } : {}),
      probeTtlMs: (service) =>
        (chosen.find(({ target }) => target.service === service)?.target.timeoutMs ?? d.config.timeout) +
        PROBE_MARGIN_MS,
    });
    const workers = chosen.flatMap(({ target, executor }) =>
      partitions.map(
        (partition, i) =>
          new DeliveryWorker({
            target,
            config: d.config,
            executor,
            workerConnection: workerRedis,
            redis: d.redis,
            partition,
            keys: d.keyspace.partition(partition),
            concurrency: shares[i] as number,
            limiter: target.rateLimit && partitionRateLimit(target.rateLimit, d.keyspace.partitions),
            deadLetters: d.deadLetters,
            breakers,
            logger: d.logger,
            ...(this.options.onOutcome ? { onOutcome: this.options.onOutcome } : {}),
            ...(this.options.now ? { now: this.options.now } : {}),
          }),
      ),
    );
    const maintenance = d.config.consistencyCheck
      ? new MaintenanceWorker({
          connection: workerRedis,
          redis: d.redis,
          keys: d.keyspace.deployment,
          config: d.config,
          logger: d.logger,
          sweep: (options) => d.runSweep(options),
        })
      : undefined;
    return {
      workerRedis,
      workers,
      breakers,
      maintenance,
      heartbeat: undefined,
      reconciler: undefined,
      reconciling: undefined,
      closing: false,
      signalHandler: undefined,
    };
  }

  /** Starts the workers, the sweep's scheduler, the heartbeat and the reconciler. */
  private async startWorkers(run: Running, targets: string[]): Promise<void> {
    const d = this.deployment;
    await run.breakers.start();
    for (const worker of run.workers) worker.start();
    run.maintenance?.start();
    await syncSweepScheduler(d.queues, d.redis, d.keyspace.deployment, d.config, d.logger);
    await Promise.all(run.workers.map((w) => w.worker.waitUntilReady()));
    if (targets.length > 0) await d.redis.sadd(d.keyspace.deployment.targets, ...targets);
    run.heartbeat = new Heartbeat(d.redis, d.keyspace.deployment, thisProcess(d.config.workers), d.logger);
    await run.heartbeat.start();
    const reconcile = () => {
      run.reconciling ??= this.reconcile(run, targets).finally(() => (run.reconciling = undefined));
    };
    reconcile();
    run.reconciler = setInterval(reconcile, RECONCILE_MS);
    run.reconciler.unref();
    if (this.options.handleSignals) {
      run.signalHandler = () => {
        d.logger.info('signal received: stopping');
        void this.stop();
      };
      process.once('SIGTERM', run.signalHandler);
      process.once('SIGINT', run.signalHandler);
    }
  }

  /** Closes everything a run opened, in reverse: signals, timers, workers, heartbeat, connection. */
  private async closeRunning(run: Running): Promise<void> {
    if (run.signalHandler) {
      process.off('SIGTERM', run.signalHandler);
      process.off('SIGINT', run.signalHandler);
    }
    clearInterval(run.reconciler);
    run.closing = true;
    const timeout = this.deployment.config.shutdownTimeout;
    await Promise.all([
      ...run.workers.map((w) => w.close(timeout)),
      run.maintenance?.close(timeout),
      run.reconciling && settlesWithin(run.reconciling, timeout),
    ]);
    await run.breakers.stop();
    await run.heartbeat?.stop();
    await run.workerRedis.quit().catch(() => run.workerRedis.disconnect());
  }

  /** Records dead letters of jobs BullMQ failed by itself, and trims old ones (see DeadLetters.reconcile, trim). */
  private async reconcile(run: Running, targets: readonly string[]): Promise<void> {
    for (const target of targets) {
      try {
        for (const partition of this.partitions()) {
          if (run.closing) return;
          await this.deployment.deadLetters.reconcile(target, partition);
        }
        await this.deployment.deadLetters.trim(target);
      } catch (error) {
        this.deployment.logger.warn('dead-letter reconcile failed', {
          target,
          error: toError(error).message,
        });
      }
    }
  }
}
