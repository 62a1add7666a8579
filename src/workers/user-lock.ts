/**
 * The per-(target, user) delivery lock, held by one run of one job: taken by `beginDelivery`,
 * renewed while the run goes on (like BullMQ's job lock), and released when the run is done
 * with the target — never earlier. After a worker dies it is gone about `ttlMs` later.
 */
import { extendLock, releaseLock } from '../jobs/locks.js';
import type { Redis } from '../redis.js';

export class UserLock {
  private readonly renewal: NodeJS.Timeout;
  private released = false;

  constructor(
    private readonly redis: Redis,
    readonly key: string,
    readonly token: string,
    ttlMs: number,
  ) {
    this.renewal = setInterval(
      () => void extendLock(redis, key, token, ttlMs).catch(() => undefined),
      Math.max(100, Math.floor(ttlMs / 3)),
    );
  }

  /** The lock was released by a script that ended the run (finishDelivery): stop renewing it. */
  releasedByScript(): void {
    this.released = true;
    clearInterval(this.renewal);
  }

  /** Releases the lock now, if this run still holds it. */
  async release(): Promise<void> {
    if (this.released) return;
    this.releasedByScript();
    await releaseLock(this.redis, this.key, this.token).catch(() => undefined);
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
    const release = () => void releaseLock(this.redis, this.key, this.token).catch(() => undefined);
    work.then(release, release);
  }
}
