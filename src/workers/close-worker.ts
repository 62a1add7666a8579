import type { Worker } from 'bullmq';
import { settlesWithin } from '../deadline.js';

/** How long aborted jobs get to return before their worker is closed by force. */
const ABORT_GRACE_MS = 2_000;

/**
 * Closes a BullMQ worker within a bound (`worker.close()` alone waits for active jobs without
 * one): stops taking jobs, waits up to `timeoutMs` for active ones, then aborts them through
 * their signal (`onTimeout` is told first) and, should a processor ignore its signal, closes
 * by force after a short grace; that job is left to the stalled check of another worker.
 */
export async function closeWorker(worker: Worker, timeoutMs: number, onTimeout?: () => void): Promise<void> {
  const closing = worker.close();
  if (await settlesWithin(closing, timeoutMs)) return;
  onTimeout?.();
  worker.cancelAllJobs('shutdown');
  if (await settlesWithin(closing, ABORT_GRACE_MS)) return;
  await worker.close(true);
}
