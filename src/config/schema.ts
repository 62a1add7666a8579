/**
 * The configuration's shape: the defaults in one place and the zod schema that validates a
 * config object field by field. Cross-field rules (a kind's URL, secrets, duplicate services)
 * are in `parse.ts`; reading files and the environment in `load.ts`.
 */
import { z } from 'zod';
import { circuitBreakerSchema } from './breaker.js';
import { duration, positiveDuration } from './durations.js';
import { EVENT_TYPES, type EventType } from '../events.js';

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
  maxTimestampAhead: 86_400_000,
  maxResponseBytes: 65_536,
  maxStateResponseBytes: 8_388_608,
  shutdownTimeout: 10_000,
  lockDuration: 30_000,
  tombstoneTtl: 86_400_000,
  completedRetention: 3_600_000,
  failedRetention: 7 * 86_400_000,
  dedupeWindow: 7 * 86_400_000,
  deadLetterRetention: 30 * 86_400_000,
  partitions: 1,
  replicaAcks: 0,
  replicaAckTimeout: 2_000,
  maxDeadLetters: 10_000,
  keyTemplate: 'user:{id}',
  method: 'POST',
  dashboardHost: '127.0.0.1',
  dashboardPort: 3000,
  sweepChunkSize: 500,
  sweepMaxUsersPerRun: 100_000,
  sweepMaxRunTime: 120_000,
  sweepKeepRuns: 50,
  registryRefresh: 2_000,
} as const;

const SERVICE_RE = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Bounds of the response size limits, in bytes: at least 1 KiB (enough for an error's excerpt),
 * at most 16 MiB for a delivery's answer and 64 MiB for a state answer (a bulk answer of 10,000
 * ids, the largest batch, is well under 1 MiB): a worker holds up to one such answer per
 * delivery or state request in flight.
 */
export const RESPONSE_LIMIT_BOUNDS = {
  min: 1_024,
  maxResponseBytes: 16_777_216,
  maxStateResponseBytes: 67_108_864,
} as const;

const responseLimit = (max: number) => {
  const range = `must be a whole number of bytes from ${RESPONSE_LIMIT_BOUNDS.min} to ${max}`;
  return z
    .number({ error: range })
    .int(range)
    .min(RESPONSE_LIMIT_BOUNDS.min, `${range} (at least 1 KiB, to read an error answer's excerpt)`)
    .max(max, `${range} (at most ${max / 1_048_576} MiB)`);
};

/** A signing secret: `whsec_<base64>` (Standard Webhooks), or `env:NAME` to read it from the environment. */
const secret = z.string().min(1, 'must not be empty');

export const targetSchema = z.strictObject({
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
      /**
       * Secrets that sign state requests (`whsec_…` or `env:NAME`, several while rotating).
       * Default: one derived from each delivery secret (`stateSecret`), never a delivery secret.
       */
      secrets: z.array(secret).min(1, 'must list at least one secret, or be left out').optional(),
    })
    .refine((st) => (st.url === undefined) !== (st.bulkUrl === undefined), {
      message: 'needs exactly one of url (GET per user) or bulkUrl (POST of ids)',
    })
    .optional(),
  /**
   * HTTP targets: user data may go over plain `http://` to this non-loopback host (a private
   * network you vouch for) without the startup warning and `insecureTransport` flag. Default false.
   */
  allowInsecureHttp: z.boolean().optional(),
});

/** Dashboard roles: `viewer` reads; `operator` also retries, replays, purges, pauses, resumes, closes breakers and sweeps. */
export const DASHBOARD_ROLES = ['viewer', 'operator'] as const;
export type DashboardRole = (typeof DASHBOARD_ROLES)[number];

const required = (message: string) => (issue: { input?: unknown }) =>
  issue.input === undefined ? 'is required' : message;
const dashboardUsername = z.string({ error: required('must be a string') }).min(1, 'must not be empty');
const dashboardPassword = z
  .string({ error: required('must be a string') })
  .min(8, 'must be at least 8 characters');
const dashboardToken = z
  .string({ error: required('must be a string') })
  .min(16, 'must be at least 16 characters');
const dashboardRole = z.enum(DASHBOARD_ROLES, { error: required('must be "viewer" or "operator"') });

/**
 * Every Basic-auth user name is used once (`username` and `users[].username`), and every token
 * once (`token` and `tokens[].token`): otherwise one login would have two passwords or two roles.
 * The error names the field, never the secret.
 */
function uniqueDashboardLogins(
  d: {
    username?: string;
    token?: string;
    users?: Array<{ username: string }>;
    tokens?: Array<{ token: string }>;
  },
  ctx: z.RefinementCtx,
): void {
  const names = new Map<string, string>(d.username !== undefined ? [[d.username, 'dashboard.username']] : []);
  d.users?.forEach((u, i) => {
    const earlier = names.get(u.username);
    if (earlier !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['users', i, 'username'],
        message: `is already used by ${earlier}`,
      });
    else names.set(u.username, `dashboard.users[${i}]`);
  });
  const tokens = new Map<string, string>(d.token !== undefined ? [[d.token, 'dashboard.token']] : []);
  d.tokens?.forEach((t, i) => {
    const earlier = tokens.get(t.token);
    if (earlier !== undefined)
      ctx.addIssue({ code: 'custom', path: ['tokens', i, 'token'], message: `is the same as ${earlier}` });
    else tokens.set(t.token, `dashboard.tokens[${i}]`);
  });
}

