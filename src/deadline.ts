/** Bounding work in time: the one helper behind every timeout user-sync enforces itself. */

export interface DeadlineOptions {
  /** Milliseconds the work may take. */
  ms: number;
  /** The error the deadline rejects with. */
  onTimeout: () => Error;
  /** Also stop waiting when this aborts. */
  signal?: AbortSignal;
  /** The error an abort rejects with (default: the signal's reason). */
  onAbort?: () => Error;
}

/**
 * Waits for `work` for at most `options.ms` (and no longer than `options.signal` stays
 * unaborted), then rejects. The work itself is not stopped: a caller that must know when it
 * has really settled keeps its own handle on the promise.
 */
export async function withDeadline<T>(work: Promise<T>, options: DeadlineOptions): Promise<T> {
  const { ms, onTimeout, signal, onAbort } = options;
  let timer: NodeJS.Timeout | undefined;
  let abort: (() => void) | undefined;
  const stop = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
    if (signal) {
      abort = () => reject(onAbort ? onAbort() : toReason(signal.reason));
      if (signal.aborted) abort();
      else signal.addEventListener('abort', abort, { once: true });
    }
  });
  try {
    return await Promise.race([work, stop]);
  } finally {
    clearTimeout(timer);
    if (abort) signal?.removeEventListener('abort', abort);
  }
}

/** Whether `work` settles within `ms`; its outcome is not looked at. */
export async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  const settled = work.then(
    () => true,
    () => true,
  );
  try {
    return await withDeadline(settled, { ms, onTimeout: () => new Error('deadline') });
  } catch {
    return false;
  }
}

function toReason(reason: unknown): Error {
  if (reason instanceof Error) return reason;
  return new Error(typeof reason === 'string' ? reason : 'aborted');
}
