/**
 * The circuit breakers of one worker process: what it knows of every target's breaker (read
 * from Redis every second, and from each report's answer), whether a delivery may go, and its
 * attempts, reported in batches.
 *
 * The healthy path costs no round trip per delivery: a closed breaker is known from the last
 * poll; successes are reported once a second; a failure is reported at once (it may open the
 * breaker). An open breaker sends nothing until its `retryAt`; then exactly one delivery across
 * the deployment gets to be the probe (a script hands the token out once).
 */
import { randomUUID } from 'node:crypto';
import type { CircuitBreakerConfig } from '../config/breaker.js';
import { toError } from '../errors.js';
import {
  BREAKER_FIELDS,
  askToProbe,
  breakerRecord,
  reportAttempts,
  type BreakerRecord,
} from '../jobs/breaker-scripts.js';
import type { DeploymentKeys } from '../jobs/names.js';
import type { Logger } from '../logger.js';
import type { Redis } from '../redis.js';

/** What a delivery may do now. */
export type Admission =
  /** Send (the breaker is closed). */
  | { kind: 'send' }
  /** Send as the probe of a half-open breaker: report the outcome with this token. */
  | { kind: 'probe'; token: string }
  /** Do not send: wait this long, without spending an attempt. */
  | { kind: 'wait'; ms: number };

/** How often each process reads every breaker, and the longest it batches successes. */
export const BREAKER_POLL_MS = 1_000;

/**
 * The longest a held delivery waits before it looks again: an operator, or a probe in another
 * process, may close the breaker long before the cool-down ends.
 */
export const HOLD_MAX_MS = 2_000;

interface Pending {
  ok: number;
  failed: number;
  trailing: number;
  code: string;
}

export interface CircuitBreakersOptions {
  redis: Redis;
  keys: DeploymentKeys;
  settings: CircuitBreakerConfig;
  targets: readonly string[];
  logger: Logger;
  now?: () => number;
  /** How long a probe may take before another delivery may probe (the target's deadline and some). */
  probeTtlMs: (target: string) => number;
}

export class CircuitBreakers {
  private readonly known = new Map<string, BreakerRecord>();
  private readonly pending = new Map<string, Pending>();
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;

  constructor(private readonly options: CircuitBreakersOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Reads every breaker now, then every second; flushes batched reports on the same beat. */
  async start(): Promise<void> {
    if (!this.options.settings.enabled) return;
    await this.poll();
    this.timer = setInterval(() => {
      void this.flush()
        .then(() => this.poll())
        .catch((error: unknown) =>
          this.options.logger.warn('circuit breaker poll failed', { error: toError(error).message }),
        );
    }, BREAKER_POLL_MS);
    this.timer.unref();
  }

  /** Stops polling; reports what is left. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.flush().catch(() => undefined);
  }

  /** What this process knows of a target's breaker. */
  stateOf(target: string): BreakerRecord {
    return (
      this.known.get(target) ?? { state: 'closed', since: undefined, reason: undefined, retryAt: undefined }
    );
  }

  /** May a delivery to `target` go now? No round trip while the breaker is closed. */
  async admit(target: string): Promise<Admission> {
    if (!this.options.settings.enabled) return { kind: 'send' };
    const known = this.stateOf(target);
    if (known.state === 'closed') return { kind: 'send' };
    const now = this.now();
    if (known.state === 'open' && known.retryAt !== undefined && now < known.retryAt)
      return { kind: 'wait', ms: Math.min(known.retryAt - now, HOLD_MAX_MS) };
    const token = randomUUID();
    const answer = await askToProbe(this.options.redis, this.options.keys.breaker(target), {
      now,
      token,
      ttlMs: this.options.probeTtlMs(target),
    });
    if (answer.kind === 'send') {
      this.known.set(target, { ...known, state: 'closed' });
      return answer;
    }
    if (answer.kind === 'wait') return { kind: 'wait', ms: Math.min(answer.ms, HOLD_MAX_MS) };
    this.transition(target, { ...known, state: 'half-open', since: now }, 'probing');
    return { kind: 'probe', token };
  }

  /**
   * An attempt's outcome: `ok` when the target answered (delivered, or refused for good — it is
   * up), not ok when it failed in a way a retry may fix (down, timing out, 5xx, 429). A probe's
   * outcome is reported at once, and so is a failure; successes wait for the next beat. Never
   * throws: when Redis cannot be reached the report is logged and dropped.
   */
  async report(target: string, ok: boolean, code = '', probe?: string): Promise<BreakerRecord> {
    if (!this.options.settings.enabled) return this.stateOf(target);
    try {
      if (probe !== undefined) {
        return await this.send(
          target,
          { ok: ok ? 1 : 0, failed: ok ? 0 : 1, trailing: ok ? 0 : 1, code },
          probe,
        );
      }
      const p = this.pending.get(target) ?? { ok: 0, failed: 0, trailing: 0, code: '' };
      if (ok) {
        p.ok += 1;
        p.trailing = 0;
      } else {
        p.failed += 1;
        p.trailing += 1;
        p.code = code;
      }
      this.pending.set(target, p);
      if (!ok) await this.flush();
    } catch (error) {
      // The breaker is advice: a delivery's outcome never turns on whether it could be counted.
      this.options.logger.warn('circuit breaker report failed', { target, error: toError(error).message });
    }
    return this.stateOf(target);
  }

  /** Sends every batched report (one at a time: a report waits for the one in flight). */
  private async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.pending.size === 0) return;
    const batch = [...this.pending];
    this.pending.clear();
    this.flushing = (async () => {
      for (const [target, p] of batch) await this.send(target, p);
    })().finally(() => (this.flushing = undefined));
    await this.flushing;
  }

  private async send(target: string, p: Pending, probe?: string): Promise<BreakerRecord> {
    const { record, transitioned } = await reportAttempts(
      this.options.redis,
      this.options.keys.breaker(target),
      { now: this.now(), ...p, probe },
      this.options.settings,
    );
    if (transitioned) this.transition(target, record, record.reason ?? '');
    else this.known.set(target, record);
    return record;
  }

  /** One log line per transition, in the process that made it. */
  private transition(target: string, record: BreakerRecord, why: string): void {
    const before = this.stateOf(target).state;
    this.known.set(target, record);
    const level = record.state === 'open' ? 'warn' : 'info';
    this.options.logger.log(level, `circuit breaker ${record.state}`, {
      target,
      from: before,
      to: record.state,
      reason: why,
      ...(record.retryAt !== undefined && record.state === 'open'
        ? { retry_at: new Date(record.retryAt).toISOString() }
        : {}),
    });
  }

  private async poll(): Promise<void> {
    const { redis, keys, targets } = this.options;
    for (const [target, record] of await readBreakers(redis, keys, targets)) this.known.set(target, record);
  }
}

/** Every target's breaker, read in one round trip (the dashboard, the CLI, metrics). */
export async function readBreakers(
  redis: Redis,
  keys: DeploymentKeys,
  targets: readonly string[],
): Promise<Map<string, BreakerRecord>> {
  const pipeline = redis.pipeline();
  for (const target of targets) pipeline.hmget(keys.breaker(target), ...BREAKER_FIELDS);
  const replies = (await pipeline.exec()) ?? [];
  const out = new Map<string, BreakerRecord>();
  targets.forEach((target, i) => {
    const [error, fields] = replies[i] ?? [null, []];
    if (error) throw error;
    out.set(target, breakerRecord((fields ?? []) as unknown[]));
  });
  return out;
}
