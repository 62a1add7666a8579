/**
 * Attacks on what publish and the workers trust: job data written straight into Redis (as a
 * dashboard's "add job" or anyone with Redis access could), hostile snapshots, versions at the
 * edge of what a number can hold, and a flood of concurrent publishes against the backlog cap.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { QueueFullError, ValidationError, type DeliveryJobData } from '../../src/index.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { waitFor } from '../helpers/redis.js';

/** Job data as a forger would write it: well formed, for target http-a. */
function forged(overrides: Partial<DeliveryJobData>): DeliveryJobData {
  return {
    v: 1,
    eventId: 'forged-event',
    service: 'http-a',
    type: 'user.updated',
    userId: 1,
    version: 1,
    user: { id: 1, email: 'attacker@example.com' },
    timestamp: new Date().toISOString(),
    source: 'accounts',
    ...overrides,
  };
}

describe('the ledger vouches for every delivery', () => {
  let h: Harness;
  afterEach(async () => h?.close());

  async function addForged(data: DeliveryJobData) {
    const queue = h.service.deployment.queues.delivery('http-a');
    await queue.add(data.type, data, { jobId: `${data.eventId}.http-a`, attempts: 4 });
  }

  const deadLetter = async (id: string) =>
    waitFor(async () => (await h.service.listDeadLetters({ ids: [id] })).records[0], {
      what: `dead letter ${id}`,
    });

  it('a job with a huge version is never sent, never raises the watermark, and later real updates arrive', async () => {
    h = await startHarness({ httpTargets: 1, redisTarget: false, handlerTarget: false });
    const publisher = h.service.createPublisher('accounts');
    await publisher.publishUserCreated({ id: 1, username: 'ada' });
    const server = h.http[0]!;
    await waitFor(() => server.requests.length === 1, { what: 'the real create' });

    await addForged(forged({ eventId: 'forged-huge', version: 9_000_000_000_000 }));
    const record = await deadLetter('forged-huge.http-a');
    expect(record).toMatchObject({ reason: 'not_in_ledger', code: 'not_in_ledger', attempts: 1 });
    expect(record.message).toMatch(/version 9000000000000 is above the ledger's 1/);
    expect(await h.redis.hget(h.service.deployment.keyspace.partition(0).watermark('http-a'), '1')).toBe('1');

    const update = await publisher.publishUserUpdated({ id: 1, username: 'ada-2' });
    await waitFor(() => server.requests.length === 2, { what: 'the real update' });
    const bodies = server.requests.map((r) => JSON.parse(r.body) as { event_id: string; version: number });
    expect(bodies.map((b) => [b.event_id, b.version])).toEqual([
      [expect.any(String), 1],
      [update.eventId, 2],
    ]);
    expect(server.requests.some((r) => r.body.includes('attacker@example.com'))).toBe(false);
  });

  it("a job under the ledger's version with another event id, or for a user the ledger does not know, is dead-lettered", async () => {
    h = await startHarness({ httpTargets: 1, redisTarget: false, handlerTarget: false });
    await h.service.createPublisher('accounts').publishUserCreated({ id: 1, username: 'ada' });
    const server = h.http[0]!;
    await waitFor(() => server.requests.length === 1, { what: 'the real create' });

    await addForged(forged({ eventId: 'forged-same', version: 1 }));
    await addForged(forged({ eventId: 'forged-nobody', userId: 77, user: { id: 77 }, version: 1 }));
    expect((await deadLetter('forged-same.http-a')).message).toMatch(
      /was published as event .*, not forged-same/,
    );
    expect((await deadLetter('forged-nobody.http-a')).message).toBe(
      'the ledger holds no version of user "77"',
    );
    expect(server.requests).toHaveLength(1);
    expect((await h.service.getStats()).by_target['http-a']).toMatchObject({ delivered: 1, dead: 2 });
  });

  it("a forged repair sends the ledger's snapshot, never its own", async () => {
    h = await startHarness({ httpTargets: 1, redisTarget: false, handlerTarget: false });
    await h.service.createPublisher('accounts').publishUserCreated({ id: 1, email: 'real@example.com' });
    const server = h.http[0]!;
    await waitFor(() => server.requests.length === 1, { what: 'the real create' });

    await addForged(forged({ eventId: 'repair-v1-1', version: 1, repair: true }));
    await waitFor(() => server.requests.length === 2, { what: 'the repair' });
    const repair = JSON.parse(server.requests[1]!.body) as { data: { user: unknown }; version: number };
    expect(repair.data.user).toEqual({ id: 1, email: 'real@example.com' });
    expect(repair.version).toBe(1);
  });

  it('a job whose snapshot reaches for a prototype is dead-lettered as malformed, never sent', async () => {
    h = await startHarness({ httpTargets: 1, redisTarget: false, handlerTarget: false });
    const publisher = h.service.createPublisher('accounts');
    await publisher.publishUserCreated({ id: 1 });
    const server = h.http[0]!;
    await waitFor(() => server.requests.length === 1, { what: 'the real create' });

    const user = JSON.parse('{"id":1,"constructor":{"prototype":{"isAdmin":true}}}') as { id: number };
    await addForged(forged({ eventId: 'forged-proto', version: 1, user }));
    const record = await deadLetter('forged-proto.http-a');
    expect(record).toMatchObject({ reason: 'malformed' });
    expect(record.message).toMatch(/user\.constructor: is not an allowed key/);
    expect(server.requests).toHaveLength(1);
  });
});

describe('publish refuses what workers would refuse for ever', () => {
  let h: Harness;
  afterEach(async () => h?.close());

  const keysUnder = async () => (await h.redis.keys(`${h.prefix}*`)).sort();

  it.each([
    ['__proto__ at the top', '{"id":1,"__proto__":{"isAdmin":true}}', 'user.__proto__'],
    [
      'constructor.prototype nested',
      '{"id":1,"profile":{"constructor":{"prototype":{}}}}',
      'user.profile.constructor',
    ],
    ['prototype in a list', '{"id":1,"tags":[{"prototype":1}]}', 'user.tags.0.prototype'],
  ])('a snapshot with %s, naming the field', async (_what, json, field) => {
    h = await startHarness({ start: false, httpTargets: 1, redisTarget: false, handlerTarget: false });
    const before = await keysUnder();
    const user = JSON.parse(json) as { id: number };
    const error = await h.service
      .createPublisher('accounts')
      .publishUserCreated(user)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(field);
    expect(await keysUnder()).toEqual(before);
  });

  it('a user at the largest version gets no next version assigned: refused, naming version', async () => {
    h = await startHarness({ start: false, httpTargets: 1, redisTarget: false, handlerTarget: false });
    const publisher = h.service.createPublisher('accounts');
    await publisher.publishUserCreated({ id: 1 }, { version: Number.MAX_SAFE_INTEGER });
    const before = await keysUnder();
    const error = await publisher.publishUserUpdated({ id: 1, username: 'next' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('version');
    expect((error as Error).message).toMatch(/at version 9007199254740991, the largest/);
    expect(await keysUnder()).toEqual(before);
    await expect(
      publisher.publishUserUpdated({ id: 1 }, undefined, { version: Number.MAX_SAFE_INTEGER + 2 }),
    ).rejects.toMatchObject({ field: 'version' });
  });

  it('a second event under a version the ledger already holds: refused, naming version', async () => {
    h = await startHarness({ start: false, httpTargets: 1, redisTarget: false, handlerTarget: false });
    const publisher = h.service.createPublisher('accounts');
    await publisher.publishUserCreated({ id: 1 }, { id: 'evt-a', version: 5 });
    const error = await publisher
      .publishUserUpdated({ id: 1, username: 'b' }, undefined, { id: 'evt-b', version: 5 })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ field: 'version' });
    expect((error as Error).message).toMatch(/5 is already recorded for user 1 by another event \(evt-a\)/);
    // The same event again is a duplicate, not a conflict.
    expect(await publisher.publishUserCreated({ id: 1 }, { id: 'evt-a', version: 5 })).toMatchObject({
      duplicate: true,
    });
  });
});

describe('the backlog cap', () => {
  let h: Harness;
  afterEach(async () => h?.close());

  it('is one atomic step with the enqueue: 50 concurrent publishes to an idle target, queueSize 5, 5 accepted', async () => {
    h = await startHarness({
      start: false,
      httpTargets: 1,
      redisTarget: false,
      handlerTarget: false,
      config: { queueSize: 5 },
    });
    const publisher = h.service.createPublisher('accounts');
    const outcomes = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) => publisher.publishUserCreated({ id: i + 1 })),
    );
    const accepted = outcomes.filter((o) => o.status === 'fulfilled');
    const refused = outcomes.filter((o) => o.status === 'rejected');
    expect(accepted).toHaveLength(5);
    for (const r of refused) expect(r.reason).toBeInstanceOf(QueueFullError);
    expect(await h.service.deployment.queues.backlog('http-a')).toBe(5);
  });
});
