import { describe, expect, it } from '@jest/globals';
import { UserSyncError, ValidationError } from '../../src/errors.js';
import { EVENT_TYPES } from '../../src/events.js';
import { DEFAULT_STATUSES, validateEvent, type ValidationOptions } from '../../src/producers/validation.js';

const NOW = Date.UTC(2025, 8, 19, 21, 51, 28);
const NOW_ISO = '2025-09-19T21:51:28.000Z';
const now = () => NOW;

const OPTIONS: ValidationOptions = {
  maxSnapshotBytes: 65_536,
  maxTimestampAheadMs: 86_400_000,
  statuses: DEFAULT_STATUSES,
  source: 'accounts',
};

const USER = {
  id: 1,
  username: 'testuser',
  email: 'test@example.com',
  role: 'guest',
  status: 'active',
  phone: '+1 555 0100',
};

function event(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: 'user.created', user: { ...USER }, ...extra };
}

function withUser(fields: Record<string, unknown>): Record<string, unknown> {
  return event({ user: { ...USER, ...fields } });
}

function validate(input: unknown, options: Partial<ValidationOptions> = {}) {
  return validateEvent(input, { ...OPTIONS, ...options }, now);
}

/** Runs validateEvent, expects a ValidationError and returns it. */
function invalid(input: unknown, options: Partial<ValidationOptions> = {}): ValidationError {
  try {
    validate(input, options);
  } catch (error) {
    if (error instanceof ValidationError) return error;
    throw new Error(`expected a ValidationError, got ${String(error)}`);
  }
  throw new Error('expected a ValidationError, but the event was accepted');
}

/** Bytes of JSON, as validateEvent counts them. */
const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

describe('validateEvent: a good event', () => {
  it('returns the event with its defaults settled', () => {
    expect(validate(event())).toEqual({
      type: 'user.created',
      userId: 1,
      user: USER,
      timestamp: NOW_ISO,
      source: 'accounts',
    });
  });

  it('leaves out id, version and changes when the caller gave none', () => {
    const result = validate(event());
    expect(Object.keys(result).sort()).toEqual(['source', 'timestamp', 'type', 'user', 'userId']);
  });

  it('keeps everything the caller gave', () => {
    const result = validate(
      event({
        id: 'evt_01J8ABCDEF',
        type: 'user.updated',
        version: 7,
        changes: { email: 'test@example.com' },
        timestamp: '2025-01-02T03:04:05Z',
        source: 'billing',
      }),
    );
    expect(result).toEqual({
      id: 'evt_01J8ABCDEF',
      type: 'user.updated',
      userId: 1,
      version: 7,
      user: USER,
      changes: { email: 'test@example.com' },
      timestamp: '2025-01-02T03:04:05Z',
      source: 'billing',
    });
  });

  it.each(EVENT_TYPES)('accepts the type %s', (type) => {
    expect(validate(event({ type })).type).toBe(type);
  });

  it('accepts a snapshot with only an id', () => {
    expect(validate({ type: 'user.deleted', user: { id: 'u-1' } })).toMatchObject({
      userId: 'u-1',
      user: { id: 'u-1' },
    });
  });

  it('carries user fields beyond the known ones', () => {
    const user = { ...USER, department: 'sales', tags: ['a', 'b'], profile: { age: 30 } };
    expect(validate(event({ user })).user).toEqual(user);
  });

  it('takes userId from user.id', () => {
    expect(validate(withUser({ id: 42 })).userId).toBe(42);
    expect(validate(withUser({ id: 'abc-42' })).userId).toBe('abc-42');
  });

  it('accepts an empty changes object', () => {
    expect(validate(event({ changes: {} })).changes).toEqual({});
  });
});

