/**
 * The per-(target, user) delivery lock, held by one run of one job: taken by the start script
 * (DELIVERY_STEPS), renewed while the run goes on (like BullMQ's job lock), and released when
 * the run is done with the target — never earlier. After a worker dies it is gone about `ttlMs`
 * later. A worker's locks are renewed together, by one timer (UserLocks), not one per delivery.
 */
import { extendLock, releaseLock } from '../jobs/locks.js';
import type { Redis } from '../redis.js';

/** The user locks one worker holds, renewed every third of their ttl by one timer while any is held. */
export class UserLocks {
  private readonly held = new Set<UserLock>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly redis: Redis,
    readonly ttlMs: number,
  ) {}

  /** A lock the start script just took for this run. */
  hold(key: string, token: string): UserLock {
    const lock = new UserLock(this, key, token);
    this.held.add(lock);
    // Unref'd: renewing locks is no reason to keep a process alive (its worker is).
    this.timer ??= setInterval(() => this.renew(), Math.max(100, Math.floor(this.ttlMs / 3))).unref();
    return lock;
  }

  /** How many locks are held (and renewed) now. */
  get size(): number {
    return this.held.size;
  }

  /** Stops renewing a lock (released, or left to expire). */
  forget(lock: UserLock): void {
    this.held.delete(lock);
    if (this.held.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private renew(): void {
    for (const lock of this.held)
      void extendLock(this.redis, lock.key, lock.token, this.ttlMs).catch(() => undefined);
  }
}

export class UserLock {
  private released = false;

  constructor(
    private readonly locks: UserLocks,
    readonly key: string,
    readonly token: string,
  ) {}

  /** The lock was released by a script that ended the run (the end script): stop renewing it. */
  releasedByScript(): void {
    this.released = true;
    this.locks.forget(this);
  }

  /** Releases the lock now, if this run still holds it. */
  async release(): Promise<void> {
    if (this.released) return;
    this.releasedByScript();
    await releaseLock(this.locks.redis, this.key, this.token).catch(() => undefined);
  }

  /**
   * Releases the lock once `work` (a call to the target that was given up on: deadline passed,
   * shutdown) has really settled, so that no newer delivery of the user reaches the target
   * while it may still be applying an older one. Renewal stops now: should the call never
   * settle, the lock expires by itself after its TTL.
   */
  releaseAfter(work: Promise<unknown>): void {
    if (this.released) return;
    this.releasedByScript();
    const release = () => void releaseLock(this.locks.redis, this.key, this.token).catch(() => undefined);
    work.then(release, release);
  }
}
