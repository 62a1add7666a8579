import { describe, expect, it } from '@jest/globals';
import { classifyRequestError, classifyStatus, parseRetryAfter } from '../../src/executors/http/classify.js';

/** The rule, written independently of the implementation. */
function expectedOutcome(status: number): 'delivered' | 'retry' | 'dead' {
  if (status >= 200 && status < 300) return 'delivered';
  if (status === 408 || status === 425 || status === 429 || status >= 500) return 'retry';
  return 'dead';
}

describe('classifyStatus', () => {
  const statuses = Array.from({ length: 500 }, (_, i) => 100 + i);

  it('covers every status from 100 to 599', () => {
    expect(statuses[0]).toBe(100);
    expect(statuses.at(-1)).toBe(599);
  });

  it.each(statuses.map((status) => [status, expectedOutcome(status)] as const))(
    '%i -> %s',
    (status, outcome) => {
      expect(classifyStatus(status)).toBe(outcome);
    },
  );

  it('spells out the notable cases', () => {
    expect(classifyStatus(200)).toBe('delivered');
    expect(classifyStatus(204)).toBe('delivered');
    expect(classifyStatus(101)).toBe('dead');
    expect(classifyStatus(301)).toBe('dead');
    expect(classifyStatus(302)).toBe('dead');
    expect(classifyStatus(304)).toBe('dead');
    expect(classifyStatus(400)).toBe('dead');
    expect(classifyStatus(401)).toBe('dead');
    expect(classifyStatus(404)).toBe('dead');
    expect(classifyStatus(410)).toBe('dead');
    expect(classifyStatus(408)).toBe('retry');
    expect(classifyStatus(425)).toBe('retry');
    expect(classifyStatus(429)).toBe('retry');
    expect(classifyStatus(500)).toBe('retry');
    expect(classifyStatus(503)).toBe('retry');
    expect(classifyStatus(599)).toBe('retry');
  });
});

describe('parseRetryAfter', () => {
  const now = Date.UTC(2025, 8, 19, 21, 51, 28);
  const max = 3_600_000;

  it('reads delta-seconds', () => {
    expect(parseRetryAfter('2', now, max)).toBe(2000);
    expect(parseRetryAfter(' 120 ', now, max)).toBe(120_000);
  });

  it('reads 0 as no wait', () => {
    expect(parseRetryAfter('0', now, max)).toBe(0);
  });

  it('turns a negative delay into 0', () => {
    expect(parseRetryAfter('-5', now, max)).toBe(0);
  });

  it('reads an HTTP-date in the future', () => {
    expect(parseRetryAfter('Fri, 19 Sep 2025 21:52:28 GMT', now, max)).toBe(60_000);
    // The obsolete formats are dates too.
    expect(parseRetryAfter('Friday, 19-Sep-25 21:52:28 GMT', now, max)).toBe(60_000);
    expect(parseRetryAfter(new Date(now + 30_000).toUTCString(), now, max)).toBe(30_000);
  });

  it('turns an HTTP-date in the past into 0', () => {
    expect(parseRetryAfter('Fri, 19 Sep 2025 21:50:28 GMT', now, max)).toBe(0);
    expect(parseRetryAfter('Thu, 01 Jan 1970 00:00:00 GMT', now, max)).toBe(0);
  });

  it.each([undefined, '', '   ', 'soon', '1.5', '2s', 'NaN', 'Infinity', '0x10', 'Fri, 99 Foo 2025 GMT'])(
    'ignores %p',
    (value) => {
      expect(parseRetryAfter(value, now, max)).toBeUndefined();
    },
  );

  it('clamps to the maximum', () => {
    expect(parseRetryAfter('3601', now, max)).toBe(max);
    expect(parseRetryAfter('99999999999999999999999', now, max)).toBe(max);
    expect(parseRetryAfter('Sat, 20 Sep 2025 21:51:28 GMT', now, max)).toBe(max);
    expect(parseRetryAfter('10', now, 5000)).toBe(5000);
    expect(parseRetryAfter('3600', now, max)).toBe(max);
  });
});

describe('classifyRequestError', () => {
  const withCode = (code: string, message = code) => Object.assign(new Error(message), { code });
  const named = (name: string, code?: string) =>
    Object.assign(new Error(name), { name }, code ? { code } : {});

  it.each([
    ['a got TimeoutError', named('TimeoutError', 'ETIMEDOUT'), 'timeout'],
    ['ETIMEDOUT', withCode('ETIMEDOUT'), 'timeout'],
    ['a got AbortError', named('AbortError', 'ERR_ABORTED'), 'aborted'],
    ['a DOM AbortError', named('AbortError'), 'aborted'],
    ['ECONNREFUSED', withCode('ECONNREFUSED'), 'connection'],
    ['ECONNRESET', withCode('ECONNRESET'), 'connection'],
    ['EPIPE', withCode('EPIPE'), 'connection'],
    ['ENOTFOUND', withCode('ENOTFOUND'), 'connection'],
    ['EAI_AGAIN', withCode('EAI_AGAIN'), 'connection'],
    ['EHOSTUNREACH', withCode('EHOSTUNREACH'), 'connection'],
    ['ENETUNREACH', withCode('ENETUNREACH'), 'connection'],
    ['socket hang up', new Error('socket hang up'), 'connection'],
    ['a plain Error', new Error('boom'), 'unknown'],
    ['a string', 'boom', 'unknown'],
    ['null', null, 'unknown'],
  ] as const)('%s -> %s, retryable', (_label, error, failureCode) => {
    expect(classifyRequestError(error)).toEqual({ retryable: true, failureCode });
  });
});