describe('validateEvent: defaults', () => {
  it('takes the timestamp from the injected clock', () => {
    expect(validateEvent(event(), OPTIONS, () => 0).timestamp).toBe('1970-01-01T00:00:00.000Z');
    expect(validateEvent(event(), OPTIONS, () => NOW + 1).timestamp).toBe('2025-09-19T21:51:28.001Z');
  });

  it('uses Date.now when no clock is given', () => {
    const before = Date.now();
    const result = validateEvent(event(), OPTIONS);
    const after = Date.now();
    const ts = Date.parse(result.timestamp);
    expect(ts).toBeGreaterThanOrEqual(before);
    expect(ts).toBeLessThanOrEqual(after);
  });

  it('keeps a timestamp the caller gave over the clock', () => {
    expect(validate(event({ timestamp: '2020-02-02T02:02:02Z' })).timestamp).toBe('2020-02-02T02:02:02Z');
  });

  it('takes the source from the options', () => {
    expect(validate(event(), { source: 'my-service' }).source).toBe('my-service');
  });

  it('keeps a source the caller gave over the options', () => {
    expect(validate(event({ source: 'other' }), { source: 'my-service' }).source).toBe('other');
  });
});

describe('validateEvent: errors', () => {
  it('is a ValidationError with a stable code and a message naming field and reason', () => {
    const error = invalid(withUser({ email: 'nope' }));
    expect(error).toBeInstanceOf(UserSyncError);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('ValidationError');
    expect(error.code).toBe('USER_SYNC_ERR_VALIDATION');
    expect(error.field).toBe('user.email');
    expect(error.reason).toBe('is not an email address');
    expect(error.message).toBe('invalid event: user.email: is not an email address');
  });

  it.each([
    ['null', null],
    ['undefined', undefined],
    ['a string', 'user.created'],
    ['a number', 5],
    ['an array', [event()]],
  ])('refuses %s as the event, naming "event"', (_name, input) => {
    expect(invalid(input).field).toBe('event');
  });
});

describe('validateEvent: type', () => {
  it.each([
    ['missing', undefined],
    ['unknown', 'user.renamed'],
    ['upper case', 'USER.CREATED'],
    ['without prefix', 'created'],
    ['a number', 1],
    ['null', null],
  ])('refuses a type %s', (_name, type) => {
    const input = event();
    if (type === undefined) delete input.type;
    else input.type = type;
    const error = invalid(input);
    expect(error.field).toBe('type');
    expect(error.reason).toBe(`must be one of ${EVENT_TYPES.join(', ')}`);
  });
});

describe('validateEvent: user', () => {
  it('requires the user', () => {
    const error = invalid({ type: 'user.created' });
    expect(error.field).toBe('user');
    expect(error.reason).toBe('is required');
  });

  it.each([
    ['null', null],
    ['a string', 'testuser'],
    ['a number', 1],
    ['an array', [USER]],
  ])('refuses a user that is %s', (_name, user) => {
    expect(invalid(event({ user })).field).toBe('user');
  });
});

describe('validateEvent: user.id', () => {
  it.each([
    ['1', 1],
    ['a large safe integer', Number.MAX_SAFE_INTEGER],
    ['a short string', 'a'],
    ['a uuid', '0190f5b8-3f1e-7c2a-9b4d-1234567890ab'],
    ['letters, digits, _ and -', 'User_01-x'],
    ['a string of digits', '12345'],
    ['a 128-character string', 'i'.repeat(128)],
  ])('accepts %s', (_name, id) => {
    expect(validate(withUser({ id })).userId).toBe(id);
  });

  it.each([
    ['zero', 0],
    ['negative', -1],
    ['negative zero', -0],
    ['a fraction', 1.5],
    ['just over the safe range', Number.MAX_SAFE_INTEGER + 1],
    ['huge', 1e30],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['an empty string', ''],
    ['a 129-character string', 'i'.repeat(129)],
    ['a string with a space', 'a b'],
    ['a string with ":"', 'a:b'],
    ['a string with "."', 'a.b'],
    ['a string with "/"', 'a/b'],
    ['a string with a newline', 'ab\n'],
    ['a string with an accent', 'josé'],
    ['true', true],
    ['null', null],
    ['an object', { id: 1 }],
    ['a BigInt', 1n],
  ])('refuses %s', (_name, id) => {
    const error = invalid(withUser({ id }));
    expect(error.field).toBe('user.id');
    expect(error.reason.length).toBeGreaterThan(0);
  });

  it('requires it', () => {
    const error = invalid(event({ user: { username: 'x' } }));
    expect(error.field).toBe('user.id');
  });

  it.each([
    [0, 'must be positive'],
    [-7, 'must be positive'],
    ['a b', 'must be 1-128 letters, digits, "_" or "-"'],
    [true, 'must be a positive integer or a string id'],
  ])('explains why %p is refused', (id, reason) => {
    expect(invalid(withUser({ id })).reason).toBe(reason);
  });

  // Regression test for a fixed bug (src/producers/validation.ts:28-34): zod 4's `.int()` only accepts *safe* integers, so
  // an id beyond Number.MAX_SAFE_INTEGER fails `.int('must be a whole number')` first and the
  // `.max(..., 'is too large')` message is never seen: 2**53 is refused as "must be a whole
  // number", which is false. The field is right, the reason misleads. The same applies to
  // `version` (lines 80-84). Suggested fix: check the size first, e.g.
  // `z.number().max(Number.MAX_SAFE_INTEGER, 'is too large').int(...).positive(...)` (or
  // `.refine(Number.isInteger, ...)`), so each reason matches its cause.
  it('says "is too large" for an id beyond the safe integer range', () => {
    expect(invalid(withUser({ id: 2 ** 53 })).reason).toBe('is too large');
  });
});

