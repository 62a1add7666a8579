import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Queue } from 'bullmq';
import { deliveryQueueName } from '../../src/index.js';
import { ROOT, requireBuild, spawnScript, type CliProcess } from '../helpers/cli.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { TEST_REDIS_URL, waitFor } from '../helpers/redis.js';

describe('a worker process killed with SIGKILL', () => {
  let h: Harness | undefined;
  let child: CliProcess | undefined;
  beforeAll(() => requireBuild());
  afterEach(async () => {
    child?.kill();
    await child?.exited();
    await h?.close();
    child = undefined;
    h = undefined;
  });

  function startChild(harness: Harness, env: Record<string, string> = {}) {
    return spawnScript(`${ROOT}/test/fixtures/crash-worker.mjs`, [], {
      env: { PREFIX: harness.prefix, TARGET_URL: harness.http[0]!.url, REDIS_URL: TEST_REDIS_URL, ...env },
    });
  }

  it('mid-delivery: another worker delivers the job, under the same webhook-id', async () => {
    h = await startHarness({
      httpTargets: 1,
      redisTarget: false,
      handlerTarget: false,
      start: false,
      config: { lockDuration: 1000 },
    });
    const server = h.http[0]!;
    server.respond = (_req, res, i) => (i === 0 ? undefined : res.end('ok')); // the first request hangs
    child = startChild(h);
    await child.waitForOutput(/ready/);
    const { eventId } = await h.service
      .createPublisher('accounts')
      .publishUserCreated({ id: 1, username: 'ada' });
    await waitFor(() => server.requests.length === 1, { what: 'the first request' });
    child.kill();
    await child.exited();
    await h.service.start();
    await waitFor(async () => (await h!.service.getStats()).completed_tasks === 1, {
      timeoutMs: 15_000,
      what: 'redelivery',
    });
    expect(server.requests.map((r) => r.headers['webhook-id'])).toEqual([
      `${eventId}.http-a`,
      `${eventId}.http-a`,
    ]);
    expect(await h.service.getStats()).toMatchObject({ total_tasks: 1, completed_tasks: 1, failed_tasks: 0 });
    expect((await h.service.listDeadLetters()).total).toBe(0);
  });

  it('right after recording a dead letter: the dead letter is recorded exactly once', async () => {
    h = await startHarness({
      httpTargets: 1,
      redisTarget: false,
      handlerTarget: false,
      start: false,
      config: { lockDuration: 1000 },
    });
    const server = h.http[0]!;
    server.respond = (_req, res) => ((res.statusCode = 400), res.end('bad request'));
    child = startChild(h, { CRASH_AFTER_DEAD_LETTER: '1' });
    await child.waitForOutput(/ready/);
    const { eventId } = await h.service
      .createPublisher('accounts')
      .publishUserCreated({ id: 2, username: 'bob' });
    expect((await child.exited()).signal).toBe('SIGKILL');
    // The record is there, but the job is still active under a dead worker's lock.
    expect((await h.service.listDeadLetters()).total).toBe(1);
    const queue = new Queue(deliveryQueueName('http-a'), { connection: h.redis, prefix: h.prefix });
    expect(await (await queue.getJob(`${eventId}.http-a`))!.getState()).toBe('active');
    await h.service.start();
    await waitFor(async () => (await (await queue.getJob(`${eventId}.http-a`))!.getState()) === 'failed', {
      timeoutMs: 15_000,
      what: 'the job failed for good',
    });
    const { total, records } = await h.service.listDeadLetters();
    expect(total).toBe(1);
    expect(records[0]).toMatchObject({ id: `${eventId}.http-a`, reason: 'non_retryable', status: 400 });
    const stats = await h.service.getStats();
    expect(stats).toMatchObject({ total_tasks: 1, failed_tasks: 1 });
    expect(stats.by_target['http-a']).toMatchObject({ dead: 1, delivered: 0 });
    await queue.close();
  });
});
