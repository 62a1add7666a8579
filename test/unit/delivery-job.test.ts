import { describe, expect, it } from '@jest/globals';
import { EVENT_TYPES } from '../../src/events.js';
import {
  parseDeliveryJob,
  referenceData,
  storedDeliveryData,
  type DeliveryJobData,
} from '../../src/jobs/delivery-job.js';
import { buildTask } from '../../src/workers/decide.js';
import { FIXTURE_EVENT_ID, jobData, ledgerEntry, parseJobData } from '../helpers/fixtures.js';

const EVENT_ID = FIXTURE_EVENT_ID;
const TASK_ID = `${EVENT_ID}.orders`;

/** jobData() as a plain record, with `field` replaced (or removed when value is `REMOVE`). */
const REMOVE = Symbol('remove');
function withField(field: string, value: unknown): Record<string, unknown> {
  const data: Record<string, unknown> = { ...jobData() };
  if (value === REMOVE) delete data[field];
  else data[field] = value;
  return data;
}

function reasonFor(data: unknown, service = 'orders'): string {
  const result = parseJobData(data, service);
  if (result.ok) throw new Error('expected the job data to be refused');
  return result.reason;
}

describe('parseDeliveryJobData: good data', () => {
  it('passes good data through unchanged', () => {
    const data = jobData();
    expect(parseJobData(data, 'orders')).toEqual({ ok: true, data });
  });

  it('passes data without changes', () => {
    const { changes: _changes, ...data } = jobData();
    const result = parseJobData(data, 'orders');
    expect(result).toEqual({ ok: true, data });
    expect(result.ok && 'changes' in result.data).toBe(false);
  });

  it('passes repair deliveries', () => {
    const result = parseJobData(jobData({ repair: true }), 'orders');
    expect(result.ok && result.data.repair).toBe(true);
  });

  it.each(EVENT_TYPES)('passes the type %s', (type) => {
    expect(parseJobData(jobData({ type }), 'orders').ok).toBe(true);
  });

  it('passes string user ids', () => {
    expect(parseJobData(jobData({ userId: 'u-1', user: { id: 'u-1' } }), 'orders').ok).toBe(true);
  });

  it('treats a numeric and a string form of the same id as equal', () => {
    expect(parseJobData(jobData({ userId: '1', user: { id: 1 } }), 'orders').ok).toBe(true);
    expect(parseJobData(jobData({ userId: 1, user: { id: '1' } }), 'orders').ok).toBe(true);
  });

  it('keeps extra user fields', () => {
    const user = { id: 1, department: 'sales', nested: { a: [1, 2] } };
    const result = parseJobData(jobData({ user }), 'orders');
    expect(result.ok && result.data.user).toEqual(user);
  });

  it('drops unknown top-level fields, so job data cannot choose where a request goes', () => {
    const data = {
      ...jobData(),
      url: 'https://evil.example.com',
      method: 'DELETE',
      headers: { host: 'evil' },
      secrets: ['whsec_x'],
    };
    const result = parseJobData(data, 'orders');
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.data).toEqual(jobData());
    for (const key of ['url', 'method', 'headers', 'secrets']) expect(result.data).not.toHaveProperty(key);
  });
});

describe('parseDeliveryJobData: missing fields', () => {
  it.each(['v', 'eventId', 'service', 'type', 'userId', 'version', 'user', 'timestamp', 'source'])(
    'names %s when it is missing',
    (field) => {
      expect(reasonFor(withField(field, REMOVE))).toMatch(new RegExp(`^malformed job data: ${field}: `));
    },
  );

  it('names user.id when the user has no id', () => {
    expect(reasonFor(withField('user', { username: 'x' }))).toMatch(/^malformed job data: user\.id: /);
  });
});

