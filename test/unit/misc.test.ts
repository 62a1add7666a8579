import { describe, expect, it } from '@jest/globals';
import { formatDuration, parseDuration } from '../../src/duration.js';
import {
  ConfigError,
  DeliveryError,
  QueueFullError,
  UserSyncError,
  ValidationError,
  toError,
} from '../../src/errors.js';
import { deadLetterId } from '../../src/jobs/dead-letter.js';
import {
  DEAD_LETTER_QUEUE,
  MAINTENANCE_QUEUE,
  deliveryQueueName,
  keys,
  taskId,
} from '../../src/jobs/names.js';
import { newEventId } from '../../src/producers/event-id.js';
import { DEFAULT_STATUSES, validateEvent } from '../../src/producers/validation.js';

describe('parseDuration', () => {
  it.each<[unknown, number]>([
    [0, 0],
    [1, 1],
    [1500, 1500],
    [1.4, 1],
    [1.6, 2],
    ['0', 0],
    ['1500', 1500],
    ['250ms', 250],
    ['5s', 5_000],
    ['0s', 0],
    ['1.5s', 1_500],
    ['0.5ms', 1],
    ['2m', 120_000],
    ['1m30s', 90_000],
    ['2h', 7_200_000],
    ['1h30m', 5_400_000],
    ['1d', 86_400_000],
    ['1d2h3m4s5ms', 93_784_005],
    ['1h1h', 7_200_000],
    ['1ms', 1],
    ['10m', 600_000],
    [' 5s ', 5_000],
    ['\t7\n', 7],
  ])('reads %j as %d', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each<[unknown]>([
    [-1],
    [-0.5],
    [Number.NaN],
    [Number.POSITIVE_INFINITY],
    [Number.NEGATIVE_INFINITY],
    [''],
    ['   '],
    ['soon'],
    ['5 s'],
    ['5S'],
    ['5sec'],
    ['5 seconds'],
    ['-5s'],
    ['+5s'],
    ['-5'],
    ['1.s'],
    ['.5s'],
    ['s'],
    ['ms'],
    ['5us'],
    ['5ns'],
    ['5w'],
    ['1e3'],
    ['0x10'],
    ['1,000'],
    ['5s '.repeat(2)],
    [null],
    [undefined],
    [true],
    [{}],
    [[5]],
    [5n],
  ])('refuses %p', (input) => {
    expect(parseDuration(input)).toBeUndefined();
  });
});

describe('formatDuration', () => {
  it.each<[number, string]>([
    [0, '0ms'],
    [1, '1ms'],
    [250, '250ms'],
    [999, '999ms'],
    [1_000, '1s'],
    [1_500, '1.5s'],
    [1_550, '1.6s'],
    [5_000, '5s'],
    [59_000, '59s'],
    [60_000, '1m'],
    [90_000, '1.5m'],
    [600_000, '10m'],
    [3_600_000, '1h'],
    [5_400_000, '1.5h'],
    [86_400_000, '24h'],
  ])('formats %d ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it.each([0, 250, 1_000, 1_500, 5_000, 60_000, 90_000, 3_600_000, 5_400_000])(
    'round-trips %d ms through parseDuration',
    (ms) => {
      expect(parseDuration(formatDuration(ms))).toBe(ms);
    },
  );
});

describe('newEventId', () => {
  const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  const bytesOf = (id: string) => Buffer.from(id.replaceAll('-', ''), 'hex');
  const timeOf = (id: string) => parseInt(id.replaceAll('-', '').slice(0, 12), 16);
  const filled = (byte: number) => (size: number) => Buffer.alloc(size, byte);

  it('has the exact layout for known inputs', () => {
    expect(newEventId(0x0123456789ab, filled(0x00))).toBe('01234567-89ab-7000-8000-000000000000');
    expect(newEventId(0x0123456789ab, filled(0xff))).toBe('01234567-89ab-7fff-bfff-ffffffffffff');
  });

  it('is a UUIDv7 with version nibble 7 and variant bits 10', () => {
    for (const random of [filled(0x00), filled(0xff), filled(0x5a), undefined]) {
      const id = newEventId(Date.now(), random);
      expect(id).toMatch(UUID_V7);
      const bytes = bytesOf(id);
      expect(bytes).toHaveLength(16);
      expect((bytes[6] as number) >> 4).toBe(7);
      expect((bytes[8] as number) >> 6).toBe(0b10);
    }
  });

  it.each([0, 1, 1_000, Date.UTC(2025, 8, 19, 21, 51, 28, 123), Date.now(), 2 ** 48 - 1])(
    'puts now = %d in the first 48 bits',
    (now) => {
      expect(timeOf(newEventId(now))).toBe(now);
    },
  );

  it('floors a fractional now and clamps a negative one to 0', () => {
    expect(timeOf(newEventId(1_700_000_000_000.9))).toBe(1_700_000_000_000);
    expect(timeOf(newEventId(-5))).toBe(0);
  });

  it('asks for 16 random bytes and keeps the random bits it does not overwrite', () => {
    const random = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    let asked = 0;
    const id = newEventId(0, (size) => {
      asked = size;
      return Buffer.from(random);
    });
    expect(asked).toBe(16);
    const bytes = bytesOf(id);
    expect((bytes[6] as number) & 0x0f).toBe((random[6] as number) & 0x0f);
    expect(bytes[7]).toBe(random[7]);
    expect((bytes[8] as number) & 0x3f).toBe((random[8] as number) & 0x3f);
    expect(bytes.subarray(9)).toEqual(random.subarray(9));
  });

  it('sorts by time, whatever the random part', () => {
    const times = [1, 255, 256, 65_535, 1_700_000_000_000, 1_700_000_000_001, 1_800_000_000_000];
    // Later ids get smaller random bytes, so only the timestamp can put them in order.
    const ids = times.map((t, i) => newEventId(t, filled(0xff - i)));
    expect([...ids].sort()).toEqual(ids);
  });

  it('sorts ids made a millisecond apart with real randomness', () => {
    const base = Date.now();
    const ids = Array.from({ length: 50 }, (_v, i) => newEventId(base + i));
    expect([...ids].reverse().sort()).toEqual(ids);
  });

  it('is unique with real randomness, even in the same millisecond', () => {
    const ids = new Set(Array.from({ length: 1_000 }, () => newEventId(1_700_000_000_000)));
    expect(ids.size).toBe(1_000);
  });

  it('defaults now to the current time', () => {
    const before = Date.now();
    const id = newEventId();
    expect(timeOf(id)).toBeGreaterThanOrEqual(before);
    expect(timeOf(id)).toBeLessThanOrEqual(Date.now());
  });

  it('is a valid BullMQ job id: no ":" and not all digits', () => {
    for (let i = 0; i < 200; i++) {
      const id = newEventId(Date.now() + i);
      expect(id).not.toContain(':');
      expect(id).not.toMatch(/^\d+$/);
      expect(taskId(id, 'orders')).not.toContain(':');
    }
    // Even a timestamp and random bytes of decimal digits only keep the dashes.
    expect(newEventId(0x111111111111, filled(0x11))).not.toMatch(/^\d+$/);
  });

  it('is accepted as an event id by validateEvent', () => {
    const id = newEventId();
    const result = validateEvent(
      { id, type: 'user.created', user: { id: 1 } },
      { maxSnapshotBytes: 65_536, statuses: DEFAULT_STATUSES, source: 's' },
    );
    expect(result.id).toBe(id);
  });
});

describe('names', () => {
  it('builds task ids <eventId>.<service>', () => {
    expect(taskId('evt_1', 'orders')).toBe('evt_1.orders');
    expect(taskId('0190f5b8-3f1e-7c2a-9b4d-1234567890ab', 'billing-v2')).toBe(
      '0190f5b8-3f1e-7c2a-9b4d-1234567890ab.billing-v2',
    );
  });

  it('builds queue names deliver.<service>', () => {
    expect(deliveryQueueName('orders')).toBe('deliver.orders');
    expect(deliveryQueueName('a_b-C9')).toBe('deliver.a_b-C9');
  });

  it('names the dead-letter and maintenance queues', () => {
    expect(DEAD_LETTER_QUEUE).toBe('dead-letter');
    expect(MAINTENANCE_QUEUE).toBe('maintenance');
  });

  it('never puts ":" in a queue name (BullMQ refuses it) for a valid service', () => {
    for (const name of [DEAD_LETTER_QUEUE, MAINTENANCE_QUEUE, deliveryQueueName('a_b-C9')]) {
      expect(name).not.toContain(':');
    }
  });

  it('keeps delivery queues apart from the dead-letter and maintenance queues', () => {
    expect(deliveryQueueName('dead-letter')).not.toBe(DEAD_LETTER_QUEUE);
    expect(deliveryQueueName('maintenance')).not.toBe(MAINTENANCE_QUEUE);
  });

  describe.each(['{user-sync}', '{my-app}', 'plain'])('keys(%s)', (prefix) => {
    const k = keys(prefix);

    it('has the documented names', () => {
      expect(k.ledger('42')).toBe(`${prefix}:ledger:42`);
      expect(k.users).toBe(`${prefix}:users`);
      expect(k.event('evt_1')).toBe(`${prefix}:event:evt_1`);
      expect(k.watermark('orders')).toBe(`${prefix}:wm:orders`);
      expect(k.lock('orders', '42')).toBe(`${prefix}:lock:orders:42`);
      expect(k.stats).toBe(`${prefix}:stats`);
      expect(k.targetStats('orders')).toBe(`${prefix}:stats:orders`);
      expect(k.workers).toBe(`${prefix}:workers`);
      expect(k.latency('orders')).toBe(`${prefix}:latency:orders`);
      expect(k.targets).toBe(`${prefix}:targets`);
      // BullMQ's own job hash: `<prefix>:<queue>:<jobId>`.
      expect(k.job('deliver.orders', 'e1.orders')).toBe(`${prefix}:deliver.orders:e1.orders`);
    });

    it('starts every key with the prefix', () => {
      const all = Object.values(k).map((value) =>
        typeof value === 'string' ? value : (value as (a: string, b: string) => string)('a', 'b'),
      );
      expect(all).toHaveLength(15);
      for (const key of all) expect(key.startsWith(`${prefix}:`)).toBe(true);
    });

    it('gives every kind of key a distinct name', () => {
      const all = [
        k.ledger('x'),
        k.users,
        k.event('x'),
        k.watermark('x'),
        k.lock('x', 'x'),
        k.stats,
        k.targetStats('x'),
        k.workers,
      ];
      expect(new Set(all).size).toBe(all.length);
    });
  });
});

describe('deadLetterId', () => {
  it.each([
    ['orders', 'evt_1.orders', 'evt_1.orders'],
    ['orders', 'evt_1', 'evt_1.orders'],
    ['orders', '123', '123.orders'],
    ['orders', 'evt_1.billing', 'evt_1.billing.orders'],
    ['orders', 'evt_1.xorders', 'evt_1.xorders.orders'],
    ['orders', 'orders', 'orders.orders'],
    ['orders', '.orders', '.orders'],
    ['a', 'e.a', 'e.a'],
    ['a', 'e.ba', 'e.ba.a'],
  ])('service %s, job %s -> %s', (service, jobId, id) => {
    expect(deadLetterId(service, jobId)).toBe(id);
  });

  it('is the task id for a well-formed delivery', () => {
    const id = taskId('0190f5b8-3f1e-7c2a-9b4d-1234567890ab', 'orders');
    expect(deadLetterId('orders', id)).toBe(id);
  });

  it('is idempotent', () => {
    for (const jobId of ['evt_1', 'evt_1.orders', 'evt_1.billing', '7']) {
      const once = deadLetterId('orders', jobId);
      expect(deadLetterId('orders', once)).toBe(once);
    }
  });

  it('keeps the same odd job id apart across targets', () => {
    expect(deadLetterId('orders', '7')).not.toBe(deadLetterId('billing', '7'));
  });
});

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
    expect(error.failureCode).toBe('rejected');
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