describe('validateEvent: user.email', () => {
  it.each([
    'a@b.co',
    'test@example.com',
    'first.last+tag@sub.example.org',
    'x_y-z@mail.example.co.uk',
    `${'l'.repeat(64)}@example.com`,
  ])('accepts %s', (email) => {
    expect(validate(withUser({ email })).user.email).toBe(email);
  });

  it.each([
    ['no @', 'plain'],
    ['no domain dot', 'a@localhost'],
    ['an empty local part', '@example.com'],
    ['an empty domain', 'a@'],
    ['a domain starting with a dot', 'a@.example.com'],
    ['a domain ending with a dot', 'a@example.com.'],
    ['two dots in the domain', 'a@example..com'],
    ['two @', 'a@b@example.com'],
    ['a space', 'a b@example.com'],
    ['a trailing space', 'a@example.com '],
    ['a newline', 'a@example.com\n'],
    ['a 65-character local part', `${'l'.repeat(65)}@example.com`],
    ['more than 254 characters', `a@${'d'.repeat(250)}.com`],
    ['empty', ''],
    ['a number', 5],
    ['null', null],
  ])('refuses %s', (_name, email) => {
    const error = invalid(withUser({ email }));
    expect(error.field).toBe('user.email');
  });

  it('explains an over-long address', () => {
    expect(invalid(withUser({ email: `a@${'d'.repeat(250)}.com` })).reason).toBe(
      'is longer than 254 characters',
    );
  });
});

describe('validateEvent: user.status', () => {
  it.each(DEFAULT_STATUSES)('accepts the default status %s', (status) => {
    expect(validate(withUser({ status })).user.status).toBe(status);
  });

  it('lists the default statuses', () => {
    expect([...DEFAULT_STATUSES]).toEqual([
      'active',
      'inactive',
      'pending',
      'suspended',
      'banned',
      'locked',
      'disabled',
    ]);
  });

  it.each(['deleted', 'Active', 'ACTIVE', ' active', '', 'enabled'])('refuses %j', (status) => {
    const error = invalid(withUser({ status }));
    expect(error.field).toBe('user.status');
    expect(error.reason).toBe(`must be one of ${DEFAULT_STATUSES.join(', ')}`);
  });

  it('refuses a status that is not a string', () => {
    expect(invalid(withUser({ status: 1 })).field).toBe('user.status');
    expect(invalid(withUser({ status: null })).field).toBe('user.status');
  });

  it('checks against a custom list instead of the default one', () => {
    const statuses = ['enabled', 'paused'];
    expect(validate(withUser({ status: 'paused' }), { statuses }).user.status).toBe('paused');
    const error = invalid(withUser({ status: 'active' }), { statuses });
    expect(error.field).toBe('user.status');
    expect(error.reason).toBe('must be one of enabled, paused');
  });

  it('accepts no status at all for events other than status_changed', () => {
    const { status: _status, ...user } = USER;
    for (const type of ['user.created', 'user.updated', 'user.deleted']) {
      expect(validate({ type, user }).user.status).toBeUndefined();
    }
  });
});

