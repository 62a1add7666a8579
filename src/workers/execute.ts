/** One call of an executor, under the target's deadline. */
import type { TargetConfig } from '../config/schema.js';
import { withDeadline } from '../deadline.js';
import { DeliveryError } from '../errors.js';
import type { DeliveryResult, ExecutionContext, Executor } from '../executors/executor.js';
import type { DeliveryTask } from '../jobs/delivery-job.js';
import type { Logger } from '../logger.js';
import type { UserLock } from './user-lock.js';

/** Thrown when an attempt is aborted because the worker shuts down: the job goes back, unspent. */
export class ShutdownRelease extends Error {}

export interface ExecuteArgs {
  executor: Executor;
  target: TargetConfig;
  task: DeliveryTask;
  /** The (target, user) lock held for this delivery. */
  lock: UserLock;
  logger: Logger;
  now: () => number;
  /** Whether the worker is shutting down (an abort then releases the job rather than failing it). */
  stopping: () => boolean;
  /** BullMQ's signal of the job (aborted at shutdown). */
  signal?: AbortSignal;
}

/**
 * Calls the executor under one deadline: at `target.timeoutMs` (or at shutdown) the attempt's
 * signal is aborted and the attempt fails; the user's lock is kept until the call has really
 * settled (or its TTL runs out), so an executor that ignores its signal can never let a newer
 * version overtake the one it may still be applying.
 */
export async function executeUnderDeadline(args: ExecuteArgs): Promise<DeliveryResult | void> {
  const { task, target, lock } = args;
  const ms = target.timeoutMs;
  const parent = args.logger;
  let logger: Logger | undefined;
  // Made when an executor first looks at the signal (a handler may never), or when it is aborted.
  let attempt: AbortController | undefined;
  const giveUp = () => (attempt ??= new AbortController()).abort();
  const ctx: ExecutionContext = {
    // Made when an executor first logs: most attempts never do.
    get logger() {
      return (logger ??= parent.child({ task_id: task.taskId, attempt: task.attempt }));
    },
    get signal() {
      return (attempt ??= new AbortController()).signal;
    },
    now: args.now,
  };
  const work = Promise.resolve().then(() => args.executor.execute(task, target, ctx));
  try {
    return await withDeadline(work, {
      ms,
      ...(args.signal ? { signal: args.signal } : {}),
      onTimeout: () => {
        giveUp();
        return new DeliveryError(`no answer within ${ms} ms`, { retryable: true, failureCode: 'timeout' });
      },
      onAbort: () => {
        giveUp();
        return args.stopping()
          ? new ShutdownRelease()
          : new DeliveryError('attempt aborted', { retryable: true, failureCode: 'aborted' });
      },
    });
  } finally {
    // Given up on while it may still run: the lock goes only once the call has settled.
    if (attempt?.signal.aborted) lock.releaseAfter(work);
  }
}
