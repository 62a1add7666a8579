/** What every CLI command shares: options, config loading, the Redis connection, argument parsers. */
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { clusterNodes } from '../config/parse.js';
import { type SyncConfig } from '../config/schema.js';
import { parseDuration } from '../duration.js';
import { findRedis } from '../embedded-redis.js';
import { toError } from '../errors.js';
import { createLogger, type Logger } from '../logger.js';
import { redactText, redactUrl } from '../redact.js';
import { withDeadline } from '../deadline.js';
import {
  DEFAULT_REDIS_URL,
  connectCluster,
  connectRedis,
  explainRedisError,
  type Cluster,
  type ClusterNodeAddress,
  type Redis,
} from '../redis.js';
import { Deployment } from '../deployment.js';

/** Options every command accepts, before or after its name. */
export interface CommonOptions {
  /** Config file; when left out, `USER_SYNC_CONFIG` or `./user-sync.config.json` (if it exists). */
  config?: string;
  /** Print stack traces with errors. */
  verbose?: boolean;
}

/** A mistake in how the command was called: reported as one line, exit code 1. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Where an embedded Redis keeps its data: `.redis/` in the working directory. */
export function embeddedDataDir(cwd = process.cwd()): string {
  return path.resolve(cwd, '.redis');
}

/** Adds `--config` and `--verbose` to a command, so they work after the command name too. */
export function withCommonOptions(command: Command): Command {
  return command
    .option(
      '-c, --config <file>',
      'config file (default: $USER_SYNC_CONFIG, else ./user-sync.config.json if it exists)',
    )
    .option('--verbose', 'print stack traces with errors');
}

/** The common options of the command that runs, merged with those given before its name. */
export function commonOptions(command: Command): CommonOptions {
  const all = command.optsWithGlobals<CommonOptions>();
  return {
    ...(all.config !== undefined ? { config: all.config } : {}),
    ...(all.verbose ? { verbose: true } : {}),
  };
}

/** The configuration: defaults, the file, then environment variables (`REDIS_URL`, `USER_SYNC_*`). */
export function loadCliConfig(options: CommonOptions): SyncConfig {
  return loadConfig(options.config !== undefined ? { file: options.config } : {});
}

/**
 * A logger for a command whose stdout is its result: warnings and errors only (on stderr),
 * unless `LOG_LEVEL` says otherwise.
 */
export function quietLogger(level = 'warn'): Logger {
  return createLogger({ level: process.env.LOG_LEVEL ?? level });
}

/**
 * Connects to `url` once, without reconnecting: for one-shot commands and to check a Redis
 * before starting workers on it. Fails fast, saying what to do, when it does not answer; the
 * error shows the URL redacted and the driver's reason with the URL's credentials masked.
 */
export async function connectOnce(
  url: string,
  hint = 'start Redis, set REDIS_URL or redisUrl in the config, or run `user-sync worker` here (it starts one)',
): Promise<Redis> {
  const redis = connectRedis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 2,
    connectTimeout: 5_000,
    retryStrategy: () => null,
  });
  // The 'error' event carries the cause (ECONNREFUSED, …); connect() only says the connection closed.
  let cause: Error | undefined;
  redis.on('error', (error: Error) => (cause ??= error));
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    redis.disconnect();
    const reason = redactText((cause ?? toError(error)).message, [url]);
    throw new Error(`cannot connect to Redis at ${redactUrl(url)} (${reason}): ${hint}`);
  }
  return redis;
}

/**
 * Connects to a Redis Cluster and checks it answers (PING through a node), failing with what to
 * do when no node does. `giveUpAfter`: reconnect attempts before a later outage fails commands
 * (one-shot commands); undefined keeps reconnecting (the dashboard).
 */
export async function connectClusterOnce(
  nodes: ClusterNodeAddress[],
  giveUpAfter?: number,
): Promise<Cluster> {
  const cluster = connectCluster(nodes, {
    lazyConnect: true,
    ...(giveUpAfter !== undefined ? { giveUpAfter } : {}),
  });
  let cause: Error | undefined;
  cluster.on('error', (error: Error) => (cause ??= error));
  const where = nodes.map((n) => `${n.host}:${n.port}`).join(',');
  try {
    await withDeadline(
      (async () => {
        await cluster.connect();
        await cluster.ping();
      })(),
      { ms: 10_000, onTimeout: () => new Error('no answer within 10 s') },
    );
  } catch (error) {
    cluster.disconnect();
    const reason = redactText(explainRedisError(cause ?? error) ?? (cause ?? toError(error)).message);
    throw new Error(
      `cannot connect to the Redis Cluster at ${where} (${reason}): check REDIS_CLUSTER_NODES or redisClusterNodes`,
    );
  }
  return cluster;
}

