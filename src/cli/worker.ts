/** `user-sync worker`: runs the delivery workers until SIGTERM or SIGINT. */
import { ensureRedis } from '../embedded-redis.js';
import { partitionList } from '../config/parse.js';
import { ConfigError, toError } from '../errors.js';
import { createLogger } from '../logger.js';
import { UserSyncService } from '../service.js';
import {
  connectCliRedis,
  connectOnce,
  embeddedDataDir,
  loadCliConfig,
  localRedisUrl,
  type CommonOptions,
} from './common.js';
import { onShutdownSignal } from './signals.js';

/** Options of `user-sync worker`. */
export interface WorkerCommandOptions extends CommonOptions {
  /** Concurrent deliveries per target queue; overrides `workers` from the config and environment. */
  concurrency?: number;
  /** The partitions to deliver, e.g. "0-7"; overrides `workerPartitions`. */
  partitions?: string;
}

/**
 * Starts the workers of every enabled target and resolves once they have stopped: the first
 * SIGTERM or SIGINT stops taking jobs, waits for active deliveries (`shutdownTimeout`), closes
 * the connections and stops an embedded Redis; a second signal exits at once with code 1.
 */
export async function runWorker(options: WorkerCommandOptions): Promise<void> {
  const logger = createLogger();
  let config = loadCliConfig(options);
  if (options.concurrency !== undefined) config = { ...config, workers: options.concurrency };
  if (options.partitions !== undefined) {
    partitionList(options.partitions, config.partitions, '--partitions');
    config = { ...config, workerPartitions: options.partitions };
  }
  const probeUrl = localRedisUrl();
  if (config.enabled && !config.targets.some((t) => t.enabled)) {
    throw new ConfigError('targets', 'has no enabled target: a worker would have nothing to deliver');
  }

  let signalled: (signal: NodeJS.Signals) => void = () => undefined;
  const stopRequested = new Promise<NodeJS.Signals>((resolve) => (signalled = resolve));
  const removeSignals = onShutdownSignal(
    (signal) => signalled(signal),
    (signal) => logger.warn(`${signal} received again: exiting now`),
  );

  let service: UserSyncService | undefined;
  let keepAlive: NodeJS.Timeout | undefined;
  // On a Redis Cluster nothing is started here: the service connects to the nodes it is given.
  const cluster = config.redisClusterNodes !== undefined;
  const redis = cluster
    ? { url: undefined, stop: async () => undefined }
    : await ensureRedis({ url: config.redisUrl, dataDir: embeddedDataDir(), probeUrl, logger });
  try {
    if (cluster) await (await connectCliRedis(config)).quit();
    else
      await (
        await connectOnce(redis.url as string, 'is it running? Check REDIS_URL or redisUrl in the config')
      ).quit();
    service = new UserSyncService(config, redis.url, { logger, handleSignals: false });
    await service.start();
    // Workers keep the process alive; this keeps a disabled one (enabled: false) waiting too.
    keepAlive = setInterval(() => undefined, 60_000);
    logger.info('worker running: send SIGTERM or press Ctrl-C to stop', { pid: process.pid });
    const signal = await stopRequested;
    logger.info(`${signal} received: shutting down (send it again to force)`);
  } finally {
    clearInterval(keepAlive);
    try {
      await service?.close();
    } catch (error) {
      logger.error('shutdown failed', { error: toError(error).message });
    }
    await redis.stop();
    removeSignals();
  }
  logger.info('worker stopped');
}
