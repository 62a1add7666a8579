import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { parseDuration } from './duration.js';
import { ConfigError } from './errors.js';
import { EVENT_TYPES, type EventType } from './events.js';

/** Target kinds built in; any other kind must be registered with `registerExecutor`. */
export const BUILTIN_KINDS = ['http', 'redis', 'handler'] as const;

/**
 * The defaults, in one place. Field names follow the Go package's `SyncConfig` (durations in
 * milliseconds here; strings such as "5s" are accepted on input). Its default values were not
 * part of the contract handed to us; these are ours, documented in the README.
 */
export const DEFAULTS = {
  enabled: true,
  workers: 5,
  queueSize: 10_000,
  retryInterval: 5_000,
  maxRetries: 3,
  timeout: 30_000,
  consistencyCheck: false,
  checkInterval: 300_000,
  autoRepair: false,
  prefix: '{user-sync}',
  maxRetryInterval: 600_000,
  retryAfterMax: 3_600_000,
  maxSnapshotBytes: 65_536,
  shutdownTimeout: 10_000,
  lockDuration: 30_000,
  tombstoneTtl: 86_400_000,
  completedRetention: 3_600_000,
  failedRetention: 7 * 86_400_000,
  dedupeWindow: 7 * 86_400_000,
  keyTemplate: 'user:{id}',
  method: 'POST',
  dashboardHost: '127.0.0.1',
  dashboardPort: 3000,
  sweepChunkSize: 500,
  sweepMaxUsersPerRun: 100_000,
  sweepMaxRunTime: 120_000,
  sweepKeepRuns: 50,
} as const;

const SERVICE_RE = /^[A-Za-z0-9_-]{1,64}$/;

const duration = (what = 'a duration') =>
  z
    .union([z.number(), z.string()], {
      error: (issue) =>
        issue.input === undefined
          ? 'is required'
          : `must be ${what}: milliseconds or a string like "5s", "2m"`,
    })
    .transform((value, ctx) => {
      const ms = parseDuration(value);
      if (ms === undefined) {
        ctx.addIssue({
          code: 'custom',
          message: `must be ${what}: milliseconds or a string like "5s", "2m"`,
        });
        return z.NEVER;
      }
      return ms;
    });

const positiveDuration = duration('a positive duration').refine((ms) => ms > 0, 'must be greater than 0');

/** A signing secret: `whsec_<base64>` (Standard Webhooks), or `env:NAME` to read it from the environment. */
const secret = z.string().min(1, 'must not be empty');

const targetSchema = z.strictObject({
  /** Unique id of the target; names its queue and appears in task ids. */
  service: z.string().regex(SERVICE_RE, 'must be 1-64 letters, digits, "_" or "-"'),
  /** `http`, `redis`, `handler` or a registered custom kind; inferred from `url` when left out. */
  kind: z
    .string()
    .regex(/^[a-z][a-z0-9_-]{0,31}$/, 'must be a lowercase kind name')
    .optional(),
  url: z.string().optional(),
  method: z.enum(['POST', 'PUT', 'PATCH']).default(DEFAULTS.method),
  enabled: z.boolean().default(true),
  /** Only these event types are delivered to the target; all when left out. */
  events: z
    .array(z.enum(EVENT_TYPES as [EventType, ...EventType[]]))
    .min(1, 'must list at least one event type, or be left out for all')
    .optional(),
  /** Per-request timeout; defaults to the top-level `timeout`. */
  timeoutMs: positiveDuration.optional(),
  headers: z
    .record(
      z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'header names must be HTTP tokens'),
      // eslint-disable-next-line no-control-regex -- a header value must not carry CR, LF or NUL
      z.string().regex(/^[^\r\n\u0000]*$/, 'header values must not contain CR, LF or NUL'),
    )
    .default({}),
  secrets: z.array(secret).default([]),
  /** At most `max` deliveries per `duration` to this target, across all workers. */
  rateLimit: z.strictObject({ max: z.number().int().positive(), duration: positiveDuration }).optional(),
  /** Send the ledger's latest snapshot instead of the event's own (default: on for http and redis). */
  coalesce: z.boolean().optional(),
  /** Redis targets: key per user, `{id}` is replaced by the user id. */
  keyTemplate: z.string().includes('{id}', { message: 'must contain "{id}"' }).optional(),
  /**
   * HTTP targets: how the consistency sweep reads the versions the target holds. `url`: GET per
   * user (`{id}` replaced), answering 200 `{ "version": n }` or 404; `bulkUrl`: POST
   * `{ "ids": [...] }` answering `{ "versions": { "<id>": n | null } }`. Without it the sweep
   * counts the target as unchecked.
   */
  state: z
    .strictObject({
      url: z.string().includes('{id}', { message: 'must contain "{id}"' }).optional(),
      bulkUrl: z.string().optional(),
      /** Ids per bulk request (default 500). */
      batchSize: z.number().int().min(1).max(10_000).default(500),
      /** Concurrent single-user requests (default 16). */
      concurrency: z.number().int().min(1).max(256).default(16),
    })
    .refine((st) => (st.url === undefined) !== (st.bulkUrl === undefined), {
      message: 'needs exactly one of url (GET per user) or bulkUrl (POST of ids)',
    })
    .optional(),
});

