/** Loading the configuration: defaults, a JSON file, overrides, then environment variables. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, toError } from '../errors.js';
import { redactText } from '../redact.js';
import { parseConfig } from './parse.js';
import type { SyncConfig, SyncConfigInput } from './schema.js';

/** Environment variables that override the file, with the field each sets. */
export const ENV_OVERRIDES: ReadonlyArray<{
  env: string;
  /** A top-level field, or `dashboard.<field>`. */
  field: keyof SyncConfigInput | `dashboard.${string}`;
  type: 'bool' | 'int' | 'string';
}> = [
  { env: 'REDIS_URL', field: 'redisUrl', type: 'string' },
  { env: 'REDIS_CLUSTER_NODES', field: 'redisClusterNodes', type: 'string' },
  { env: 'USER_SYNC_PARTITIONS', field: 'partitions', type: 'int' },
  { env: 'USER_SYNC_WORKER_PARTITIONS', field: 'workerPartitions', type: 'string' },
  { env: 'USER_SYNC_REPLICA_ACKS', field: 'replicaAcks', type: 'int' },
  { env: 'USER_SYNC_PREFIX', field: 'prefix', type: 'string' },
  { env: 'USER_SYNC_ENABLED', field: 'enabled', type: 'bool' },
  { env: 'USER_SYNC_WORKERS', field: 'workers', type: 'int' },
  { env: 'USER_SYNC_QUEUE_SIZE', field: 'queueSize', type: 'int' },
  { env: 'USER_SYNC_RETRY_INTERVAL', field: 'retryInterval', type: 'string' },
  { env: 'USER_SYNC_MAX_RETRIES', field: 'maxRetries', type: 'int' },
  { env: 'USER_SYNC_TIMEOUT', field: 'timeout', type: 'string' },
  { env: 'USER_SYNC_CONSISTENCY_CHECK', field: 'consistencyCheck', type: 'bool' },
  { env: 'USER_SYNC_CHECK_INTERVAL', field: 'checkInterval', type: 'string' },
  { env: 'USER_SYNC_AUTO_REPAIR', field: 'autoRepair', type: 'bool' },
  { env: 'USER_SYNC_DASHBOARD_HOST', field: 'dashboard.host', type: 'string' },
  { env: 'USER_SYNC_DASHBOARD_PORT', field: 'dashboard.port', type: 'int' },
  { env: 'USER_SYNC_DASHBOARD_USERNAME', field: 'dashboard.username', type: 'string' },
  { env: 'USER_SYNC_DASHBOARD_PASSWORD', field: 'dashboard.password', type: 'string' },
  { env: 'USER_SYNC_DASHBOARD_TOKEN', field: 'dashboard.token', type: 'string' },
];

function envValue(name: string, raw: string, type: 'bool' | 'int' | 'string'): unknown {
  if (type === 'string') return raw;
  if (type === 'bool') {
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    throw new ConfigError(
      name,
      `must be true or false, got ${JSON.stringify(redactText(raw))}`,
      'environment',
    );
  }
  if (!/^-?\d+$/.test(raw))
    throw new ConfigError(
      name,
      `must be a whole number, got ${JSON.stringify(redactText(raw))}`,
      'environment',
    );
  return Number(raw);
}

/**
 * A JSON.parse error without the piece of the source V8 quotes in some messages (`Unexpected
 * token 'x', ..."password=…" is not valid JSON`): it may be part of a secret, cut where no
 * redactor can recognise it. The position, when given, stays.
 */
function jsonErrorWithoutSource(error: Error): string {
  return error.message.replace(/, (?:\.\.\.)?".*"(?:\.\.\.)? is not valid JSON/s, ' (is not valid JSON)');
}

/** The config file used when none is named: `USER_SYNC_CONFIG`, else `user-sync.config.json` here. */
export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  return path.resolve(cwd, env.USER_SYNC_CONFIG ?? 'user-sync.config.json');
}

export interface LoadConfigOptions {
  /** JSON file to read. Default: `USER_SYNC_CONFIG` or `./user-sync.config.json`, if it exists. */
  file?: string;
  /** Fail when the file does not exist (default: only when `file` was named explicitly). */
  requireFile?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Values applied over the file and under the environment. */
  overrides?: Partial<SyncConfigInput>;
}

/**
 * Loads the configuration: defaults, then the JSON file, then `overrides`, then environment
 * variables (`REDIS_URL`, `USER_SYNC_*`). Synchronous, so constructors can use it.
 */
export function loadConfig(options: LoadConfigOptions = {}): SyncConfig {
  const env = options.env ?? process.env;
  const file = options.file ? path.resolve(options.file) : defaultConfigPath(env);
  const requireFile =
    options.requireFile ?? (options.file !== undefined || env.USER_SYNC_CONFIG !== undefined);
  let fromFile: Record<string, unknown> = {};
  let text: string | undefined;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || requireFile) {
      throw new ConfigError('(file)', `cannot read ${file}: ${(error as Error).message}`);
    }
  }
  if (text !== undefined) {
    try {
      const value: unknown = JSON.parse(text);
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new ConfigError('(root)', 'must be a JSON object', file);
      }
      fromFile = value as Record<string, unknown>;
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      throw new ConfigError('(file)', `is not valid JSON: ${jsonErrorWithoutSource(toError(error))}`, file);
    }
  }
  const merged: Record<string, unknown> = { ...fromFile };
  for (const [field, value] of Object.entries(options.overrides ?? {}))
    if (value !== undefined) merged[field] = value;
  const fromEnv = new Map<string, string>();
  for (const { env: name, field, type } of ENV_OVERRIDES) {
    const raw = env[name];
    if (raw !== undefined && raw !== '') {
      const [head, sub] = field.split('.') as [string, string | undefined];
      if (sub === undefined) merged[head] = envValue(name, raw, type);
      else {
        const current = merged[head];
        merged[head] = {
          ...(typeof current === 'object' && current !== null ? current : {}),
          [sub]: envValue(name, raw, type),
        };
      }
      fromEnv.set(field, name);
    }
  }
  try {
    return parseConfig(merged, { env, source: text !== undefined ? file : undefined });
  } catch (error) {
    // A bad value that came from the environment is the variable's fault, not the file's.
    const variable = error instanceof ConfigError ? fromEnv.get(error.field) : undefined;
    if (variable) throw new ConfigError(variable, (error as ConfigError).reason, 'environment');
    throw error;
  }
}
