import type { Worker } from 'bullmq';
import { settlesWithin } from '../deadline.js';

/** How long aborted jobs get to return before their worker is closed by force. */
const ABORT_GRACE_MS = 2_000;

/**
 * Closes a BullMQ worker within a bound (`worker.close()` alone waits for active jobs without
 * one): stops taking jobs, waits up to `timeoutMs` for active ones, then has them aborted
 * (`abortActive`; by default through the signals BullMQ gives processors that take one) and,
 * should a processor not return, closes by force after a short grace; that job is left to the
 * stalled check of another worker.
 */
export async function closeWorker(
  worker: Worker,
  timeoutMs: number,
  abortActive: () => void = () => worker.cancelAllJobs('shutdown'),
): Promise<void> {
  const closing = worker.close();
  if (await settlesWithin(closing, timeoutMs)) return;
  abortActive();
  if (await settlesWithin(closing, ABORT_GRACE_MS)) return;
  await worker.close(true);
}
