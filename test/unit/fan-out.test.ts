import { describe, expect, it } from '@jest/globals';
import type { TargetConfig } from '../../src/config/schema.js';
import { EVENT_TYPES, type EventType, type UserEvent } from '../../src/events.js';
import { targetAccepts } from '../../src/config/targets.js';
import { planDeliveries } from '../../src/producers/fan-out.js';
import { targetConfig, userEvent } from '../helpers/fixtures.js';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

/** An http target named `service`, with credentials in its URL and headers and a secret. */
const target = (service: string, overrides: Partial<TargetConfig> = {}): TargetConfig =>
  targetConfig({
    service,
    url: `https://${service}.example.com/hooks/users?token=url-secret`,
    headers: { authorization: 'Bearer header-secret' },
    secrets: [SECRET],
    timeoutMs: 30_000,
    ...overrides,
  });

/** User 1's `user.updated` at version 7. */
const event = (overrides: Partial<UserEvent> = {}): UserEvent =>
  userEvent({ type: 'user.updated', version: 7, changes: { email: 'test@example.com' }, ...overrides });

/** Every subset of the event types, the empty one included. */
function subsets(types: readonly EventType[]): EventType[][] {
  const out: EventType[][] = [];
  for (let mask = 0; mask < 1 << types.length; mask++) {
    out.push(types.filter((_t, i) => mask & (1 << i)));
  }
  return out;
}

const FILTERS: Array<EventType[] | undefined> = [undefined, ...subsets(EVENT_TYPES)];
const filterName = (f: EventType[] | undefined) => (f === undefined ? 'no filter' : `[${f.join(', ')}]`);

describe('targetAccepts', () => {
  it.each(EVENT_TYPES)('an enabled target without a filter accepts %s', (type) => {
    expect(targetAccepts(target('a'), { type })).toBe(true);
  });

  it.each(EVENT_TYPES)('a disabled target refuses %s, whatever its filter', (type) => {
    expect(targetAccepts(target('a', { enabled: false }), { type })).toBe(false);
    expect(targetAccepts(target('a', { enabled: false, events: [...EVENT_TYPES] }), { type })).toBe(false);
    expect(targetAccepts(target('a', { enabled: false, events: [type] }), { type })).toBe(false);
  });

  it('accepts only the listed types', () => {
    const t = target('a', { events: ['user.created', 'user.deleted'] });
    expect(targetAccepts(t, { type: 'user.created' })).toBe(true);
    expect(targetAccepts(t, { type: 'user.deleted' })).toBe(true);
    expect(targetAccepts(t, { type: 'user.updated' })).toBe(false);
    expect(targetAccepts(t, { type: 'user.status_changed' })).toBe(false);
  });

  it('an empty filter accepts nothing', () => {
    for (const type of EVENT_TYPES) expect(targetAccepts(target('a', { events: [] }), { type })).toBe(false);
  });
});

describe('exhaustively: every event type × every filter × enabled or not', () => {
  const cases: Array<[string, EventType, EventType[] | undefined, boolean]> = [];
  for (const type of EVENT_TYPES)
    for (const events of FILTERS)
      for (const enabled of [true, false]) cases.push([filterName(events), type, events, enabled]);

  it('covers 4 types × 17 filters × 2', () => {
    expect(cases).toHaveLength(4 * 17 * 2);
  });

  it.each(cases)('filter %s, type %s: accepted iff enabled and listed', (_name, type, events, enabled) => {
    const t = target('orders', { enabled, ...(events ? { events } : {}) });
    const expected = enabled && (events === undefined || events.includes(type));
    expect(targetAccepts(t, { type })).toBe(expected);
    const planned = planDeliveries(event({ type }), [t]);
    expect(planned).toHaveLength(expected ? 1 : 0);
    if (expected) expect(planned[0]?.type).toBe(type);
  });

  it.each(EVENT_TYPES)('a mixed target list for %s keeps the accepting targets in order', (type) => {
    const targets = FILTERS.flatMap((events, i) => [
      target(`on${i}`, events ? { events } : {}),
      target(`off${i}`, { enabled: false, ...(events ? { events } : {}) }),
    ]);
    const expected = FILTERS.flatMap((events, i) =>
      events === undefined || events.includes(type) ? [`on${i}`] : [],
    );
    const planned = planDeliveries(event({ type }), targets);
    expect(planned.map((p) => p.service)).toEqual(expected);
    // 1 unfiltered target + the 8 subsets of the other 3 types that include `type`
    expect(planned).toHaveLength(9);
  });
});