describe('validateEvent: user.username', () => {
  it.each([
    ['one character', 'a'],
    ['256 characters', 'u'.repeat(256)],
    ['spaces and punctuation', 'Jane Doe (admin)'],
    ['non-ASCII letters', 'Jürgen 李'],
  ])('accepts %s', (_name, username) => {
    expect(validate(withUser({ username })).user.username).toBe(username);
  });

  it.each([
    ['empty', '', 'must not be empty'],
    ['257 characters', 'u'.repeat(257), 'is longer than 256 characters'],
    ['a newline', 'a\nb', 'contains control characters'],
    ['a tab', 'a\tb', 'contains control characters'],
    ['a NUL', 'a\u0000b', 'contains control characters'],
    ['an escape', '\u001b[31mred', 'contains control characters'],
    ['a DEL', 'a\u007fb', 'contains control characters'],
  ])('refuses %s', (_name, username, reason) => {
    const error = invalid(withUser({ username }));
    expect(error.field).toBe('user.username');
    expect(error.reason).toBe(reason);
  });

  it('refuses a username that is not a string', () => {
    expect(invalid(withUser({ username: 7 })).field).toBe('user.username');
  });
});

describe('validateEvent: user.role', () => {
  it.each(['guest', 'admin', 'org:admin', 'a.b-c_d', 'R2', 'r'.repeat(64)])('accepts %s', (role) => {
    expect(validate(withUser({ role })).user.role).toBe(role);
  });

  it.each(['', 'super admin', 'röle', 'a/b', 'r'.repeat(65), 'admin\n'])('refuses %j', (role) => {
    const error = invalid(withUser({ role }));
    expect(error.field).toBe('user.role');
  });

  it('refuses a role that is not a string', () => {
    expect(invalid(withUser({ role: ['admin'] })).field).toBe('user.role');
  });
});

describe('validateEvent: user.phone', () => {
  it.each(['+1 555 0100', '1 (555) 123-4567', '123', '+44.20.7946.0958', '5551234567'])(
    'accepts %s',
    (phone) => {
      expect(validate(withUser({ phone })).user.phone).toBe(phone);
    },
  );

  it.each([
    ['letters', 'abc'],
    ['too short', '12'],
    ['only a plus', '+'],
    ['two pluses', '++1234'],
    ['a vanity number', '555-CALL'],
    ['a leading dash', '-1234'],
    ['a leading parenthesis', '(555) 123-4567'],
    ['33 characters', '1'.repeat(33)],
    ['empty', ''],
    ['a number', 5550100],
  ])('refuses %s', (_name, phone) => {
    const error = invalid(withUser({ phone }));
    expect(error.field).toBe('user.phone');
  });

  it('accepts 32 characters, the maximum', () => {
    expect(validate(withUser({ phone: '1'.repeat(32) })).user.phone).toBe('1'.repeat(32));
  });
});

describe('validateEvent: id', () => {
  it.each(['evt_1', 'a', '0190f5b8-3f1e-7c2a-9b4d-1234567890ab', '123abc', '-1', 'e'.repeat(128)])(
    'accepts %j',
    (id) => {
      expect(validate(event({ id })).id).toBe(id);
    },
  );

  it.each([
    ['all digits', '12345', 'must not be all digits'],
    ['a single digit', '0', 'must not be all digits'],
    ['empty', '', 'must be 1-128 letters, digits, "_" or "-"'],
    ['129 characters', 'e'.repeat(129), 'must be 1-128 letters, digits, "_" or "-"'],
    ['a colon', 'evt:1', 'must be 1-128 letters, digits, "_" or "-"'],
    ['a dot', 'evt.1', 'must be 1-128 letters, digits, "_" or "-"'],
    ['a space', 'evt 1', 'must be 1-128 letters, digits, "_" or "-"'],
  ])('refuses %s', (_name, id, reason) => {
    const error = invalid(event({ id }));
    expect(error.field).toBe('id');
    expect(error.reason).toBe(reason);
  });

  it.each([[5], [null], [true]])('refuses %p (not a string)', (id) => {
    expect(invalid(event({ id })).field).toBe('id');
  });
});

describe('validateEvent: version', () => {
  it.each([1, 2, 1_000_000, Number.MAX_SAFE_INTEGER])('accepts %d', (version) => {
    expect(validate(event({ version })).version).toBe(version);
  });

  it.each([
    ['zero', 0],
    ['negative', -1],
    ['a fraction', 1.5],
    ['a string', '1'],
    ['beyond the safe range', Number.MAX_SAFE_INTEGER + 1],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['null', null],
  ])('refuses %s', (_name, version) => {
    const error = invalid(event({ version }));
    expect(error.field).toBe('version');
  });

  it('explains the rule', () => {
    expect(invalid(event({ version: 0 })).reason).toBe('must be positive');
    expect(invalid(event({ version: 1.5 })).reason).toBe('must be a whole number');
  });
});

