import { describe, expect, it } from '@jest/globals';
import {
  ConfigError,
  DeliveryError,
  QueueFullError,
  UserSyncError,
  ValidationError,
  toError,
} from '../../src/errors.js';

describe('toError', () => {
  it('returns an Error as it is', () => {
    const error = new Error('boom');
    expect(toError(error)).toBe(error);
  });

  it('returns subclasses as they are', () => {
    const error = new DeliveryError('x', { retryable: true });
    expect(toError(error)).toBe(error);
    const type = new TypeError('t');
    expect(toError(type)).toBe(type);
  });

  it('wraps a string as the message', () => {
    const error = toError('boom');
    expect(error).toBeInstanceOf(Error);
    expect(error.message).toBe('boom');
  });

  it.each<[string, unknown, string]>([
    ['an object', { code: 'E', n: 1 }, '{"code":"E","n":1}'],
    ['an array', [1, 'a'], '[1,"a"]'],
    ['a number', 42, '42'],
    ['null', null, 'null'],
    ['false', false, 'false'],
  ])('wraps %s as its JSON', (_name, value, message) => {
    const error = toError(value);
    expect(error).toBeInstanceOf(Error);
    expect(error.message).toBe(message);
  });

  it('wraps a cyclic object without throwing', () => {
    const value: Record<string, unknown> = { a: 1 };
    value.self = value;
    const error = toError(value);
    expect(error).toBeInstanceOf(Error);
    expect(error.message).toBe('[object Object]');
  });

  it('wraps a BigInt without throwing', () => {
    expect(toError(10n).message).toBe('10');
    expect(toError({ n: 10n }).message).toBe('[object Object]');
  });

  it('wraps an object whose toJSON throws', () => {
    const value = {
      toJSON() {
        throw new Error('nope');
      },
      toString() {
        return 'custom';
      },
    };
    expect(toError(value).message).toBe('custom');
  });

  // Regression test for a fixed bug (src/errors.ts, toError, line 98): JSON.stringify returns undefined (it does not throw) for
  // undefined, functions and symbols, so `new Error(JSON.stringify(value))` makes an Error with
  // an empty message: `throw undefined` (or a rejected promise with no reason) is logged and
  // dead-lettered as "". Suggested fix: `return new Error(JSON.stringify(value) ?? String(value))`.
  it.each<[string, unknown]>([
    ['undefined', undefined],
    ['a symbol', Symbol('why')],
    ['a function', function named() {}],
  ])('gives %s a non-empty message', (_name, value) => {
    expect(toError(value).message).not.toBe('');
  });
});

describe('error classes', () => {
  it('ConfigError names the field and reason', () => {
    const error = new ConfigError('targets[1].url', 'is required for a http target');
    expect(error).toBeInstanceOf(UserSyncError);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('ConfigError');
    expect(error.code).toBe('USER_SYNC_ERR_CONFIG');
    expect(error.field).toBe('targets[1].url');
    expect(error.reason).toBe('is required for a http target');
    expect(error.message).toBe('invalid config: targets[1].url: is required for a http target');
  });

  it('ConfigError names its source when given one', () => {
    const error = new ConfigError('workers', 'must be at least 1', '/etc/user-sync.json');
    expect(error.message).toBe('invalid config (/etc/user-sync.json): workers: must be at least 1');
  });

  it('ValidationError names the field and reason', () => {
    const error = new ValidationError('user.email', 'is not an email address');
    expect(error).toBeInstanceOf(UserSyncError);
    expect(error.name).toBe('ValidationError');
    expect(error.code).toBe('USER_SYNC_ERR_VALIDATION');
    expect(error.field).toBe('user.email');
    expect(error.reason).toBe('is not an email address');
    expect(error.message).toBe('invalid event: user.email: is not an email address');
  });

  it('QueueFullError names the target, the backlog and the cap, and says what to do', () => {
    const error = new QueueFullError('orders', 10_000, 10_000);
    expect(error).toBeInstanceOf(UserSyncError);
    expect(error.name).toBe('QueueFullError');
    expect(error.code).toBe('USER_SYNC_ERR_QUEUE_FULL');
    expect(error.service).toBe('orders');
    expect(error.backlog).toBe(10_000);
    expect(error.cap).toBe(10_000);
    expect(error.message).toContain('"orders"');
    expect(error.message).toContain('10000 deliveries waiting');
    expect(error.message).toContain('queueSize 10000');
    expect(error.message).toMatch(/start more workers|raise queueSize/);
  });

  it('DeliveryError carries retryable, status, excerpt, retryAfterMs and cause', () => {
    const cause = new Error('socket hang up');
    const error = new DeliveryError('HTTP 503', {
      retryable: true,
      status: 503,
      excerpt: 'busy',
      retryAfterMs: 2_000,
      failureCode: 'http_5xx',
      cause,
    });
    expect(error).toBeInstanceOf(UserSyncError);
    expect(error.name).toBe('DeliveryError');
    expect(error.code).toBe('USER_SYNC_ERR_DELIVERY');
    expect(error.message).toBe('HTTP 503');
    expect(error.retryable).toBe(true);
    expect(error.status).toBe(503);
    expect(error.excerpt).toBe('busy');
    expect(error.retryAfterMs).toBe(2_000);
    expect(error.failureCode).toBe('http_5xx');
    expect(error.cause).toBe(cause);
  });

  it('DeliveryError still reads and answers `reason`, the former name of failureCode', () => {
    const error = new DeliveryError('x', { retryable: false, reason: 'rejected' });
    expect(error.failureCode).toBe('rejected');
    expect(error.reason).toBe('rejected');
    expect(new DeliveryError('x', { retryable: false, failureCode: 'a', reason: 'b' }).failureCode).toBe('a');
  });

  it('DeliveryError defaults its failure code from retryable', () => {
    expect(new DeliveryError('x', { retryable: true }).failureCode).toBe('retryable');
    expect(new DeliveryError('x', { retryable: false }).failureCode).toBe('permanent');
    const bare = new DeliveryError('x', { retryable: false });
    expect(bare.status).toBeUndefined();
    expect(bare.excerpt).toBeUndefined();
    expect(bare.retryAfterMs).toBeUndefined();
  });
});
