/** One call of an executor, under the target's deadline. */
import type { TargetConfig } from '../config/schema.js';
import { DeliveryError } from '../errors.js';
import type { DeliveryResult, ExecutionContext, Executor } from '../executors/executor.js';
import type { DeliveryTask } from '../jobs/delivery-job.js';
import type { Logger } from '../logger.js';
import type { Attempts } from './attempts.js';
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
  /** The worker's attempts under way: the deadline (the target's `timeoutMs`) and shutdown. */
  attempts: Attempts;
}

/**
 * Calls the executor under one deadline: at `target.timeoutMs` the attempt's signal is aborted
 * and the attempt fails (at shutdown, aborted too, it is released: ShutdownRelease); the user's
 * lock is kept until the call has really settled (or its TTL runs out), so an executor that
 * ignores its signal can never let a newer version overtake the one it may still be applying.
 */
export async function executeUnderDeadline(args: ExecuteArgs): Promise<DeliveryResult | void> {
  const { task, target, lock } = args;
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
    return await args.attempts.run(work, (why) => {
      giveUp();
      if (why === 'shutdown') return new ShutdownRelease();
      return new DeliveryError(`no answer within ${args.attempts.ms} ms`, {
        retryable: true,
        failureCode: 'timeout',
      });
    });
  } finally {
    // Given up on while it may still run: the lock goes only once the call has settled.
    if (attempt?.signal.aborted) lock.releaseAfter(work);
  }
}
