/** What every benchmark shares: settings from the environment, one deadline, bounded cleanup, local servers. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A whole-number setting from the environment; a bad value stops the benchmark with a message. */
export function envInt(name: string, fallback: number, min = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min) {
    console.error(`${name} must be a whole number >= ${min}, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return value;
}

/** One deadline for the whole run; Ctrl-C stops the same way. */
export interface Deadline {
  /** Aborted when the deadline passes or on SIGINT; the reason says which. */
  signal: AbortSignal;
  /**
   * `promise`, or the abort reason if the deadline passes first. (Not a Promise.race with one
   * promise that never settles: that would keep every result raced against it alive, which
   * shows up in heap figures.)
   */
  bounded: <T>(promise: Promise<T>) => Promise<T>;
  /** Stops the timer once the run is over. */
  clear(): void;
}

export function startDeadline(timeoutMs: number): Deadline {
  const abort = new AbortController();
  const timer = setTimeout(
    () =>
      abort.abort(
        new Error(`benchmark aborted: not finished within ${timeoutMs / 1000} s (BENCH_TIMEOUT_MS)`),
      ),
    timeoutMs,
  );
  process.once('SIGINT', () => abort.abort(new Error('benchmark interrupted (SIGINT)')));
  const { signal } = abort;
  return {
    signal,
    bounded: <T>(promise: Promise<T>) => {
      if (signal.aborted) return Promise.reject(signal.reason as Error);
      return new Promise<T>((resolve, reject) => {
        const onAbort = () => reject(signal.reason as Error);
        signal.addEventListener('abort', onAbort, { once: true });
        promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
      });
    },
    clear: () => clearTimeout(timer),
  };
}

/** Waits at most `ms` for a cleanup step; cleanup must not hang the process either. */
export async function quietly(what: string, step: () => Promise<unknown>, ms = 30_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      step(),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('timed out')), ms))),
    ]);
  } catch (error) {
    console.error(`cleanup: ${what} failed: ${(error as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
}

/** Listens on 127.0.0.1 and a free port, keeping connections alive; `close` ends them all. */
export async function serveLocally(server: Server): Promise<{ origin: string; close: () => Promise<void> }> {
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