/** The environment variable naming the Redis probed when neither `REDIS_URL` nor `redisUrl` is set. */
export const LOCAL_REDIS_URL_ENV = 'USER_SYNC_LOCAL_REDIS_URL';

/**
 * The Redis the CLI looks for when neither `REDIS_URL` nor `redisUrl` names one:
 * `USER_SYNC_LOCAL_REDIS_URL`, default `redis://127.0.0.1:6379`. An embedded server started
 * because nothing answered there takes its port if it can. Throws a UsageError naming the
 * variable when it is not a `redis://` URL.
 */
export function localRedisUrl(env: NodeJS.ProcessEnv = process.env): string {
  const value = env[LOCAL_REDIS_URL_ENV]?.trim();
  if (!value) return DEFAULT_REDIS_URL;
  if (!/^redis:\/\/\S+$/.test(value) || !URL.canParse(value)) {
    throw new UsageError(
      `${LOCAL_REDIS_URL_ENV}: must be a redis:// URL such as redis://127.0.0.1:6379, got ${JSON.stringify(redactUrl(value))}`,
    );
  }
  return value;
}

/**
 * Connects to the Redis of the config for a one-shot command: the configured URL, else a Redis
 * at `USER_SYNC_LOCAL_REDIS_URL` (default 127.0.0.1:6379), else an embedded one a
 * `user-sync worker` started in `./.redis`.
 */
export async function connectCliRedis(
  config: SyncConfig,
  options: { longRunning?: boolean } = {},
): Promise<Redis> {
  if (config.redisClusterNodes !== undefined) {
    return connectClusterOnce(clusterNodes(config.redisClusterNodes), options.longRunning ? undefined : 3);
  }
  const probeUrl = localRedisUrl();
  const found = await findRedis({ url: config.redisUrl, dataDir: embeddedDataDir(), probeUrl });
  return connectOnce(found?.url ?? probeUrl);
}

/**
 * Runs `work` with the deployment the config names, without starting workers: stats, queue
 * status, dead letters, sweeps and publishing. Closes it and the connection afterwards.
 */
export async function withDeployment<T>(
  options: CommonOptions,
  work: (deployment: Deployment) => Promise<T>,
): Promise<T> {
  const config = loadCliConfig(options);
  const redis = await connectCliRedis(config);
  const deployment = new Deployment(config, redis, { logger: quietLogger() });
  try {
    return await work(deployment);
  } finally {
    await deployment.close().catch(() => undefined);
    await redis.quit().catch(() => redis.disconnect());
  }
}

/** Commander parser of a whole number within bounds. */
export function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError('must be a whole number.');
    const n = Number(value);
    if (n < min || n > max) {
      throw new InvalidArgumentError(
        max === Number.MAX_SAFE_INTEGER ? `must be at least ${min}.` : `must be from ${min} to ${max}.`,
      );
    }
    return n;
  };
}

/** Commander parser of a positive number (rates, seconds). */
export function positiveNumber(value: string): number {
  const n = Number(value);
  if (!value.trim() || !Number.isFinite(n) || n <= 0) {
    throw new InvalidArgumentError('must be a number greater than 0.');
  }
  return n;
}

/** Parses a JSON object given on the command line; `option` names it in the error. */
export function parseJsonObject(option: string, text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${option}: is not valid JSON (${toError(error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UsageError(`${option}: must be a JSON object, like '{"id":1,"email":"a@example.com"}'`);
  }
  return value as Record<string, unknown>;
}

/**
 * Parses `--since`: an ISO-8601 date, or a duration back from `now` such as `30m`, `1h`, `2d`.
 */
export function parseSince(text: string, now = Date.now()): Date {
  const ms = parseDuration(text);
  if (ms !== undefined && !/^\d+$/.test(text.trim())) return new Date(now - ms);
  if (/^\d{4}-\d{2}-\d{2}/.test(text.trim())) {
    const at = Date.parse(text);
    if (!Number.isNaN(at)) return new Date(at);
  }
  throw new UsageError(
    `--since: must be an ISO date (2025-01-31T12:00:00Z) or a duration like 1h, got "${text}"`,
  );
}