describe('planDeliveries', () => {
  it('plans nothing without targets', () => {
    expect(planDeliveries(event(), [])).toEqual([]);
  });

  it('plans nothing when every target is disabled', () => {
    expect(
      planDeliveries(event(), [target('a', { enabled: false }), target('b', { enabled: false })]),
    ).toEqual([]);
  });

  it('skips disabled targets and keeps the config order', () => {
    const targets = [
      target('zeta'),
      target('alpha', { enabled: false }),
      target('mid', { kind: 'redis', url: 'redis://localhost' }),
      target('beta', { kind: 'handler', url: undefined }),
      target('omega', { events: ['user.created'] }),
      target('custom', { kind: 'my-kind' }),
    ];
    expect(planDeliveries(event(), targets).map((p) => p.service)).toEqual(['zeta', 'mid', 'beta', 'custom']);
  });

  it('names job ids <eventId>.<service> and queues deliver.<service>', () => {
    const planned = planDeliveries(event({ id: 'evt_42' }), [target('orders'), target('billing-v2')]);
    expect(planned.map((p) => ({ queueName: p.queueName, jobId: p.jobId, service: p.service }))).toEqual([
      { queueName: 'deliver.orders', jobId: 'evt_42.orders', service: 'orders' },
      { queueName: 'deliver.billing-v2', jobId: 'evt_42.billing-v2', service: 'billing-v2' },
    ]);
  });

  it('gives each delivery exactly the documented plan keys', () => {
    for (const p of planDeliveries(event(), [target('a'), target('b')])) {
      expect(Object.keys(p).sort()).toEqual(['data', 'jobId', 'queueName', 'service', 'type']);
    }
  });

  it('puts exactly the event into the job data', () => {
    const e = event();
    const [planned] = planDeliveries(e, [target('orders')]);
    expect(planned).toMatchObject({ jobId: `${e.id}.orders`, service: 'orders', type: 'user.updated' });
    expect(planned?.data).toEqual({
      v: 2,
      userId: 1,
      version: 7,
      user: e.user,
      changes: { email: 'test@example.com' },
      timestamp: '2025-09-19T21:51:28Z',
      source: 'my-service',
    });
  });

  it('carries exactly these keys in job data: no url, method, headers or secrets', () => {
    const t = target('orders', { rateLimit: { max: 1, duration: 1000 }, events: ['user.updated'] });
    const [planned] = planDeliveries(event(), [t]);
    expect(Object.keys(planned?.data ?? {}).sort()).toEqual([
      'changes',
      'source',
      'timestamp',
      'user',
      'userId',
      'v',
      'version',
    ]);
    const json = JSON.stringify(planned);
    expect(json).not.toContain('url-secret');
    expect(json).not.toContain('example.com/hooks');
    expect(json).not.toContain('header-secret');
    expect(json).not.toContain(SECRET);
    expect(json).not.toContain('whsec_');
  });

  it.each([
    'kind',
    'url',
    'method',
    'headers',
    'secrets',
    'timeoutMs',
    'coalesce',
    'keyTemplate',
    'rateLimit',
  ])('never copies the target field %s into job data', (field) => {
    const [planned] = planDeliveries(event(), [target('orders', { rateLimit: { max: 1, duration: 1 } })]);
    expect(planned?.data).not.toHaveProperty(field);
  });

  it('omits changes when the event has none', () => {
    const { changes: _changes, ...rest } = event();
    const [planned] = planDeliveries(rest, [target('orders')]);
    expect(planned?.data).not.toHaveProperty('changes');
    expect(Object.keys(planned?.data ?? {})).not.toContain('changes');
  });

  it('keeps empty changes', () => {
    const [planned] = planDeliveries(event({ changes: {} }), [target('orders')]);
    expect(planned?.data.changes).toEqual({});
  });

  it('sets repair only on repair deliveries', () => {
    const [normal] = planDeliveries(event(), [target('orders')]);
    const [explicitNo] = planDeliveries(event(), [target('orders')], { repair: false });
    const [repair] = planDeliveries(event(), [target('orders')], { repair: true });
    expect(normal?.data).not.toHaveProperty('repair');
    expect(explicitNo?.data).not.toHaveProperty('repair');
    expect(repair?.data.repair).toBe(true);
    expect(repair?.jobId).toBe(normal?.jobId);
    const { repair: _r, ...repairRest } = repair?.data ?? { repair: true };
    expect(repairRest).toEqual(normal?.data);
  });

  it('marks every delivery of a repair', () => {
    const planned = planDeliveries(event(), [target('a'), target('b'), target('c')], { repair: true });
    expect(planned.map((p) => p.data.repair)).toEqual([true, true, true]);
  });

  it('keeps string user ids', () => {
    const [planned] = planDeliveries(event({ userId: 'u-1', user: { id: 'u-1' } }), [target('orders')]);
    expect(planned?.data.userId).toBe('u-1');
    expect(planned?.data.user).toEqual({ id: 'u-1' });
  });

  it('gives every delivery its own service and the same event data', () => {
    const planned = planDeliveries(event(), [target('a'), target('b')]);
    expect(planned.map((p) => [p.service, p.jobId])).toEqual([
      ['a', `${event().id}.a`],
      ['b', `${event().id}.b`],
    ]);
    // Stored compact: the event id, target and type are the job's id, queue and name.
    expect(planned[0]?.data).toEqual(planned[1]?.data);
    expect(planned[0]?.data).not.toHaveProperty('eventId');
    expect(planned[0]?.data).not.toHaveProperty('service');
    expect(planned[0]?.data).toMatchObject({ v: 2 });
  });

  it('is deterministic', () => {
    const targets = [target('a'), target('b', { events: ['user.updated'] })];
    expect(planDeliveries(event(), targets)).toEqual(planDeliveries(event(), targets));
  });

  it('does not modify the event or the targets', () => {
    const e = event();
    const targets = [target('a'), target('b', { enabled: false })];
    const before = JSON.stringify({ e, targets });
    Object.freeze(e);
    targets.forEach((t) => Object.freeze(t));
    planDeliveries(e, Object.freeze(targets), { repair: true });
    expect(JSON.stringify({ e, targets })).toBe(before);
  });
});
