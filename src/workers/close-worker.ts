import type { Worker } from 'bullmq';

/** How long aborted jobs get to return before their worker is closed by force. */
const ABORT_GRACE_MS = 2_000;

function within(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.then(() => true),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Closes a BullMQ worker within a bound (`worker.close()` alone waits for active jobs without
 * one): stops taking jobs, waits up to `timeoutMs` for active ones, then aborts them through
 * their signal (`onTimeout` is told first) and, should a processor ignore its signal, closes
 * by force after a short grace; that job is left to the stalled check of another worker.
 */
export async function closeWorker(worker: Worker, timeoutMs: number, onTimeout?: () => void): Promise<void> {
  const closing = worker.close();
  if (await within(closing, timeoutMs)) return;
  onTimeout?.();
  worker.cancelAllJobs('shutdown');
  if (await within(closing, ABORT_GRACE_MS)) return;
  await worker.close(true);
}