export const configSchema = z.strictObject({
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
  /** How far in the future an event's timestamp may be; a later one is refused at publish. */
  maxTimestampAhead: positiveDuration.default(DEFAULTS.maxTimestampAhead),
  /**
   * The most bytes of a delivery's answer read: a 2xx is delivered whatever its size (the rest
   * is left unread), a larger error answer fails the attempt (`response_too_large`, retried).
   */
  maxResponseBytes: responseLimit(RESPONSE_LIMIT_BOUNDS.maxResponseBytes).default(DEFAULTS.maxResponseBytes),
  /** The most bytes of a state read's answer read; a larger one fails the read (`response_too_large`). */
  maxStateResponseBytes: responseLimit(RESPONSE_LIMIT_BOUNDS.maxStateResponseBytes).default(
    DEFAULTS.maxStateResponseBytes,
  ),
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
  /**
   * Slices of the users, each with its own hash tag (its own Redis Cluster slot): a user's
   * ledger entry, deliveries, watermarks and locks live in its partition. 1 keeps today's
   * layout. Changing it on a deployment that holds data is refused at start (see the README).
   */
  partitions: z.number().int().min(1).max(1024).default(DEFAULTS.partitions),
  /**
   * The partitions this process's workers deliver, e.g. "0-7,12" (default: all). Lets large
   * deployments split partitions across worker groups.
   */
  workerPartitions: z
    .string()
    .regex(
      /^\s*\d+(\s*-\s*\d+)?(\s*,\s*\d+(\s*-\s*\d+)?)*\s*$/,
      'must be partition numbers and ranges, e.g. "0-7,12"',
    )
    .optional(),
  /**
   * Replicas that must hold a publish's writes before it resolves (Redis WAIT). 0: resolve when
   * the master has them (a failover right after can lose them).
   */
  replicaAcks: z.number().int().min(0).max(16).default(DEFAULTS.replicaAcks),
  /** How long a publish waits for `replicaAcks` replicas before it fails (its writes stay). */
  replicaAckTimeout: positiveDuration.default(DEFAULTS.replicaAckTimeout),
  /**
   * Redis Cluster: some of its nodes, as `host:port` or `redis://` URLs (a list, or one string
   * separated by commas). When set, every connection goes through an ioredis Cluster and
   * `redisUrl` is not used.
   */
  redisClusterNodes: z
    .union([z.string().min(1), z.array(z.string().min(1)).min(1)], {
      error: 'must be a list of host:port or redis:// URLs',
    })
    .optional(),
  /** How long a dead letter is kept; older ones are trimmed (logged, counted, left for the sweep). */
  deadLetterRetention: positiveDuration.default(DEFAULTS.deadLetterRetention),
  /** Most dead letters kept per target (and failed jobs per target queue); the oldest beyond are trimmed. */
  maxDeadLetters: z.number().int().min(1).default(DEFAULTS.maxDeadLetters),
  /** How long a published event id is remembered, so that publishing it again creates nothing. */
  dedupeWindow: positiveDuration.default(DEFAULTS.dedupeWindow),
  /** Per target, deployment-wide: stop sending to a target that keeps failing (see src/breaker/). */
  circuitBreaker: circuitBreakerSchema,
  /**
   * A publisher with no targets of its own reads them from the deployment's registry in Redis:
   * it looks for a change (one round trip) at most this often.
   */
  registryRefresh: positiveDuration.default(DEFAULTS.registryRefresh),
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
      /** Basic auth: both or neither. An operator. */
      username: dashboardUsername.optional(),
      password: dashboardPassword.optional(),
      /** Bearer token (`authorization: Bearer <token>`), instead of or beside basic auth. An operator. */
      token: dashboardToken.optional(),
      /** More Basic-auth logins, each with its role. */
      users: z
        .array(
          z.strictObject({ username: dashboardUsername, password: dashboardPassword, role: dashboardRole }),
          { error: 'must be an array of { username, password, role }' },
        )
        .optional(),
      /** More bearer tokens, each with its role. */
      tokens: z
        .array(z.strictObject({ token: dashboardToken, role: dashboardRole }), {
          error: 'must be an array of { token, role }',
        })
        .optional(),
    })
    .refine((d) => (d.username === undefined) === (d.password === undefined), {
      message: 'username and password go together',
      path: ['password'],
    })
    .superRefine(uniqueDashboardLogins)
    .default({ host: DEFAULTS.dashboardHost, port: DEFAULTS.dashboardPort }),
});

export type ParsedTarget = z.output<typeof targetSchema>;
export type ParsedConfig = z.output<typeof configSchema>;

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