describe('parseDeliveryJobData: wrong values', () => {
  it.each<[string, unknown, string]>([
    ['v', 4, 'v'],
    ['v', '1', 'v'],
    ['v', 0, 'v'],
    ['eventId', '', 'eventId'],
    ['eventId', 'a:b', 'eventId'],
    ['eventId', 'a.b', 'eventId'],
    ['eventId', 'e'.repeat(129), 'eventId'],
    ['eventId', 5, 'eventId'],
    ['service', '', 'service'],
    ['service', 5, 'service'],
    ['type', 'user.renamed', 'type'],
    ['type', null, 'type'],
    ['userId', 0, 'userId'],
    ['userId', -1, 'userId'],
    ['userId', 1.5, 'userId'],
    ['userId', 'a b', 'userId'],
    ['userId', '', 'userId'],
    ['userId', null, 'userId'],
    ['userId', true, 'userId'],
    ['version', 0, 'version'],
    ['version', -3, 'version'],
    ['version', 1.5, 'version'],
    ['version', '7', 'version'],
    ['version', null, 'version'],
    ['user', null, 'user'],
    ['user', 'testuser', 'user'],
    ['user', 1, 'user'],
    ['user', { id: 0 }, 'user.id'],
    ['user', { id: 'a b' }, 'user.id'],
    ['user', { id: null }, 'user.id'],
    ['changes', [], 'changes'],
    ['changes', 'email', 'changes'],
    ['changes', null, 'changes'],
    ['timestamp', '', 'timestamp'],
    ['timestamp', 5, 'timestamp'],
    ['source', '', 'source'],
    ['source', null, 'source'],
    ['repair', 'yes', 'repair'],
    ['repair', 1, 'repair'],
  ])('refuses %s = %p, naming %s', (field, value, named) => {
    const reason = reasonFor(withField(field, value));
    expect(reason.startsWith(`malformed job data: ${named}: `)).toBe(true);
    expect(reason.length).toBeGreaterThan(`malformed job data: ${named}: `.length);
  });

  it('refuses data for another service, naming both', () => {
    const reason = reasonFor(jobData({ service: 'billing' }), 'orders');
    expect(reason).toBe('malformed job data: service: names "billing" but sits in the queue of "orders"');
  });

  it('compares services exactly', () => {
    expect(reasonFor(jobData({ service: 'Orders' }), 'orders')).toMatch(/^malformed job data: service:/);
  });

  it('refuses a user.id that differs from userId', () => {
    expect(reasonFor(jobData({ userId: 1, user: { id: 2 } }))).toBe(
      'malformed job data: user.id: differs from userId',
    );
    expect(reasonFor(jobData({ userId: 'a', user: { id: 'b' } }))).toBe(
      'malformed job data: user.id: differs from userId',
    );
  });

  it.each([
    ['null', null],
    ['undefined', undefined],
    ['a string', 'job data'],
    ['JSON text of good data', JSON.stringify(jobData())],
    ['a number', 42],
    ['true', true],
    ['an array', [jobData()]],
    ['an empty array', []],
  ])('refuses %s as data, naming (data)', (_name, data) => {
    expect(reasonFor(data)).toMatch(/^malformed job data: \(data\): /);
  });

  it('refuses an empty object, naming the first field', () => {
    expect(reasonFor({})).toMatch(/^malformed job data: v: /);
  });

  it('answers in one line', () => {
    for (const data of [null, {}, withField('user', { id: 0 }), jobData({ service: 'x' })]) {
      expect(reasonFor(data)).not.toContain('\n');
    }
  });
});

