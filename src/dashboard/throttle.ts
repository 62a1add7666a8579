/**
 * Login throttling: failed logins from one address are slowed, then refused for a while.
 *
 * Per remote address, failures are counted within a window that starts at the first failure.
 * From `delayAfterFailures` failures on, every further attempt from that address (right or
 * wrong) first waits a delay that doubles per failure, up to `delayMaxMs`; at
 * `lockoutAfterFailures` the address is locked out for `lockoutMs`: its attempts are answered
 * 429 without their credentials being looked at. A successful login resets its address. Other
 * addresses are not affected. Memory is bounded: at most `maxTrackedAddresses` addresses are
 * remembered, the least recently failed one forgotten first.
 *
 * The state is this process's own: each dashboard process throttles the attempts it receives.
 */

/** Failures are counted within this long of an address's first failure (15 minutes). */
export const LOGIN_WINDOW_MS = 15 * 60_000;
/** From this many failures in the window, each attempt from the address waits first. */
export const LOGIN_DELAY_AFTER_FAILURES = 5;
/** At this many failures in the window, the address is locked out. */
export const LOGIN_LOCKOUT_AFTER_FAILURES = 10;
/** How long a lockout lasts (15 minutes). */
export const LOGIN_LOCKOUT_MS = 15 * 60_000;
/** The first delay; it doubles with each further failure. */
export const LOGIN_DELAY_BASE_MS = 250;
/** The longest delay. */
export const LOGIN_DELAY_MAX_MS = 2_000;
/** Addresses remembered at most; beyond, the least recently failed one is forgotten. */
export const LOGIN_TRACKED_ADDRESSES_MAX = 10_000;

/** Settings of a LoginThrottle; every one defaults to the constant of the same meaning above. */
export interface LoginThrottleOptions {
  /** Default `LOGIN_WINDOW_MS` (15 min). */
  windowMs?: number;
  /** Default `LOGIN_DELAY_AFTER_FAILURES` (5). */
  delayAfterFailures?: number;
  /** Default `LOGIN_LOCKOUT_AFTER_FAILURES` (10). */
  lockoutAfterFailures?: number;
  /** Default `LOGIN_LOCKOUT_MS` (15 min). */
  lockoutMs?: number;
  /** Default `LOGIN_DELAY_BASE_MS` (250 ms). */
  delayBaseMs?: number;
  /** Default `LOGIN_DELAY_MAX_MS` (2 s). */
  delayMaxMs?: number;
  /** Default `LOGIN_TRACKED_ADDRESSES_MAX` (10,000). */
  maxTrackedAddresses?: number;
  /** Clock (ms). Default `Date.now`. */
  now?: () => number;
  /** How a delay is waited. Default: a timer. */
  sleep?: (ms: number) => Promise<void>;
}

/** What an address may do before its credentials are checked. */
export type LoginGate = { locked: true; retryAfterMs: number } | { locked: false; delayMs: number };

/** What a failed attempt led to. */
export interface LoginFailure {
  /** Failures of the address in the current window, this one included. */
  failures: number;
  /** Set when this failure locked the address out: for how long. */
  lockedForMs?: number;
}

interface AddressState {
  failures: number;
  firstFailureAt: number;
  lockedUntil: number;
}

const wait = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class LoginThrottle {
  private readonly settings: Required<Omit<LoginThrottleOptions, 'now' | 'sleep'>>;
  private readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  /** In order of last change, oldest first (a Map keeps insertion order). */
  private readonly addresses = new Map<string, AddressState>();
  private failureCount = 0;
  private lockoutCount = 0;

  constructor(options: LoginThrottleOptions = {}) {
    this.settings = {
      windowMs: options.windowMs ?? LOGIN_WINDOW_MS,
      delayAfterFailures: options.delayAfterFailures ?? LOGIN_DELAY_AFTER_FAILURES,
      lockoutAfterFailures: options.lockoutAfterFailures ?? LOGIN_LOCKOUT_AFTER_FAILURES,
      lockoutMs: options.lockoutMs ?? LOGIN_LOCKOUT_MS,
      delayBaseMs: options.delayBaseMs ?? LOGIN_DELAY_BASE_MS,
      delayMaxMs: options.delayMaxMs ?? LOGIN_DELAY_MAX_MS,
      maxTrackedAddresses: options.maxTrackedAddresses ?? LOGIN_TRACKED_ADDRESSES_MAX,
    };
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? wait;
  }

  /** Failed credential checks since this throttle was made (this process). */
  get failures(): number {
    return this.failureCount;
  }

  /** Lockouts since this throttle was made (this process). */
  get lockouts(): number {
    return this.lockoutCount;
  }

  /** Addresses remembered now. */
  get tracked(): number {
    return this.addresses.size;
  }

  /** The state of an address, forgetting it once its window and any lockout are over. */
  private current(address: string): AddressState | undefined {
    const state = this.addresses.get(address);
    if (!state) return undefined;
    const now = this.now();
    const locked = state.lockedUntil > now;
    if (!locked && (state.lockedUntil > 0 || now - state.firstFailureAt >= this.settings.windowMs)) {
      this.addresses.delete(address);
      return undefined;
    }
    return state;
  }

  /** Before looking at an attempt's credentials: locked out (for how long), or the delay to wait first. */
  gate(address: string): LoginGate {
    const state = this.current(address);
    if (!state) return { locked: false, delayMs: 0 };
    if (state.lockedUntil > 0) return { locked: true, retryAfterMs: state.lockedUntil - this.now() };
    const { delayAfterFailures, delayBaseMs, delayMaxMs } = this.settings;
    if (state.failures < delayAfterFailures) return { locked: false, delayMs: 0 };
    const steps = Math.min(state.failures - delayAfterFailures, 30);
    return { locked: false, delayMs: Math.min(delayMaxMs, delayBaseMs * 2 ** steps) };
  }

  /** Records a failed attempt; locks the address out when it reaches `lockoutAfterFailures`. */
  fail(address: string): LoginFailure {
    this.failureCount++;
    const now = this.now();
    const state = this.current(address) ?? { failures: 0, firstFailureAt: now, lockedUntil: 0 };
    state.failures++;
    // Re-inserted, so that the Map's first entry is always the least recently failed address.
    this.addresses.delete(address);
    this.addresses.set(address, state);
    while (this.addresses.size > this.settings.maxTrackedAddresses) {
      const oldest = this.addresses.keys().next().value as string;
      this.addresses.delete(oldest);
    }
    if (state.lockedUntil === 0 && state.failures >= this.settings.lockoutAfterFailures) {
      state.lockedUntil = now + this.settings.lockoutMs;
      this.lockoutCount++;
      return { failures: state.failures, lockedForMs: this.settings.lockoutMs };
    }
    return { failures: state.failures };
  }

  /** Records a successful login: the address starts over. */
  succeed(address: string): void {
    this.addresses.delete(address);
  }
}