const configSchema = z.strictObject({
  enabled: z.boolean().default(DEFAULTS.enabled),
  /** Concurrent deliveries per target queue in each worker process. */
  workers: z.number().int().min(1).max(1000).default(DEFAULTS.workers),
  /** Backlog cap per target queue; publishing beyond it is refused. */
  queueSize: z.number().int().min(1).default(DEFAULTS.queueSize),
  /** Base delay of the exponential backoff. */
  retryInterval: positiveDuration.default(DEFAULTS.retryInterval),
  /** Retries after the first attempt before a delivery is dead-lettered. */
  maxRetries: z.number().int().min(0).max(100).default(DEFAULTS.maxRetries),
  /** Default per-request timeout of a delivery. */
  timeout: positiveDuration.default(DEFAULTS.timeout),
  consistencyCheck: z.boolean().default(DEFAULTS.consistencyCheck),
  checkInterval: positiveDuration.default(DEFAULTS.checkInterval),
  autoRepair: z.boolean().default(DEFAULTS.autoRepair),
  targets: z.array(targetSchema).default([]),
  /** Redis of the queues and the ledger (the `REDIS_URL` environment variable overrides). */
  redisUrl: z
    .string()
    .refine(
      (url) => /^rediss?:\/\/[^\s]+$/.test(url) && URL.canParse(url),
      'must be a redis:// or rediss:// URL',
    )
    .optional(),
  /** Key prefix of every key user-sync writes; keep the `{…}` hash tag for Redis Cluster. */
  prefix: z
    .string()
    .regex(/^[^:\s]{1,64}$/, 'must be 1-64 characters without ":" or spaces')
    .default(DEFAULTS.prefix),
  /** Cap of the exponential backoff. */
  maxRetryInterval: positiveDuration.default(DEFAULTS.maxRetryInterval),
  /** Longest `Retry-After` honoured; longer ones are cut to this. */
  retryAfterMax: positiveDuration.default(DEFAULTS.retryAfterMax),
  /** Largest user snapshot accepted, in bytes of JSON. */
  maxSnapshotBytes: z.number().int().min(256).default(DEFAULTS.maxSnapshotBytes),
  /** How long stop() waits for active deliveries before releasing them back to the queue. */
  shutdownTimeout: positiveDuration.default(DEFAULTS.shutdownTimeout),
  /**
   * How long a delivery's lock lasts without renewal (renewed while the worker lives). Jobs of a
   * worker that died are handed to another worker after about this long.
   */
  lockDuration: positiveDuration.default(DEFAULTS.lockDuration),
  /** How long a Redis target keeps a deleted user's tombstone. */
  tombstoneTtl: positiveDuration.default(DEFAULTS.tombstoneTtl),
  /** How long delivered jobs stay visible in the queues. */
  completedRetention: duration().default(DEFAULTS.completedRetention),
  /** How long dead deliveries' original jobs stay in their target queue (the dead-letter record stays until replayed or purged). */
  failedRetention: duration().default(DEFAULTS.failedRetention),
  /** How long a published event id is remembered, so that publishing it again creates nothing. */
  dedupeWindow: positiveDuration.default(DEFAULTS.dedupeWindow),
  /** The consistency sweep (runs every `checkInterval` while `consistencyCheck` is on). */
  sweep: z
    .strictObject({
      /** Users read and compared at a time. */
      chunkSize: z.number().int().min(1).max(10_000).default(DEFAULTS.sweepChunkSize),
      /** A run stops after this many users; the next run goes on from its cursor. */
      maxUsersPerRun: z.number().int().min(1).default(DEFAULTS.sweepMaxUsersPerRun),
      /** A run stops after this long; the next run goes on from its cursor. */
      maxRunTime: positiveDuration.default(DEFAULTS.sweepMaxRunTime),
      /** How many runs' figures are kept. */
      keepRuns: z.number().int().min(1).max(1_000).default(DEFAULTS.sweepKeepRuns),
    })
    .default({
      chunkSize: DEFAULTS.sweepChunkSize,
      maxUsersPerRun: DEFAULTS.sweepMaxUsersPerRun,
      maxRunTime: DEFAULTS.sweepMaxRunTime,
      keepRuns: DEFAULTS.sweepKeepRuns,
    }),
  /** The dashboard process (`user-sync dashboard`). */
  dashboard: z
    .strictObject({
      host: z.string().min(1).default(DEFAULTS.dashboardHost),
      port: z.number().int().min(0).max(65_535).default(DEFAULTS.dashboardPort),
      /** Basic auth: both or neither. */
      username: z.string().min(1).optional(),
      password: z.string().min(8, 'must be at least 8 characters').optional(),
      /** Bearer token (`authorization: Bearer <token>`), instead of or beside basic auth. */
      token: z.string().min(16, 'must be at least 16 characters').optional(),
    })
    .refine((d) => (d.username === undefined) === (d.password === undefined), {
      message: 'username and password go together',
      path: ['password'],
    })
    .default({ host: DEFAULTS.dashboardHost, port: DEFAULTS.dashboardPort }),
});