describe('buildTask', () => {
  const ownTask = (data: DeliveryJobData, attempt = 1) => ({
    ...data,
    taskId: TASK_ID,
    attempt,
    coalesced: false,
  });

  it('sends the event itself when there is no ledger entry', () => {
    const data = jobData();
    expect(buildTask({ data, jobId: TASK_ID, attempt: 1 })).toEqual(ownTask(data));
    expect(buildTask({ data, jobId: TASK_ID, attempt: 3 })).toEqual(ownTask(data, 3));
  });

  it.each([
    ['older', 6],
    ['much older', 1],
    ['equal', 7],
  ])('sends the event itself when the ledger is %s', (_name, version) => {
    const data = jobData();
    const task = buildTask({ data, jobId: TASK_ID, attempt: 2, ledger: ledgerEntry({ version }) });
    expect(task).toEqual(ownTask(data, 2));
    expect(task.changes).toEqual({ email: 'old@example.com' });
  });

  it('sends the event itself when the ledger is older and deleted', () => {
    const data = jobData();
    expect(
      buildTask({ data, jobId: TASK_ID, attempt: 1, ledger: ledgerEntry({ version: 3, deleted: true }) }),
    ).toEqual(ownTask(data));
  });

  it('sends the ledger snapshot when the ledger is newer', () => {
    const data = jobData({ repair: true });
    const entry = ledgerEntry({ version: 9, type: 'user.status_changed' });
    const task = buildTask({ data, jobId: TASK_ID, attempt: 4, ledger: entry });
    expect(task).toEqual({
      v: 1,
      eventId: EVENT_ID,
      service: 'orders',
      type: 'user.status_changed',
      userId: 1,
      version: 9,
      user: JSON.parse(entry.snapshot as string) as unknown,
      timestamp: '2025-09-19T21:51:28Z',
      source: 'my-service',
      repair: true,
      taskId: TASK_ID,
      attempt: 4,
      coalesced: true,
    });
  });

  it('drops the changes of the own event when coalescing', () => {
    const task = buildTask({
      data: jobData(),
      jobId: TASK_ID,
      attempt: 1,
      ledger: ledgerEntry({ version: 8 }),
    });
    expect(task.coalesced).toBe(true);
    expect(task).not.toHaveProperty('changes');
  });

  it('keeps the task id and event id of the own event when coalescing', () => {
    const task = buildTask({
      data: jobData(),
      jobId: TASK_ID,
      attempt: 1,
      ledger: ledgerEntry({ version: 100, eventId: 'other-event' }),
    });
    expect(task.taskId).toBe(TASK_ID);
    expect(task.eventId).toBe(EVENT_ID);
  });

  it.each(['user.created', 'user.updated', 'user.status_changed', 'user.deleted'])(
    'sends user.deleted when the newer ledger entry (type %s) is deleted',
    (type) => {
      const snapshot = JSON.stringify({ id: 1 });
      const task = buildTask({
        data: jobData(),
        jobId: TASK_ID,
        attempt: 1,
        ledger: ledgerEntry({ version: 8, type, deleted: true, snapshot }),
      });
      expect(task.type).toBe('user.deleted');
      expect(task.version).toBe(8);
      expect(task.user).toEqual({ id: 1 });
      expect(task.coalesced).toBe(true);
    },
  );

  it("keeps to the target's event filter: a type the target does not take is not coalesced", () => {
    const data = jobData();
    const noStatus = (type: string) => type !== 'user.status_changed';
    expect(
      buildTask({
        data,
        jobId: TASK_ID,
        attempt: 1,
        ledger: ledgerEntry({ type: 'user.status_changed' }),
        accepts: noStatus,
      }),
    ).toEqual(ownTask(data));
    const noDeletes = (type: string) => type !== 'user.deleted';
    expect(
      buildTask({
        data,
        jobId: TASK_ID,
        attempt: 1,
        ledger: ledgerEntry({ deleted: true, snapshot: '{"id":1}' }),
        accepts: noDeletes,
      }),
    ).toEqual(ownTask(data));
    expect(
      buildTask({
        data,
        jobId: TASK_ID,
        attempt: 1,
        ledger: ledgerEntry({ type: 'user.updated' }),
        accepts: noStatus,
      }).coalesced,
    ).toBe(true);
  });

  it('sends a newer re-creation over an older delete', () => {
    const task = buildTask({
      data: jobData({ type: 'user.deleted' }),
      jobId: TASK_ID,
      attempt: 1,
      ledger: ledgerEntry({ type: 'user.created' }),
    });
    expect(task.type).toBe('user.created');
    expect(task.coalesced).toBe(true);
  });

  it.each(['{not json', '', 'undefined', '{"id":1', 'null', '42', '"a string"', 'true'])(
    'falls back to the own event when the ledger snapshot is %j',
    (snapshot) => {
      const data = jobData();
      expect(buildTask({ data, jobId: TASK_ID, attempt: 1, ledger: ledgerEntry({ snapshot }) })).toEqual(
        ownTask(data),
      );
    },
  );

  it.each(['', 'user.renamed', 'undefined'])(
    'falls back to the own event when the ledger type is %j',
    (type) => {
      const data = jobData();
      expect(buildTask({ data, jobId: TASK_ID, attempt: 1, ledger: ledgerEntry({ type }) })).toEqual(
        ownTask(data),
      );
    },
  );

  // Regression test for a fixed bug (src/workers/delivery-worker.ts, buildTask, line ~383): the fallback only checks `typeof user === 'object'`,
  // so a ledger snapshot that parses to an array (or to an object without an `id`) is sent to the
  // target as the user, with coalesced: true, instead of falling back to the event's own
  // snapshot. Low severity: the publisher always writes a user object, so this needs a corrupted
  // or foreign ledger entry. Suggested fix: `if (user && typeof user === 'object' &&
  // !Array.isArray(user) && String(user.id) === String(data.userId))`.
  it.each(['[1,2]', '{"name":"no id"}'])(
    'falls back to the own event when the ledger snapshot %s is not a user',
    (snapshot) => {
      const data = jobData();
      expect(buildTask({ data, jobId: TASK_ID, attempt: 1, ledger: ledgerEntry({ snapshot }) })).toEqual(
        ownTask(data),
      );
    },
  );

  it('does not modify the job data', () => {
    const data = jobData();
    const before = JSON.stringify(data);
    Object.freeze(data);
    buildTask({ data, jobId: TASK_ID, attempt: 1, ledger: ledgerEntry() });
    buildTask({ data, jobId: TASK_ID, attempt: 1, ledger: ledgerEntry({ version: 1 }) });
    expect(JSON.stringify(data)).toBe(before);
  });

  it('returns a new object each time', () => {
    const data = jobData();
    const task = buildTask({ data, jobId: TASK_ID, attempt: 1 });
    expect(task).not.toBe(data);
    task.attempt = 99;
    expect(buildTask({ data, jobId: TASK_ID, attempt: 1 }).attempt).toBe(1);
  });
});