describe('validateEvent: timestamp', () => {
  it.each(['2025-09-19T21:51:28Z', '2025-09-19T21:51:28.123Z', '2025-09-19T23:51:28+02:00'])(
    'accepts %s',
    (timestamp) => {
      expect(validate(event({ timestamp })).timestamp).toBe(timestamp);
    },
  );

  it.each([
    ['words', 'yesterday'],
    ['empty', ''],
    ['an impossible date', '2025-13-45T00:00:00Z'],
    ['a number', 1_700_000_000_000],
    ['a Date object', new Date(NOW)],
    ['null', null],
  ])('refuses %s', (_name, timestamp) => {
    const error = invalid(event({ timestamp }));
    expect(error.field).toBe('timestamp');
  });

  it('explains the rule', () => {
    expect(invalid(event({ timestamp: 'yesterday' })).reason).toBe(
      'must be an ISO-8601 date-time, e.g. 2025-09-19T21:51:28Z',
    );
  });

  // Date.parse accepts these; the wire promises ISO-8601 date-times, so they are refused.
  it.each([['March 7, 2025'], ['1'], ['Tue, 01 Jan 2030 00:00:00 GMT'], ['2025/01/02'], ['2025-09-19']])(
    'refuses the non-ISO timestamp %j',
    (timestamp) => {
      expect(invalid(event({ timestamp })).field).toBe('timestamp');
    },
  );
});

describe('validateEvent: source', () => {
  it.each(['my-service', 'svc.v2_1', 'A', 's'.repeat(64)])('accepts %s', (source) => {
    expect(validate(event({ source })).source).toBe(source);
  });

  it.each(['', 'my service', 'svc:1', 'svc/1', 's'.repeat(65), 'sérvice'])('refuses %j', (source) => {
    const error = invalid(event({ source }));
    expect(error.field).toBe('source');
    expect(error.reason).toBe('must be 1-64 letters, digits or "_.-"');
  });

  it('refuses a source that is not a string', () => {
    expect(invalid(event({ source: 1 })).field).toBe('source');
  });
});

describe('validateEvent: changes', () => {
  it('accepts an object', () => {
    const changes = { email: { from: 'a@b.co', to: 'c@d.co' }, role: 'admin' };
    expect(validate(event({ type: 'user.updated', changes })).changes).toEqual(changes);
  });

  it.each([
    ['an array', ['email']],
    ['a string', 'email'],
    ['a number', 1],
    ['null', null],
    ['true', true],
  ])('refuses %s', (_name, changes) => {
    const error = invalid(event({ changes }));
    expect(error.field).toBe('changes');
    expect(error.reason).toBe('must be an object');
  });
});

describe('validateEvent: unknown fields', () => {
  it.each(['userId', 'data', 'eventType', 'event_type', 'Type'])('refuses the top-level field %s', (name) => {
    const error = invalid(event({ [name]: 1 }));
    expect(error.field).toBe(name);
    expect(error.reason).toBe('is not a known field');
  });

  it('names every unknown top-level field', () => {
    const error = invalid(event({ foo: 1, bar: 2 }));
    expect(error.field.split(', ').sort()).toEqual(['bar', 'foo']);
    expect(error.reason).toBe('is not a known field');
  });
});

describe('validateEvent: user.status_changed', () => {
  it('requires user.status', () => {
    const { status: _status, ...user } = USER;
    const error = invalid({ type: 'user.status_changed', user });
    expect(error.field).toBe('user.status');
    expect(error.reason).toBe('is required for user.status_changed');
  });

  it('accepts it with a status and status changes', () => {
    const result = validate({
      type: 'user.status_changed',
      user: { ...USER, status: 'banned' },
      changes: { status: { from: 'active', to: 'banned' } },
    });
    expect(result.type).toBe('user.status_changed');
    expect(result.user.status).toBe('banned');
  });

  it('still checks the status against the list', () => {
    const error = invalid({ type: 'user.status_changed', user: { ...USER, status: 'gone' } });
    expect(error.field).toBe('user.status');
    expect(error.reason).toMatch(/^must be one of/);
  });
});

