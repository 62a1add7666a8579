/**
 * Format 3 job data: a publish the ledger takes leaves the snapshot and timestamp in the ledger
 * (once per event) instead of in every target's job; when a newer version replaces the event in
 * the ledger, its unfinished jobs get them back (format 2). Every version still reaches a target
 * that does not coalesce with its own snapshot; a ledger snapshot nobody could have published is
 * never sent.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { UserEventPublisher, createLogger, type HandledEvent } from '../../src/index.js';
import { formatLedger, parseLedger } from '../../src/jobs/ledger.js';
import { workerConnection } from '../../src/redis.js';
import { DeliveryWorker } from '../../src/workers/delivery-worker.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { waitFor } from '../helpers/redis.js';

const snapshot = (id: number, name: string) => ({ id, username: name, email: `${name}@example.com` });

describe('job data by reference to the ledger (format 3)', () => {
  let h: Harness;
  afterEach(async () => h?.close());

  /** Two handler targets: `audit` takes every version, `latest` coalesces. */
  async function start(): Promise<Harness> {
    return startHarness({
      httpTargets: 0,
      redisTarget: false,
      start: false,
      targetOverrides: { audit: { coalesce: false } },
      config: { targets: [{ service: 'latest', kind: 'handler', coalesce: true }] },
    });
  }

  const jobData = async (queue: string, jobId: string) => {
    const key = h.service.deployment.keyspace.partition(0).job(queue, jobId);
    return { data: await h.redis.hget(key, 'data'), encoding: await h.redis.object('ENCODING', key) };
  };

  const byTarget = (service: string): HandledEvent[] => h.handled.filter((e) => e.service === service);

  it('keeps each version whole for a target that takes every version, and one snapshot per event in Redis', async () => {
    h = await start();
    const publisher = h.service.createPublisher('accounts');
    const published = [];
    for (const name of ['first', 'second'])
      published.push(await publisher.publishUserUpdated(snapshot(1, name), { username: name }));
    published.push(await publisher.publishUserUpdated(snapshot(1, 'third')));
    const stored = await Promise.all(
      published.map(async (p) => (await jobData('deliver.audit', `${p.eventId}.audit`)).data),
    );
    // The latest event's jobs hold no snapshot and stay in Redis's compact hash encoding; the
    // two it and its predecessor replaced in the ledger were given theirs back.
    const latest = await jobData('deliver.audit', `${published[2]!.eventId}.audit`);
    expect(JSON.parse(latest.data ?? '')).toEqual({
      version: 3,
      v: 3,
      userId: 1,
      source: 'accounts',
    });
    expect(latest.encoding).toBe('listpack');
    for (const [i, name] of ['first', 'second'].entries()) {
      const data = JSON.parse(stored[i] ?? '') as Record<string, unknown>;
      expect(data).toMatchObject({ v: 2, version: i + 1, user: snapshot(1, name) });
      expect(typeof data.timestamp).toBe('string');
    }

    await h.service.start();
    await waitFor(() => byTarget('audit').length === 3 && byTarget('latest').length >= 1, {
      what: 'every version at audit, the latest at latest',
    });
    expect(byTarget('audit').map((e) => [e.version, e.user.username, e.id])).toEqual(
      published.map((p, i) => [i + 1, ['first', 'second', 'third'][i], p.eventId]),
    );
    // Each delivery carries its own event's timestamp, from the job or from the ledger.
    const ledger = parseLedger(
      (await h.redis.get(h.service.deployment.keyspace.partition(0).ledger('1'))) ?? '',
    );
    // (Two publishes in the same millisecond share a timestamp: compared one by one, not as a set.)
    const own = [
      ...stored.slice(0, 2).map((data) => (JSON.parse(data ?? '') as { timestamp: string }).timestamp),
      (ledger as { timestamp: string }).timestamp,
    ];
    expect(byTarget('audit').map((e) => e.timestamp)).toEqual(own);
    expect(byTarget('latest').map((e) => e.version)).toEqual([3]);
  });

  it('stores an older version the ledger does not take whole from the start, and a finished job is left as it is', async () => {
    h = await start();
    const publisher = h.service.createPublisher('accounts');
    await h.service.start();
    const newer = await publisher.publishUserUpdated(snapshot(2, 'five'), undefined, { version: 5 });
    await waitFor(() => byTarget('audit').length === 1, { what: 'version 5 at audit' });
    const completed = await jobData('deliver.audit', `${newer.eventId}.audit`);
    expect(JSON.parse(completed.data ?? '')).toMatchObject({ v: 3, version: 5 });
    const older = await publisher.publishUserUpdated(snapshot(2, 'four'), undefined, { version: 4 });
    expect(older.ledgerUpdated).toBe(false);
    expect(JSON.parse((await jobData('deliver.audit', `${older.eventId}.audit`)).data ?? '')).toMatchObject({
      v: 2,
      version: 4,
      user: snapshot(2, 'four'),
    });
    await publisher.publishUserUpdated(snapshot(2, 'six'), undefined, { version: 6 });
    await waitFor(
      async () =>
        (await h.service.getStats()).by_target.audit?.superseded === 1 && byTarget('audit').length === 2,
      { what: 'versions 5 and 6 at audit, 4 superseded' },
    );
    // Version 4 came after 5: superseded at the target's watermark, not sent.
    expect(byTarget('audit').map((e) => e.version)).toEqual([5, 6]);
    expect(await jobData('deliver.audit', `${newer.eventId}.audit`)).toEqual(completed);
  });

  it('gives the snapshot back at a target the newer event does not go to (its event filter)', async () => {
    h = await startHarness({
      httpTargets: 0,
      redisTarget: false,
      start: false,
      targetOverrides: { audit: { coalesce: true, events: ['user.created', 'user.updated'] } },
    });
    const publisher = h.service.createPublisher('accounts');
    const created = await publisher.publishUserCreated(snapshot(5, 'kept'));
    const suspended = await publisher.publishUserStatusChanged({
      ...snapshot(5, 'kept'),
      status: 'suspended',
    });
    expect(suspended.tasks).toEqual([]);
    expect(JSON.parse((await jobData('deliver.audit', `${created.eventId}.audit`)).data ?? '')).toMatchObject(
      {
        v: 2,
        user: snapshot(5, 'kept'),
      },
    );
    await h.service.start();
    await waitFor(() => h.handled.length === 1, { what: 'the creation at audit' });
    expect(h.handled[0]).toMatchObject({ version: 1, type: 'user.created', user: snapshot(5, 'kept') });
  });

  it('sends its own event when a newer publish gave the job its snapshot back after the worker had read it', async () => {
    h = await startHarness({
      httpTargets: 0,
      redisTarget: false,
      start: false,
      targetOverrides: { audit: { events: ['user.created'] } },
    });
    const d = h.service.deployment;
    const created = await h.service.createPublisher('accounts').publishUserCreated(snapshot(6, 'first'));
    // A worker reads the job (format 3) ...
    const read = await d.queues.delivery('audit', 0).getJob(`${created.eventId}.audit`);
    expect(read?.data).toMatchObject({ v: 3 });
    // ... then, before it takes the user's lock, an update it does not take moves the ledger on.
    await h.service.createPublisher('accounts').publishUserUpdated(snapshot(6, 'second'));
    const target = d.config.targets.find((t) => t.service === 'audit')!;
    const connection = workerConnection(h.redis);
    const worker = new DeliveryWorker({
      target,
      config: d.config,
      executor: h.subscriber,
      workerConnection: connection,
      redis: h.redis,
      partition: 0,
      keys: d.keyspace.partition(0),
      concurrency: 1,
      deadLetters: d.deadLetters,
      logger: createLogger({ silent: true }),
    });
    try {
      expect(await worker.process(read!, undefined)).toMatchObject({ outcome: 'delivered', version: 1 });
    } finally {
      await worker.worker.close(true);
      await connection.quit();
    }
    expect(h.handled).toHaveLength(1);
    expect(h.handled[0]).toMatchObject({ version: 1, type: 'user.created', user: snapshot(6, 'first') });
  });

  it("sends the ledger's latest for a job its event left behind without a snapshot (a target list changed)", async () => {
    h = await start();
    const k = h.service.deployment.keyspace.partition(0);
    const first = await h.service.createPublisher('accounts').publishUserCreated(snapshot(3, 'old'));
    // A publisher that no longer lists audit replaces the event in the ledger.
    const narrow = new UserEventPublisher(h.redis, 'accounts', {
      config: { prefix: h.prefix, targets: [{ service: 'latest', kind: 'handler' }] },
      logger: createLogger({ silent: true }),
    });
    await narrow.publishUserUpdated(snapshot(3, 'new'));
    await narrow.close();
    expect(JSON.parse((await jobData('deliver.audit', `${first.eventId}.audit`)).data ?? '')).toMatchObject({
      v: 3,
    });
    expect(parseLedger((await h.redis.get(k.ledger('3'))) ?? '')).toMatchObject({ version: 2 });
    await h.service.start();
    await waitFor(() => byTarget('audit').length === 1, { what: 'a delivery at audit' });
    expect(byTarget('audit')[0]).toMatchObject({
      version: 2,
      type: 'user.updated',
      user: snapshot(3, 'new'),
    });
  });

  it("publishes past a key of another type where the replaced event's job would be, leaving it alone", async () => {
    h = await start();
    const publisher = h.service.createPublisher('accounts');
    const first = await publisher.publishUserCreated(snapshot(7, 'first'));
    const k = h.service.deployment.keyspace.partition(0);
    const jobKey = k.job('deliver.audit', `${first.eventId}.audit`);
    await h.redis.del(jobKey);
    await h.redis.rpush(jobKey, 'planted');
    const second = await publisher.publishUserUpdated(snapshot(7, 'second'));
    expect(second.version).toBe(2);
    expect(await h.redis.lrange(jobKey, 0, -1)).toEqual(['planted']);
    expect(JSON.parse((await jobData('deliver.latest', `${first.eventId}.latest`)).data ?? '')).toMatchObject(
      {
        v: 2,
        user: snapshot(7, 'first'),
      },
    );
  });

  it.each([
    ['reaches for a prototype', '{"id":4,"__proto__":{"admin":true}}', /__proto__: is not an allowed key/],
    ['is not JSON', '{"id":4,', /is not one a publish would take/],
    ["is another user's", '{"id":99,"username":"mallory"}', /is another user's/],
  ])('dead-letters a job whose ledger snapshot %s, and sends nothing', async (_what, planted, why) => {
    h = await start();
    const k = h.service.deployment.keyspace.partition(0);
    const published = await h.service.createPublisher('accounts').publishUserCreated(snapshot(4, 'real'));
    const entry = parseLedger((await h.redis.get(k.ledger('4'))) ?? '') as Parameters<typeof formatLedger>[0];
    await h.redis.set(k.ledger('4'), formatLedger({ ...entry, snapshot: planted }));
    await h.service.start();
    for (const target of ['audit', 'latest']) {
      const record = await waitFor(
        async () => (await h.service.listDeadLetters({ ids: [`${published.eventId}.${target}`] })).records[0],
        { what: `the dead letter at ${target}` },
      );
      expect(record).toMatchObject({ reason: 'not_in_ledger' });
      expect(record.message).toMatch(why);
    }
    expect(h.handled).toHaveLength(0);
  });
});
