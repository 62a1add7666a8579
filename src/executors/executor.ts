import type { TargetConfig } from '../config/schema.js';
import type { DeliveryTask } from '../jobs/delivery-job.js';
import type { Logger } from '../logger.js';

/** What an executor gets besides the task and its target. */
export interface ExecutionContext {
  /** Child logger scoped to the task (task id, target, attempt). */
  logger: Logger;
  /** Aborted when the worker shuts down or the attempt must stop; pass it to I/O. */
  signal: AbortSignal;
  /** Clock in milliseconds since the epoch; injectable for tests. */
  now: () => number;
}

/** What an executor may report about a successful call. */
export interface DeliveryResult {
  /** HTTP status, for logs and stats. */
  status?: number;
  /** The target already held this version or a newer one; nothing was changed. */
  superseded?: boolean;
}

/** A value a target holds for a user whose version cannot be read as one: reported, never repaired blindly. */
export interface ForeignValue {
  /** What is wrong with it, for the report. */
  foreign: string;
}

/**
 * The version a target holds for each user: a number, null when it holds nothing (or a
 * tombstone), or a ForeignValue when what it holds has no readable version.
 */
export type TargetVersions = Map<string, number | null | ForeignValue>;

/**
 * Delivers tasks to one kind of target. Throw a DeliveryError to say whether a retry can help;
 * anything else thrown counts as retryable.
 */
export interface Executor {
  execute(task: DeliveryTask, target: TargetConfig, ctx: ExecutionContext): Promise<DeliveryResult | void>;
  /** Reports the versions a target holds, for the consistency sweep. Optional. */
  readState?(
    userIds: readonly string[],
    target: TargetConfig,
    ctx: ExecutionContext,
  ): Promise<TargetVersions>;
  /** Releases connections when the service stops. */
  close?(): Promise<void>;
}
