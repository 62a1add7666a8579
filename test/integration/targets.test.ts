import { afterEach, describe, expect, it } from '@jest/globals';
import {
  DeliveryError,
  UserSyncService,
  registerExecutor,
  unregisterExecutor,
  type DeliveryTask,
  type Executor,
} from '../../src/index.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { capturingLogger } from '../helpers/logs.js';
import { deletePrefix, testRedis, uniquePrefix, waitFor } from '../helpers/redis.js';

describe('custom executors, rate limits, logs and shared figures', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
    unregisterExecutor('search-index');
  });

  it('delivers to a custom kind registered with registerExecutor, which can refuse for good', async () => {
    const received: DeliveryTask[] = [];
    const executor: Executor = {
      async execute(task, target, ctx) {
        expect(target.service).toBe('search');
        expect(ctx.signal.aborted).toBe(false);
        if (task.user.username === 'refused') {
          throw new DeliveryError('index rejected the document', {
            retryable: false,
            status: 422,
            failureCode: 'rejected',
          });
        }
        received.push(task);
        return { status: 201 };
      },
    };
    registerExecutor('search-index', executor);
    h = await startHarness({
      httpTargets: 0,
      redisTarget: false,
      handlerTarget: false,
      config: { targets: [{ service: 'search', kind: 'search-index' }] },
    });
    const publisher = h.service.createPublisher('accounts');
    const ok = await publisher.publishUserCreated({ id: 1, username: 'ada' });
    await publisher.publishUserCreated({ id: 2, username: 'refused' });
    await waitFor(async () => (await h!.service.getStats()).by_target.search?.dead === 1, {
      what: 'one dead',
    });
    await waitFor(() => received.length === 1, { what: 'one delivered' });
    expect(received[0]).toMatchObject({
      taskId: `${ok.eventId}.search`,
      type: 'user.created',
      version: 1,
      attempt: 1,
    });
    const [dead] = (await h.service.listDeadLetters()).records;
    expect(dead).toMatchObject({ reason: 'non_retryable', code: 'rejected', status: 422, attempts: 1 });
    expect(() => registerExecutor('http', executor)).toThrow(/built-in/);
  });

  it("keeps to a target's rate limit across its workers", async () => {
    h = await startHarness({
      httpTargets: 1,
      redisTarget: false,
      handlerTarget: false,
      config: { workers: 10 },
      targetOverrides: { 'http-a': { rateLimit: { max: 5, duration: '1s' } } },
    });
    const publisher = h.service.createPublisher('accounts');
    for (let i = 1; i <= 12; i++) await publisher.publishUserCreated({ id: i });
    const server = h.http[0]!;
    await waitFor(() => server.requests.length === 12, { timeoutMs: 10_000, what: 'twelve deliveries' });
    // BullMQ's limiter opens a window of 1 s at the first job it starts and starts no sixth job
    // in it: the 6th job starts a window at least 1 s after the 1st, the 11th 2 s after. Read
    // when each job started (processedOn), not when its request arrived, which load can delay.
    const queue = h.service.deployment.queues.delivery('http-a');
    await waitFor(async () => (await queue.getJobCountByTypes('completed')) === 12, {
      what: 'twelve completed',
    });
    const jobs = await queue.getJobs(['completed']);
    const started = jobs.map((job) => job.processedOn ?? 0).sort((a, b) => a - b);
    expect(started).toHaveLength(12);
    expect(started[5]! - started[0]!).toBeGreaterThanOrEqual(950);
    expect(started[10]! - started[0]!).toBeGreaterThanOrEqual(1_950);
  });

  it('logs one line per delivery outcome with ids and figures, never emails, phones or secrets', async () => {
    const { entries, logger } = capturingLogger();
    h = await startHarness({ httpTargets: 1, redisTarget: false, handlerTarget: false, start: false });
    const service = new UserSyncService(h.service.config, h.redis, { logger });
    await service.start();
    const server = h.http[0]!;
    server.respond = (_req, res, i) => ((res.statusCode = i === 0 ? 500 : 200), res.end());
    const publisher = service.createPublisher('accounts');
    const user = { id: 7, username: 'grace', email: 'grace.hopper@example.com', phone: '+15550100' };
    const { eventId } = await publisher.publishUserCreated(user);
    await waitFor(() => entries.some((e) => e.outcome === 'delivered'), { what: 'a delivered line' });
    await service.close();
    const outcomes = entries.filter((e) => typeof e.outcome === 'string');
    expect(outcomes.map((e) => e.outcome)).toEqual(['retry', 'delivered']);
    for (const [i, line] of outcomes.entries()) {
      expect(line).toMatchObject({
        task_id: `${eventId}.http-a`,
        target: 'http-a',
        attempt: i + 1,
        user_id: 7,
      });
      expect(typeof line.ms).toBe('number');
    }
    expect(outcomes[0]).toMatchObject({ status: 500, code: 'http_500' });
    expect(outcomes[1]).toMatchObject({ status: 200, version: 1 });
    const text = JSON.stringify(entries);
    expect(text).not.toContain('grace.hopper@example.com');
    expect(text).not.toContain('+15550100');
    for (const secret of h.secrets) expect(text).not.toContain(secret.slice(6));
  });

  it('every process reports the same figures, kept in Redis; workers count every live process', async () => {
    const redis = testRedis();
    const prefix = uniquePrefix('shared');
    const config = { prefix, workers: 3, targets: [{ service: 'audit', kind: 'handler' }] };
    const { UserEventSubscriber, createLogger } = await import('../../src/index.js');
    const options = { subscriber: new UserEventSubscriber(), logger: createLogger({ silent: true }) };
    const one = new UserSyncService(config, redis, options);
    const two = new UserSyncService({ ...config, workers: 4 }, redis, options);
    try {
      await one.start();
      await two.start();
      expect(await one.getQueueStatus()).toMatchObject({ workers: 7, processes: 2, is_running: true });
      const publisher = one.createPublisher('accounts');
      for (let i = 1; i <= 6; i++) await publisher.publishUserCreated({ id: i });
      await waitFor(async () => (await two.getStats()).completed_tasks === 6, { what: 'six delivered' });
      expect(await one.getStats()).toEqual(await two.getStats());
      await two.close();
      expect(await one.getQueueStatus()).toMatchObject({ workers: 3, processes: 1 });
      // A new instance (a restarted process) reads the same figures, and so does one whose
      // config names no target at all (a CLI or dashboard with a partial config).
      const three = new UserSyncService(config, redis, options);
      expect((await three.getStats()).by_target.audit).toMatchObject({ delivered: 6 });
      await three.close();
      const bare = new UserSyncService({ prefix }, redis, options);
      expect((await bare.getStats()).by_target.audit).toMatchObject({ delivered: 6 });
      await bare.close();
    } finally {
      await one.close();
      await two.close();
      await deletePrefix(redis, prefix);
      await redis.quit();
    }
  });
});
