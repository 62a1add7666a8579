/**
 * The dead-letter store is bounded and paged: records past deadLetterRetention or beyond
 * maxDeadLetters per target are trimmed, logged and counted; listing and replaying read a page
 * of an index, not the whole queue; records from before the index existed are found.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import type { DeadLetterRecord } from '../../src/jobs/dead-letter.js';
import { Deployment } from '../../src/deployment.js';
import { createLogger } from '../../src/logger.js';
import { deletePrefix, testRedis, uniquePrefix } from '../helpers/redis.js';
import { capturingLogger } from '../helpers/logs.js';

const T0 = Date.parse('2026-03-01T00:00:00Z');

function record(i: number, target = 'orders', at = T0 + i * 1000): DeadLetterRecord {
  const jobId = `evt-${i}.${target}`;
  return {
    id: jobId,
    service: target,
    queue: `deliver.${target}`,
    jobId,
    eventId: `evt-${i}`,
    userId: i,
    type: 'user.updated',
    version: 1,
    reason: 'non_retryable',
    code: 'http_400',
    message: 'HTTP 400 from orders',
    attempts: 1,
    history: [],
    failedAt: new Date(at).toISOString(),
    data: { v: 1, eventId: `evt-${i}`, service: target, userId: i },
  };
}

describe('dead letters: bounded and paged', () => {
  let redis: Redis;
  let prefix: string;
  let deployment: Deployment;
  let clock = T0;

  afterEach(async () => {
    await deployment?.close();
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  function open(config: Record<string, unknown> = {}, logger = createLogger({ silent: true })) {
    redis = testRedis();
    prefix = uniquePrefix('dlq');
    clock = T0;
    deployment = new Deployment(
      {
        prefix,
        targets: [
          { service: 'orders', kind: 'handler' },
          { service: 'billing', kind: 'handler' },
        ],
        ...config,
      },
      redis,
      { logger, now: () => clock },
    );
    return deployment.deadLetters;
  }

  it('keeps at most maxDeadLetters per target: the oldest go, logged and counted, the other target untouched', async () => {
    const { entries, logger } = capturingLogger();
    const store = open({ maxDeadLetters: 3 }, logger);
    for (let i = 1; i <= 5; i++) await store.record(record(i));
    await store.record(record(6, 'billing'));

    const orders = await deployment.listDeadLetters({ service: 'orders' });
    expect(orders.total).toBe(3);
    expect(orders.records.map((r) => r.id)).toEqual(['evt-5.orders', 'evt-4.orders', 'evt-3.orders']);
    expect((await deployment.listDeadLetters({ service: 'billing' })).total).toBe(1);
    expect((await deployment.listDeadLetters()).total).toBe(4);
    const stats = await deployment.getStats();
    expect(stats.by_target.orders).toMatchObject({ trimmed: 2 });
    expect(stats.by_target.billing).toMatchObject({ trimmed: 0 });
    const lines = entries.filter((e) => /dead letters trimmed/.test(String(e.message)));
    expect(lines.map((e) => [e.target, e.count])).toEqual([
      ['orders', 1],
      ['orders', 1],
    ]);
    expect(lines[0]?.message).toMatch(/left for the consistency sweep/);
  });

  it('trims records older than deadLetterRetention', async () => {
    const store = open({ deadLetterRetention: '1h' });
    for (let i = 1; i <= 3; i++) await store.record(record(i));
    clock = T0 + 3_600_000 + 2_500; // records 1 and 2 are now older than an hour
    expect(await store.trim('orders')).toBe(2);
    expect((await deployment.listDeadLetters()).records.map((r) => r.id)).toEqual(['evt-3.orders']);
  });

  it('lists a page by reading only that page, newest first, with filters and totals', async () => {
    const store = open({ maxDeadLetters: 100_000 });
    const pipeline = redis.pipeline();
    // 2,000 records, straight through the store's own record() would take a while: add half by
    // hand exactly as record() lays them out (job + both indexes), the rest through record().
    for (let i = 1; i <= 1_000; i++) {
      const r = record(i, i % 2 ? 'orders' : 'billing');
      const key = deployment.queues.deadLetter.toKey(r.id);
      pipeline.hset(key, 'name', r.reason, 'data', JSON.stringify(r), 'opts', '{}', 'timestamp', String(T0));
      pipeline.zadd(deployment.keyspace.deployment.deadLetterIndex, Date.parse(r.failedAt), r.id);
      pipeline.zadd(
        deployment.keyspace.deployment.deadLetterIndexOf(r.service),
        Date.parse(r.failedAt),
        r.id,
      );
    }
    await pipeline.exec();
    await redis.set(deployment.keyspace.deployment.deadLetterIndexed, '1');
    for (let i = 1_001; i <= 1_010; i++) await store.record(record(i, i % 2 ? 'orders' : 'billing'));

    let commands = 0;
    const send = redis.sendCommand.bind(redis);
    redis.sendCommand = (...args: Parameters<typeof send>) => {
      commands++;
      return send(...args);
    };
    const page = await deployment.listDeadLetters({ service: 'orders', offset: 10, limit: 5 });
    redis.sendCommand = send;
    expect(page.total).toBe(505);
    expect(page.records.map((r) => r.id)).toEqual([989, 987, 985, 983, 981].map((i) => `evt-${i}.orders`));
    // ZCOUNT, ZREVRANGEBYSCORE and one HGET per record: a page, whatever the queue holds.
    expect(commands).toBeLessThanOrEqual(2 + 5);

    const since = await deployment.listDeadLetters({ since: new Date(T0 + 1_005_000), limit: 100 });
    expect(since.total).toBe(6);
    expect(since.records[0]?.id).toBe('evt-1010.billing');
  });

  it('replays and purges page by page, every selected record once', async () => {
    const store = open({ maxDeadLetters: 100_000 });
    for (let i = 1; i <= 1_203; i++) await store.record(record(i, i % 3 ? 'orders' : 'billing'));
    clock = T0 + 2_000_000; // now: after every record
    const progress: number[] = [];
    const purged = await deployment.purgeDeadLetters({ service: 'orders' }, (done) => progress.push(done));
    expect(purged).toHaveLength(802);
    expect(new Set(purged).size).toBe(802);
    expect(progress[progress.length - 1]).toBe(802);
    expect((await deployment.listDeadLetters()).total).toBe(401);
    const replayed = await deployment.replayDeadLetters({ service: 'billing' });
    expect(replayed).toHaveLength(401);
    expect((await deployment.listDeadLetters()).total).toBe(0);
    expect(await deployment.queues.delivery('billing').getJobCountByTypes('wait')).toBe(401);
  });

  it('finds dead letters recorded before the index existed', async () => {
    open();
    for (let i = 1; i <= 3; i++) {
      const r = record(i);
      await deployment.queues.deadLetter.add(r.reason, r, { jobId: r.id });
    }
    const listed = await deployment.listDeadLetters();
    expect(listed.records.map((r) => r.id)).toEqual(['evt-3.orders', 'evt-2.orders', 'evt-1.orders']);
    expect(await redis.get(deployment.keyspace.deployment.deadLetterIndexed)).toBe('1');
  });
});