describe('parseDeliveryJob: the compact format user-sync writes (2)', () => {
  const compact = storedDeliveryData(jobData());
  const job = (overrides: { id?: string; name?: string; data?: unknown } = {}) => ({
    id: TASK_ID,
    name: 'user.updated',
    data: compact,
    ...overrides,
  });

  it('leaves the event id, target and type to the job, and reads back the same delivery', () => {
    expect(compact).not.toHaveProperty('eventId');
    expect(compact).not.toHaveProperty('service');
    expect(compact).not.toHaveProperty('type');
    expect(JSON.stringify(compact).length).toBeLessThan(JSON.stringify(jobData()).length - 60);
    expect(parseDeliveryJob(job(), 'orders')).toEqual({ ok: true, data: { ...jobData(), v: 2 } });
  });

  it.each([
    ['an id of another target', { id: `${EVENT_ID}.billing` }, /id ".*\.billing" is not "<eventId>\.orders"/],
    ['an id without a target', { id: EVENT_ID }, /is not "<eventId>\.orders"/],
    ['an id whose event part is not an id', { id: 'a b*c.orders' }, /eventId/],
    ['an empty event id', { id: '.orders' }, /eventId/],
    ['a name that is not an event type', { name: 'user.hacked' }, /type/],
    ['a name stuffed with data', { name: '<script>alert(1)</script>' }, /type/],
    [
      'data that names a target anyway',
      { data: { ...compact, service: 'billing' } },
      /service: format 2 takes it from the job/,
    ],
    [
      'data with its own event id',
      { data: { ...compact, eventId: 'other' } },
      /eventId: format 2 takes it from the job/,
    ],
    [
      'data with its own type',
      { data: { ...compact, type: 'user.deleted' } },
      /type: format 2 takes it from the job/,
    ],
  ])('refuses %s', (_what, overrides, reason) => {
    const result = parseDeliveryJob(job(overrides), 'orders');
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
  });

  it('refuses format 1 data under an id that is not its own', () => {
    const result = parseDeliveryJob({ id: `other.orders`, name: 'user.updated', data: jobData() }, 'orders');
    expect(result).toEqual({
      ok: false,
      reason: expect.stringMatching(/id "other\.orders" is not/) as unknown as string,
    });
  });
});