describe('validateEvent: snapshot size', () => {
  const LIMIT = 300;
  /** A user whose JSON is exactly `size` bytes. */
  function userOfSize(size: number): Record<string, unknown> {
    const user = { id: 1, bio: 'x'.repeat(size - bytes({ id: 1, bio: '' })) };
    expect(bytes(user)).toBe(size);
    return user;
  }

  it('accepts a snapshot plus changes exactly at the limit', () => {
    const changes = { bio: 'y' };
    const user = userOfSize(LIMIT - bytes(changes));
    expect(() => validate(event({ user, changes }), { maxSnapshotBytes: LIMIT })).not.toThrow();
  });

  it('refuses one byte over the limit, naming user and the sizes', () => {
    const changes = { bio: 'y' };
    const user = userOfSize(LIMIT - bytes(changes) + 1);
    const error = invalid(event({ user, changes }), { maxSnapshotBytes: LIMIT });
    expect(error.field).toBe('user');
    expect(error.reason).toBe(`snapshot is ${LIMIT + 1} bytes, over the limit of ${LIMIT}`);
  });

  it('counts the changes too', () => {
    const user = userOfSize(LIMIT - 100);
    expect(() => validate(event({ user, changes: {} }), { maxSnapshotBytes: LIMIT })).not.toThrow();
    const changes = { bio: 'z'.repeat(100) };
    expect(invalid(event({ user, changes }), { maxSnapshotBytes: LIMIT }).field).toBe('user');
  });

  it('counts bytes, not characters', () => {
    const user = { id: 1, bio: 'é'.repeat(200) }; // 'é' is 2 bytes in UTF-8
    expect(JSON.stringify(user).length + 2).toBeLessThan(LIMIT);
    const error = invalid(event({ user }), { maxSnapshotBytes: LIMIT });
    expect(error.field).toBe('user');
  });

  it('applies the limit from the options', () => {
    const user = userOfSize(1000);
    expect(() => validate(event({ user }), { maxSnapshotBytes: 2000 })).not.toThrow();
    expect(invalid(event({ user }), { maxSnapshotBytes: 999 }).field).toBe('user');
  });

  // Regression test for a fixed bug (src/producers/validation.ts:135): when an event has no `changes`, the size check still
  // adds the 2 bytes of `JSON.stringify({})`, so a snapshot of exactly maxSnapshotBytes (or 1 byte
  // under) is refused, and the error reports a size 2 bytes larger than the snapshot. Suggested
  // fix: `(event.changes === undefined ? 0 : jsonBytes(event.changes, 'changes'))`.
  it('accepts a snapshot exactly at the limit when there are no changes', () => {
    const user = userOfSize(LIMIT);
    expect(() => validate(event({ user }), { maxSnapshotBytes: LIMIT })).not.toThrow();
  });

  it('refuses a snapshot one byte over the limit when there are no changes', () => {
    const user = userOfSize(LIMIT + 1);
    expect(invalid(event({ user }), { maxSnapshotBytes: LIMIT }).field).toBe('user');
  });
});

describe('validateEvent: values JSON cannot hold', () => {
  it('refuses a BigInt in the user, naming user', () => {
    const error = invalid(withUser({ credits: 10n }));
    expect(error.field).toBe('user');
    expect(error.reason).toMatch(/^cannot be serialised as JSON/);
  });

  it('refuses a cyclic user, naming user', () => {
    const user: Record<string, unknown> = { ...USER };
    user.self = user;
    const error = invalid(event({ user }));
    expect(error.field).toBe('user');
    expect(error.reason).toMatch(/^cannot be serialised as JSON/);
  });

  it('refuses a BigInt in the changes, naming changes', () => {
    const error = invalid(event({ changes: { credits: 10n } }));
    expect(error.field).toBe('changes');
    expect(error.reason).toMatch(/^cannot be serialised as JSON/);
  });

  it('refuses cyclic changes, naming changes', () => {
    const changes: Record<string, unknown> = { a: 1 };
    changes.loop = { back: changes };
    const error = invalid(event({ changes }));
    expect(error.field).toBe('changes');
    expect(error.reason).toMatch(/^cannot be serialised as JSON/);
  });
});
