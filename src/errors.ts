/**
 * The small catalogue of errors user-sync throws. Each has a stable `code`; validation errors
 * name the field, delivery errors say whether a retry can help.
 */
import { redactText } from './redact.js';

export type ErrorCode =
  | 'USER_SYNC_ERR_CONFIG'
  | 'USER_SYNC_ERR_VALIDATION'
  | 'USER_SYNC_ERR_QUEUE_FULL'
  | 'USER_SYNC_ERR_DELIVERY'
  | 'USER_SYNC_ERR_NOT_FOUND'
  | 'USER_SYNC_ERR_REDIS'
  | 'USER_SYNC_ERR_REPLICATION';

export class UserSyncError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * A configuration value is missing or wrong. `field` is a dotted path such as `targets[1].url`.
 * The reason goes through `redactText`: a value it echoes never shows the credentials of a URL.
 */
export class ConfigError extends UserSyncError {
  readonly field: string;
  readonly reason: string;
  constructor(field: string, reason: string, source?: string) {
    const redacted = redactText(reason);
    super('USER_SYNC_ERR_CONFIG', `invalid config${source ? ` (${source})` : ''}: ${field}: ${redacted}`);
    this.field = field;
    this.reason = redacted;
  }
}

/** Published input was rejected; nothing was enqueued. */
export class ValidationError extends UserSyncError {
  readonly field: string;
  readonly reason: string;
  constructor(field: string, reason: string) {
    super('USER_SYNC_ERR_VALIDATION', `invalid event: ${field}: ${reason}`);
    this.field = field;
    this.reason = reason;
  }
}

/** A target's backlog is at `queueSize`; the publish was refused and nothing was enqueued. */
export class QueueFullError extends UserSyncError {
  /** The target whose queue is full (its `service` name in the config). */
  readonly service: string;
  readonly backlog: number;
  readonly cap: number;
  constructor(target: string, backlog: number, cap: number) {
    super(
      'USER_SYNC_ERR_QUEUE_FULL',
      `queue full: target "${target}" has ${backlog} deliveries waiting (queueSize ${cap}); ` +
        'publish refused — start more workers, check the target, or raise queueSize',
    );
    this.service = target;
    this.backlog = backlog;
    this.cap = cap;
  }
}

export interface DeliveryErrorDetails {
  /** Whether another attempt may succeed. */
  retryable: boolean;
  /** HTTP status (or an executor-specific code) of the last answer, if there was one. */
  status?: number;
  /** A capped excerpt of the response body, for the dead-letter record. */
  excerpt?: string;
  /** The target asked to wait this long before the next attempt (already bounded). */
  retryAfterMs?: number;
  /**
   * Short machine-readable failure code: `http_503`, `timeout`, `connection`, `malformed`, …
   * It becomes the `code` of the dead letter (whose `reason` says why it died:
   * `non_retryable`, `retries_exhausted`, …).
   */
  failureCode?: string;
  /** @deprecated The former name of `failureCode`; still read when `failureCode` is not given. */
  reason?: string;
  cause?: unknown;
}

/** A delivery attempt failed. Executors throw this to say whether a retry can help. */
export class DeliveryError extends UserSyncError {
  readonly retryable: boolean;
  readonly status: number | undefined;
  readonly excerpt: string | undefined;
  readonly retryAfterMs: number | undefined;
  /** Short machine-readable failure code; the dead letter's `code`. */
  readonly failureCode: string;
  constructor(message: string, details: DeliveryErrorDetails) {
    super('USER_SYNC_ERR_DELIVERY', message, { cause: details.cause });
    this.retryable = details.retryable;
    this.status = details.status;
    this.excerpt = details.excerpt;
    this.retryAfterMs = details.retryAfterMs;
    this.failureCode =
      details.failureCode ?? details.reason ?? (details.retryable ? 'retryable' : 'permanent');
  }

  /** @deprecated The former name of `failureCode`. */
  get reason(): string {
    return this.failureCode;
  }
}

/**
 * A publish was written on the master but fewer replicas than `replicaAcks` confirmed it within
 * `replicaAckTimeout`: a failover now could lose it. Publishing the same event id again is safe
 * (it is a duplicate once enqueued) and waits again.
 */
export class ReplicationError extends UserSyncError {
  readonly eventId: string;
  readonly acked: number;
  readonly wanted: number;
  constructor(eventId: string, acked: number, wanted: number, timeoutMs: number) {
    super(
      'USER_SYNC_ERR_REPLICATION',
      `event ${eventId} was written, but ${acked} of the ${wanted} replicas asked for (replicaAcks) confirmed it ` +
        `within ${timeoutMs} ms: it could be lost if its master fails now. Publishing the same event id again ` +
        'is safe and waits again; check the replicas (INFO replication) if this keeps happening',
    );
    this.eventId = eventId;
    this.acked = acked;
    this.wanted = wanted;
  }
}

/**
 * A Redis key user-sync reads holds something it did not write (another program's value, a
 * hand edit, a bug): it is left as it is and nothing is decided from it.
 */
export class ForeignValueError extends UserSyncError {
  readonly key: string;
  /** @param advice - what to do about it (default: the ledger's: look, then delete or restore). */
  constructor(key: string, what: string, advice = FOREIGN_ADVICE) {
    super('USER_SYNC_ERR_REDIS', `${key} holds ${what}, not what user-sync writes there: ${advice}`);
    this.key = key;
  }
}

const FOREIGN_ADVICE =
  'refused, so that no version is decided from it — look at the key (redis-cli GET / TYPE), and delete it ' +
  'to start the user over, or restore it';

/**
 * The first problem a schema found (zod's `error.issues[0]`): where, as a dotted path ('' for the
 * value itself), and what. For one-line reasons that name the field.
 */
export function firstIssue(error: {
  issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>;
}): {
  path: string;
  message: string;
} {
  const issue = error.issues[0];
  return { path: issue ? issue.path.map(String).join('.') : '', message: issue?.message ?? 'invalid' };
}

/** The one way to turn anything caught into an Error. */
export function toError(value: unknown): Error {
  if (value instanceof Error) return value;
  if (typeof value === 'string') return new Error(value);
  try {
    return new Error(JSON.stringify(value) ?? String(value));
  } catch {
    return new Error(String(value));
  }
}