describe('parseDeliveryJob: format 3, the snapshot and timestamp left to the ledger (what a publish writes)', () => {
  const stored = storedDeliveryData(jobData());
  const reference = JSON.parse(referenceData(stored)) as Record<string, unknown>;
  const data = { version: stored.version, ...reference };
  const job = (overrides: { data?: unknown } = {}) => ({
    id: TASK_ID,
    name: 'user.updated',
    data,
    ...overrides,
  });

  it('holds neither the snapshot, the timestamp nor the version, and reads back without them', () => {
    expect(reference).toEqual({ v: 3, userId: 1, changes: jobData().changes, source: jobData().source });
    const { user: _user, timestamp: _timestamp, ...rest } = jobData();
    expect(parseDeliveryJob(job(), 'orders')).toEqual({ ok: true, data: { ...rest, v: 3 } });
  });

  it('stays under the 64 bytes Redis keeps in a hash compactly, for a short id and source', () => {
    const { changes: _changes, ...plain } = stored;
    expect(`{"version":12345,${referenceData(plain).slice(1)}`.length).toBeLessThanOrEqual(64);
  });

  it.each([
    [
      'a snapshot of its own',
      { ...data, user: { id: 1 } },
      /^malformed job data: user: format 3 takes it from the ledger/,
    ],
    [
      'a timestamp of its own',
      { ...data, timestamp: '2025-01-01T00:00:00Z' },
      /^malformed job data: timestamp: format 3 takes it from the ledger/,
    ],
    ['its own event id', { ...data, eventId: 'other' }, /eventId: format 3 takes it from the job/],
    ['no version', { v: 3, userId: 1, source: 'svc' }, /^malformed job data: version: /],
    [
      'a hostile changes object',
      { ...data, changes: JSON.parse('{"__proto__":{"x":1}}') as unknown },
      /changes/,
    ],
  ])('refuses %s', (_what, bad, reason) => {
    const result = parseDeliveryJob(job({ data: bad }), 'orders');
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
  });

  it('never takes a snapshot, timestamp or event id from a "__proto__" key of the data', () => {
    // As JSON.parse reads job data from Redis: an own "__proto__" key, which an assignment
    // (Object.assign) would turn into the prototype of the object the fields are read from.
    const hostile = JSON.parse(
      JSON.stringify(data).replace(
        /}$/,
        ',"__proto__":{"user":{"id":1,"email":"planted@example.com"},"timestamp":"2025-01-01T00:00:00Z","service":"other"}}',
      ),
    ) as Record<string, unknown>;
    expect(Object.keys(hostile)).toContain('__proto__');
    const result = parseDeliveryJob(job({ data: hostile }), 'orders');
    expect(result.ok).toBe(true);
    if (result.ok) {
      expect(result.data.user).toBeUndefined();
      expect(result.data.timestamp).toBeUndefined();
      expect(result.data.service).toBe('orders');
      expect(Object.getPrototypeOf(result.data)).toBe(Object.prototype);
    }
  });

  it('refuses format 2 or 1 data without a snapshot or timestamp, naming it', () => {
    const { user: _user, ...noUser } = stored;
    const { timestamp: _ts, ...noTimestamp } = jobData();
    expect(parseDeliveryJob(job({ data: noUser }), 'orders')).toEqual({
      ok: false,
      reason: 'malformed job data: user: is required',
    });
    expect(parseDeliveryJob(job({ data: noTimestamp }), 'orders')).toEqual({
      ok: false,
      reason: 'malformed job data: timestamp: is required',
    });
  });
});
