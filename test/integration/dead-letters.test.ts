import { afterEach, describe, expect, it } from '@jest/globals';
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { deliveryQueueName, type UserSnapshot } from '../../src/index.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { waitFor } from '../helpers/redis.js';

const user = (id: number, role = 'member'): UserSnapshot => ({
  id,
  username: `u${id}`,
  email: `u${id}@example.com`,
  role,
});

describe('dead-letter queue', () => {
  let h: Harness;
  afterEach(async () => h?.close());

  async function deadCount(n: number) {
    return waitFor(async () => ((await h.service.listDeadLetters()).total === n ? true : undefined), {
      what: `${n} dead letters`,
    });
  }

  it('lists, filters, replays (by id, by target, all) and purges; a replay delivers', async () => {
    h = await startHarness({ redisTarget: false, handlerTarget: false });
    const [a, b] = h.http as [NonNullable<Harness['http'][0]>, NonNullable<Harness['http'][0]>];
    let accept = false;
    for (const server of [a, b])
      server.respond = (_req, res) => ((res.statusCode = accept ? 200 : 400), res.end('no'));
    const publisher = h.service.createPublisher('accounts');
    const e1 = await publisher.publishUserCreated(user(1));
    const e2 = await publisher.publishUserCreated(user(2));
    const e3 = await publisher.publishUserCreated(user(3));
    await deadCount(6);
    const list = await h.service.listDeadLetters({ service: 'http-a' });
    expect(list.total).toBe(3);
    expect(list.records.map((r) => r.id).sort()).toEqual(
      [e1, e2, e3].map((e) => `${e.eventId}.http-a`).sort(),
    );
    expect((await h.service.listDeadLetters({ limit: 2, offset: 1 })).records).toHaveLength(2);
    expect((await h.service.listDeadLetters({ since: new Date(Date.now() + 60_000) })).total).toBe(0);

    accept = true;
    // by id
    expect(await h.service.replayDeadLetters({ ids: [`${e1.eventId}.http-b`] })).toEqual([
      `${e1.eventId}.http-b`,
    ]);
    await waitFor(
      () => b.requests.some((r) => r.headers['webhook-id'] === `${e1.eventId}.http-b` && accept),
      { what: 'replayed delivery' },
    );
    await waitFor(async () => (await h.service.getStats()).by_target['http-b']!.delivered === 1, {
      what: 'delivered',
    });
    // by target, with progress
    const progress: Array<[number, number]> = [];
    expect(
      (await h.service.replayDeadLetters({ service: 'http-a' }, (d, t) => progress.push([d, t]))).sort(),
    ).toEqual([e1, e2, e3].map((e) => `${e.eventId}.http-a`).sort());
    await waitFor(async () => (await h.service.getStats()).by_target['http-a']!.delivered === 3, {
      what: 'http-a delivered',
    });
    expect(progress).toEqual([
      [1, 3],
      [2, 3],
      [3, 3],
    ]);
    await deadCount(2);
    // purge what is left
    expect(await h.service.purgeDeadLetters({ service: 'http-b' })).toHaveLength(2);
    await deadCount(0);
    const queue = new Queue(deliveryQueueName('http-b'), { connection: h.redis, prefix: h.prefix });
    expect(await queue.getFailedCount()).toBe(0);
    await queue.close();
    const stats = await h.service.getStats();
    expect(stats.by_target['http-a']).toEqual({
      delivered: 3,
      superseded: 0,
      retried: 0,
      dead: 3,
      replayed: 3,
      trimmed: 0,
    });
    expect(stats.by_target['http-b']).toEqual({
      delivered: 1,
      superseded: 0,
      retried: 0,
      dead: 3,
      replayed: 1,
      trimmed: 0,
    });
  });

  it('a replayed dead letter still obeys versions: superseded if the target has something newer', async () => {
    h = await startHarness({ httpTargets: 1, redisTarget: false, handlerTarget: false });
    const server = h.http[0]!;
    server.respond = (req, res) => {
      const body = JSON.parse(req.body) as { version: number };
      res.statusCode = body.version === 1 ? 400 : 200;
      res.end();
    };
    const publisher = h.service.createPublisher('accounts');
    await publisher.publishUserCreated(user(4), { version: 1 });
    await deadCount(1);
    await publisher.publishUserUpdated(user(4, 'newer'), undefined, { version: 2 });
    await waitFor(async () => (await h.service.getStats()).by_target['http-a']!.delivered === 1, {
      what: 'v2 delivered',
    });
    server.respond = (_req, res) => res.end();
    await h.service.replayDeadLetters({ service: 'http-a' });
    await waitFor(async () => (await h.service.getStats()).by_target['http-a']!.superseded === 1, {
      what: 'replay superseded',
    });
    expect(server.requests.map((r) => (JSON.parse(r.body) as { version: number }).version)).toEqual([1, 2]);
  });

  it('replays from the record when the original failed job is gone', async () => {
    h = await startHarness({ httpTargets: 1, redisTarget: false, handlerTarget: false });
    const server = h.http[0]!;
    server.respond = (_req, res) => ((res.statusCode = 404), res.end());
    const { eventId } = await h.service.createPublisher('accounts').publishUserCreated(user(5));
    await deadCount(1);
    const queue = new Queue(deliveryQueueName('http-a'), { connection: h.redis, prefix: h.prefix });
    await (await queue.getJob(`${eventId}.http-a`))!.remove();
    server.respond = (_req, res) => res.end();
    await h.service.replayDeadLetters({ ids: [`${eventId}.http-a`] });
    await waitFor(async () => (await h.service.getStats()).completed_tasks === 1, {
      what: 'replayed from record',
    });
    expect(server.requests.at(-1)!.headers['webhook-id']).toBe(`${eventId}.http-a`);
    await queue.close();
  });

  it('dead-letters malformed jobs written straight into a queue, and keeps delivering', async () => {
    h = await startHarness({ httpTargets: 1, redisTarget: false, handlerTarget: false });
    const queue = new Queue(deliveryQueueName('http-a'), { connection: h.redis, prefix: h.prefix });
    await queue.add('user.created', { hello: 'world' }, { jobId: 'garbage-1' });
    await queue.add('user.created', 'not even an object', { jobId: 'garbage-2' });
    await queue.add('user.created', {
      v: 1,
      eventId: 'e1',
      service: 'somewhere-else',
      type: 'user.created',
      userId: 1,
      version: 1,
      user: { id: 1 },
      timestamp: new Date().toISOString(),
      source: 'x',
    });
    const good = await h.service.createPublisher('accounts').publishUserCreated(user(6));
    await deadCount(3);
    await waitFor(async () => (await h.service.getStats()).completed_tasks === 1, { what: 'good delivery' });
    expect(h.http[0]!.requests.map((r) => r.headers['webhook-id'])).toEqual([`${good.eventId}.http-a`]);
    const records = (await h.service.listDeadLetters()).records;
    expect(records.every((r) => r.reason === 'malformed' && r.attempts === 1)).toBe(true);
    expect(records.find((r) => r.jobId === 'garbage-1')!.message).toMatch(/malformed job data: v:/);
    expect(records.find((r) => r.jobId === 'garbage-2')!.data).toBe('not even an object');
    expect(records.some((r) => /somewhere-else/.test(r.message))).toBe(true);
    // Nothing was sent anywhere for the malformed jobs.
    expect(h.http[0]!.requests).toHaveLength(1);
    await queue.close();
  });

  it('records a job that BullMQ failed on its own (stalled too often) on reconcile', async () => {
    h = await startHarness({ httpTargets: 1, redisTarget: false, handlerTarget: false, start: false });
    const queue = new Queue(deliveryQueueName('http-a'), { connection: h.redis, prefix: h.prefix });
    const { eventId } = await h.service.createPublisher('accounts').publishUserCreated(user(7));
    const job = (await queue.getJob(`${eventId}.http-a`))!;
    // Fail it the way BullMQ does when a job stalls more than maxStalledCount times.
    const token = 'manual';
    const connection = h.redis.duplicate({ maxRetriesPerRequest: null });
    const worker = new Worker(deliveryQueueName('http-a'), null, { connection, prefix: h.prefix });
    const taken = await worker.getNextJob(token);
    expect(taken?.id).toBe(job.id);
    await taken.moveToFailed(new UnrecoverableError('job stalled more than allowable limit'), token);
    await worker.close();
    await connection.quit();
    expect(await h.service.deployment.deadLetters.reconcile('http-a', 0)).toBe(1);
    expect(await h.service.deployment.deadLetters.reconcile('http-a', 0)).toBe(0);
    const [record] = (await h.service.listDeadLetters()).records;
    expect(record).toMatchObject({
      id: `${eventId}.http-a`,
      reason: 'failed',
      message: 'job stalled more than allowable limit',
    });
    await queue.close();
  });
});
