import { toError } from '../errors.js';

/**
 * The attempts one delivery worker has under way, each bounded by its target's deadline. Every
 * attempt of a worker has the same deadline (`timeoutMs`: a worker delivers to one target), so
 * they expire in the order they started: one timer per worker, armed for the oldest attempt,
 * serves them all — not a timer, a raced promise and an abort signal per attempt. At shutdown
 * the worker gives up on all of them at once.
 */

/**
 * The longest delay a Node timer takes (a longer one fires after 1 ms). A deadline further off
 * (a config may say "30d") is waited for in steps of at most this.
 */
const MAX_TIMER_MS = 2_147_483_647;

interface Attempt {
  /** When it expires (performance.now()). */
  expires: number;
  /** Gives up on it: rejects its wait with the error for `why`. */
  end: (why: 'timeout' | 'shutdown') => void;
}

export class Attempts {
  /** Attempts under way, oldest first (a Set keeps insertion order). */
  private readonly running = new Set<Attempt>();
  private timer: NodeJS.Timeout | undefined;
  /** Set by abortAll: attempts that start afterwards are given up on at once. */
  private aborted = false;

  /** @param ms the deadline of every attempt, in milliseconds (> 0). */
  constructor(readonly ms: number) {
    if (!(ms > 0) || !Number.isFinite(ms)) throw new RangeError(`ms must be a number > 0, got ${ms}`);
  }

  /** How many attempts are under way. */
  get size(): number {
    return this.running.size;
  }

  /**
   * Waits for `work` for at most `ms`, or until {@link abortAll} (at once if it was called
   * before): then rejects with `fail(why)`'s error. `fail` is called at most once, and only when
   * the wait is given up on; the work itself is not stopped (a caller that must know when it has
   * really settled keeps its own handle on it).
   */
  run<T>(work: Promise<T>, fail: (why: 'timeout' | 'shutdown') => Error): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const attempt: Attempt = {
        expires: performance.now() + this.ms,
        end: (why) => {
          try {
            reject(fail(why));
          } catch (error) {
            reject(toError(error));
          }
        },
      };
      if (this.aborted) return attempt.end('shutdown');
      this.running.add(attempt);
      this.timer ??= setTimeout(() => this.expire(), Math.min(this.ms, MAX_TIMER_MS));
      const settle = () => {
        this.running.delete(attempt);
        if (this.running.size === 0 && this.timer) {
          clearTimeout(this.timer);
          this.timer = undefined;
        }
      };
      work.then(
        (value) => {
          settle();
          resolve(value);
        },
        (error: unknown) => {
          settle();
          // What the executor threw, as an Error (the worker reads it so anyway: toError).
          reject(toError(error));
        },
      );
    });
  }

  /**
   * Gives up on every attempt under way, and on every one that starts later (shutdown): each
   * rejects with its `fail('shutdown')`.
   */
  abortAll(): void {
    this.aborted = true;
    const all = [...this.running];
    this.running.clear();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const attempt of all) attempt.end('shutdown');
  }

  /** The timer: ends the attempts past their deadline, and waits for the next oldest. */
  private expire(): void {
    this.timer = undefined;
    const now = performance.now();
    for (const attempt of this.running) {
      if (attempt.expires > now) {
        const wait = Math.min(Math.ceil(attempt.expires - now), MAX_TIMER_MS);
        this.timer = setTimeout(() => this.expire(), wait);
        return;
      }
      this.running.delete(attempt);
      attempt.end('timeout');
    }
  }
}
