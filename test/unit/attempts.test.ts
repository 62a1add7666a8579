import { describe, expect, it, jest } from '@jest/globals';
import { Attempts } from '../../src/workers/attempts.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Work that settles when told to. */
function pending<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** What an attempt's wait ended with. */
async function outcome(wait: Promise<unknown>): Promise<string> {
  try {
    return `value ${String(await wait)}`;
  } catch (error) {
    return `error ${(error as Error).message}`;
  }
}

const failWith = (why: 'timeout' | 'shutdown') => new Error(why);

describe('Attempts: the deadline and shutdown of one worker’s calls', () => {
  it('passes on what the work settles with, and keeps nothing once it has', async () => {
    const attempts = new Attempts(1_000);
    expect(await attempts.run(Promise.resolve(7), failWith)).toBe(7);
    await expect(attempts.run(Promise.reject(new Error('refused')), failWith)).rejects.toThrow('refused');
    expect(attempts.size).toBe(0);
  });

  it('gives up on work past its deadline with the error fail gives, once, and not on work that ended in time', async () => {
    const attempts = new Attempts(40);
    const fail = jest.fn(failWith);
    const slow = pending<string>();
    const quick = pending<string>();
    const waits = [attempts.run(slow.promise, fail), attempts.run(quick.promise, fail)].map(outcome);
    quick.resolve('in time');
    expect(await waits[1]).toBe('value in time');
    expect(await waits[0]).toBe('error timeout');
    // Settling afterwards changes nothing.
    slow.resolve('late');
    await sleep(60);
    expect(fail).toHaveBeenCalledTimes(1);
    expect(attempts.size).toBe(0);
  });

  it('arms one timer for many attempts, and ends each at its own deadline, oldest first', async () => {
    jest.useFakeTimers();
    try {
      const attempts = new Attempts(60);
      const started = Date.now();
      const ended: string[] = [];
      const start = (name: string) =>
        void attempts
          .run(new Promise<never>(() => undefined), failWith)
          .catch(() => ended.push(`${name} at ${Date.now() - started}`));
      start('a');
      // Twenty more, started with it.
      for (let i = 0; i < 20; i++) start(`a${i}`);
      await jest.advanceTimersByTimeAsync(25);
      start('b');
      await jest.advanceTimersByTimeAsync(25);
      start('c');
      expect(attempts.size).toBe(23);
      // One timer pending for all of them.
      expect(jest.getTimerCount()).toBe(1);
      await jest.advanceTimersByTimeAsync(100);
      expect(ended.filter((e) => !/^a\d/.test(e))).toEqual(['a at 60', 'b at 85', 'c at 110']);
      expect(ended).toHaveLength(23);
      expect(jest.getTimerCount()).toBe(0);
      expect(attempts.size).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });

  it('waits out a deadline longer than a Node timer can hold, instead of firing at once', async () => {
    // 30 days: a setTimeout of this many ms fires after 1 ms (Node's TimeoutOverflowWarning).
    const timers = jest.spyOn(global, 'setTimeout');
    try {
      const attempts = new Attempts(30 * 24 * 3600 * 1000);
      const wait = outcome(attempts.run(new Promise<never>(() => undefined), failWith));
      await sleep(50);
      expect(attempts.size).toBe(1);
      const delays = timers.mock.calls.map(([, ms]) => ms ?? 0);
      expect(Math.max(...delays)).toBe(2_147_483_647);
      attempts.abortAll();
      expect(await wait).toBe('error shutdown');
    } finally {
      timers.mockRestore();
    }
  });

  it('gives up on every attempt under way at shutdown, and on those that start afterwards at once', async () => {
    const attempts = new Attempts(10_000);
    const waits = [1, 2, 3].map(() => outcome(attempts.run(new Promise<never>(() => undefined), failWith)));
    attempts.abortAll();
    expect(await Promise.all(waits)).toEqual(['error shutdown', 'error shutdown', 'error shutdown']);
    expect(await outcome(attempts.run(Promise.resolve('late'), failWith))).toBe('error shutdown');
    expect(attempts.size).toBe(0);
  });

  it('rejects with what fail throws, and goes on ending the others', async () => {
    const attempts = new Attempts(20);
    const throwing = () => {
      throw new Error('fail threw');
    };
    const waits = [
      outcome(attempts.run(new Promise<never>(() => undefined), throwing)),
      outcome(attempts.run(new Promise<never>(() => undefined), failWith)),
    ];
    expect(await Promise.all(waits)).toEqual(['error fail threw', 'error timeout']);
  });

  it('refuses a deadline that is not a number of milliseconds above zero', () => {
    for (const ms of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new Attempts(ms)).toThrow(RangeError);
    }
  });
});
