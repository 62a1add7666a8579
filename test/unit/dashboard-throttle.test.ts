import { describe, expect, it } from '@jest/globals';
import {
  LOGIN_DELAY_AFTER_FAILURES,
  LOGIN_DELAY_MAX_MS,
  LOGIN_LOCKOUT_AFTER_FAILURES,
  LOGIN_LOCKOUT_MS,
  LOGIN_TRACKED_ADDRESSES_MAX,
  LOGIN_WINDOW_MS,
  LoginThrottle,
} from '../../src/dashboard/throttle.js';

/** A clock the test moves. */
function clock(start = 1_700_000_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

describe('LoginThrottle', () => {
  it('uses the documented numbers by default', () => {
    expect({
      LOGIN_WINDOW_MS,
      LOGIN_DELAY_AFTER_FAILURES,
      LOGIN_LOCKOUT_AFTER_FAILURES,
      LOGIN_LOCKOUT_MS,
      LOGIN_DELAY_MAX_MS,
      LOGIN_TRACKED_ADDRESSES_MAX,
    }).toEqual({
      LOGIN_WINDOW_MS: 15 * 60_000,
      LOGIN_DELAY_AFTER_FAILURES: 5,
      LOGIN_LOCKOUT_AFTER_FAILURES: 10,
      LOGIN_LOCKOUT_MS: 15 * 60_000,
      LOGIN_DELAY_MAX_MS: 2_000,
      LOGIN_TRACKED_ADDRESSES_MAX: 10_000,
    });
  });

  it('lets 5 failures through at once, then delays each attempt more, up to 2 s, then locks out at 10', () => {
    const c = clock();
    const throttle = new LoginThrottle({ now: c.now });
    const delays: number[] = [];
    for (let i = 1; i <= 9; i++) {
      const gate = throttle.gate('10.0.0.1');
      expect(gate.locked).toBe(false);
      delays.push(gate.locked ? -1 : gate.delayMs);
      expect(throttle.fail('10.0.0.1')).toEqual({ failures: i });
    }
    expect(delays).toEqual([0, 0, 0, 0, 0, 250, 500, 1000, 2000]);
    expect(throttle.gate('10.0.0.1')).toEqual({ locked: false, delayMs: 2000 });
    expect(throttle.fail('10.0.0.1')).toEqual({ failures: 10, lockedForMs: LOGIN_LOCKOUT_MS });
    expect(throttle.gate('10.0.0.1')).toEqual({ locked: true, retryAfterMs: LOGIN_LOCKOUT_MS });
    c.advance(60_000);
    expect(throttle.gate('10.0.0.1')).toEqual({ locked: true, retryAfterMs: LOGIN_LOCKOUT_MS - 60_000 });
    // Another address is not affected.
    expect(throttle.gate('10.0.0.2')).toEqual({ locked: false, delayMs: 0 });
    expect({ failures: throttle.failures, lockouts: throttle.lockouts }).toEqual({
      failures: 10,
      lockouts: 1,
    });
  });

  it('ends a lockout after 15 minutes, the address starting over', () => {
    const c = clock();
    const throttle = new LoginThrottle({ now: c.now });
    for (let i = 0; i < 10; i++) throttle.fail('a');
    c.advance(LOGIN_LOCKOUT_MS - 1);
    expect(throttle.gate('a').locked).toBe(true);
    c.advance(1);
    expect(throttle.gate('a')).toEqual({ locked: false, delayMs: 0 });
    expect(throttle.fail('a')).toEqual({ failures: 1 });
  });

  it('counts failures within 15 minutes of the first', () => {
    const c = clock();
    const throttle = new LoginThrottle({ now: c.now });
    for (let i = 0; i < 9; i++) throttle.fail('a');
    c.advance(LOGIN_WINDOW_MS);
    expect(throttle.gate('a')).toEqual({ locked: false, delayMs: 0 });
    expect(throttle.fail('a')).toEqual({ failures: 1 });
  });

  it('starts an address over after a success', () => {
    const throttle = new LoginThrottle({ now: clock().now });
    for (let i = 0; i < 9; i++) throttle.fail('a');
    throttle.succeed('a');
    expect(throttle.gate('a')).toEqual({ locked: false, delayMs: 0 });
    expect(throttle.fail('a')).toEqual({ failures: 1 });
    expect(throttle.failures).toBe(10);
  });

  it('remembers at most maxTrackedAddresses, forgetting the least recently failed first', () => {
    const throttle = new LoginThrottle({ now: clock().now, maxTrackedAddresses: 3, lockoutAfterFailures: 2 });
    throttle.fail('a');
    throttle.fail('b');
    throttle.fail('c');
    throttle.fail('a'); // a locked out, and now the most recent
    throttle.fail('d'); // b goes
    expect(throttle.tracked).toBe(3);
    expect(throttle.gate('a').locked).toBe(true);
    expect(throttle.fail('b')).toEqual({ failures: 1 });
    expect(throttle.tracked).toBe(3);
    for (let i = 0; i < 10_000; i++) throttle.fail(`10.1.${i >> 8}.${i & 255}`);
    expect(throttle.tracked).toBe(3);
  });

  it('takes its numbers from options', () => {
    const throttle = new LoginThrottle({
      now: clock().now,
      delayAfterFailures: 1,
      delayBaseMs: 10,
      delayMaxMs: 25,
      lockoutAfterFailures: 4,
      lockoutMs: 1_000,
    });
    const delays = [0, 1, 2].map(() => {
      throttle.fail('a');
      const gate = throttle.gate('a');
      return gate.locked ? -1 : gate.delayMs;
    });
    expect(delays).toEqual([10, 20, 25]);
    expect(throttle.fail('a')).toEqual({ failures: 4, lockedForMs: 1_000 });
  });
});