type ParsedTarget = z.output<typeof targetSchema>;
type ParsedConfig = z.output<typeof configSchema>;

/** A target after validation: kind settled, secrets resolved, timeouts and coalescing filled in. */
export interface TargetConfig extends Omit<ParsedTarget, 'kind' | 'timeoutMs' | 'coalesce' | 'keyTemplate'> {
  kind: string;
  timeoutMs: number;
  coalesce: boolean;
  keyTemplate: string;
}

/** The validated configuration. Durations are milliseconds. */
export interface SyncConfig extends Omit<ParsedConfig, 'targets'> {
  targets: TargetConfig[];
}

/** What a config file or object may hold before validation: durations as numbers or strings. */
export type SyncConfigInput = z.input<typeof configSchema>;
export type TargetConfigInput = z.input<typeof targetSchema>;

function formatPath(segments: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out ? `.${String(segment)}` : String(segment);
  }
  return out || '(root)';
}

function inferKind(target: ParsedTarget, index: number): string {
  if (target.kind) return target.kind;
  const url = target.url ?? '';
  if (/^rediss?:\/\//i.test(url)) return 'redis';
  if (/^https?:\/\//i.test(url)) return 'http';
  throw new ConfigError(
    `targets[${index}].kind`,
    'is required when url is not an http(s):// or redis:// URL (http, redis, handler or a registered kind)',
  );
}

function resolveSecret(value: string, field: string, env: NodeJS.ProcessEnv): string {
  let resolved = value;
  if (value.startsWith('env:')) {
    const name = value.slice(4);
    const fromEnv = env[name];
    if (!fromEnv) throw new ConfigError(field, `environment variable ${name} is not set`);
    resolved = fromEnv;
  }
  if (!resolved.startsWith('whsec_'))
    throw new ConfigError(field, 'must start with "whsec_" (Standard Webhooks)');
  const key = resolved.slice(6);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(key) || Buffer.from(key, 'base64').length < 16) {
    throw new ConfigError(field, 'must be "whsec_" followed by base64 of at least 16 bytes');
  }
  return resolved;
}

function finishTarget(target: ParsedTarget, index: number, config: ParsedConfig, env: NodeJS.ProcessEnv) {
  const kind = inferKind(target, index);
  const field = (name: string) => `targets[${index}].${name}`;
  if (kind === 'http' || kind === 'redis') {
    if (!target.url) throw new ConfigError(field('url'), `is required for a ${kind} target`);
    let url: URL;
    try {
      url = new URL(target.url);
    } catch {
      throw new ConfigError(field('url'), `is not a valid URL: ${JSON.stringify(target.url)}`);
    }
    const protocols = kind === 'http' ? ['http:', 'https:'] : ['redis:', 'rediss:'];
    if (!protocols.includes(url.protocol)) {
      throw new ConfigError(field('url'), `must use ${protocols.join(' or ')} for a ${kind} target`);
    }
  }
  if (target.state !== undefined) {
    if (kind !== 'http')
      throw new ConfigError(field('state'), `is for http targets; a ${kind} target cannot use it`);
    for (const key of ['url', 'bulkUrl'] as const) {
      const value = target.state[key];
      if (value === undefined) continue;
      let parsed: URL | undefined;
      try {
        parsed = new URL(value.replaceAll('{id}', 'id'));
      } catch {
        parsed = undefined;
      }
      if (!parsed || !['http:', 'https:'].includes(parsed.protocol)) {
        throw new ConfigError(field(`state.${key}`), 'must be an http:// or https:// URL');
      }
    }
  }
  for (const name of Object.keys(target.headers)) {
    if (/^(webhook-|idempotency-key$|content-type$|content-length$|host$)/i.test(name)) {
      throw new ConfigError(field(`headers.${name}`), 'is set by user-sync and cannot be overridden');
    }
  }
  const result: TargetConfig = {
    ...target,
    kind,
    secrets: target.secrets.map((s, i) => resolveSecret(s, field(`secrets[${i}]`), env)),
    timeoutMs: target.timeoutMs ?? config.timeout,
    coalesce: target.coalesce ?? (kind === 'http' || kind === 'redis'),
    keyTemplate: target.keyTemplate ?? DEFAULTS.keyTemplate,
  };
  return result;
}

/**
 * Validates a configuration object (from a file, or built in code) and fills in defaults.
 * Throws a ConfigError naming the first bad field and the reason.
 */
export function parseConfig(
  input: unknown,
  options: { env?: NodeJS.ProcessEnv; source?: string } = {},
): SyncConfig {
  const env = options.env ?? process.env;
  const parsed = configSchema.safeParse(input ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    if (!issue) throw new ConfigError('(root)', 'is invalid', options.source);
    let reason = issue.message;
    if (issue.code === 'unrecognized_keys') {
      const keys = (issue as { keys?: string[] }).keys ?? [];
      const at = formatPath(issue.path);
      throw new ConfigError(
        at === '(root)' ? keys.join(', ') : `${at}.${keys.join(', ')}`,
        'is not a known field',
        options.source,
      );
    }
    if (issue.code === 'invalid_type' && /received undefined/.test(reason)) reason = 'is required';
    throw new ConfigError(formatPath(issue.path), reason, options.source);
  }
  const config = parsed.data;
  try {
    const targets = config.targets.map((t, i) => finishTarget(t, i, config, env));
    const seen = new Map<string, number>();
    targets.forEach((t, i) => {
      const earlier = seen.get(t.service);
      if (earlier !== undefined) {
        throw new ConfigError(
          `targets[${i}].service`,
          `"${t.service}" is already used by targets[${earlier}]`,
        );
      }
      seen.set(t.service, i);
    });
    return { ...config, targets };
  } catch (error) {
    if (error instanceof ConfigError && options.source)
      throw new ConfigError(error.field, error.reason, options.source);
    throw error;
  }
}

/** Environment variables that override the file, with the field each sets. */
export const ENV_OVERRIDES: ReadonlyArray<{
  env: string;
  /** A top-level field, or `dashboard.<field>`. */
  field: keyof SyncConfigInput | `dashboard.${string}`;
  type: 'bool' | 'int' | 'string';
}> = [
  { env: 'REDIS_URL', field: 'redisUrl', type: 'string' },
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
    throw new ConfigError(name, `must be true or false, got ${JSON.stringify(raw)}`, 'environment');
  }
  if (!/^-?\d+$/.test(raw))
    throw new ConfigError(name, `must be a whole number, got ${JSON.stringify(raw)}`, 'environment');
  return Number(raw);
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
      throw new ConfigError('(file)', `is not valid JSON: ${(error as Error).message}`, file);
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
