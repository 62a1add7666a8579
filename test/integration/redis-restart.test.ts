import { afterEach, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { UserSyncService, createLogger } from '../../src/index.js';
import { startHttpTarget, type HttpTarget } from '../helpers/http-target.js';
import { waitFor } from '../helpers/redis.js';
import { startOwnRedis, type OwnRedis } from '../helpers/redis-server.js';

describe('Redis restarts', () => {
  let redisServer: OwnRedis | undefined;
  let server: HttpTarget | undefined;
  let service: UserSyncService | undefined;
  let redis: Redis | undefined;

  afterEach(async () => {
    await service?.close();
    redis?.disconnect();
    await server?.close();
    await redisServer?.destroy();
    service = redis = server = redisServer = undefined;
  });

  function makeService(
    url: string,
    target: HttpTarget,
    options: { lockDuration?: number; timeoutMs?: number } = {},
  ) {
    redis = new Redis(url, { maxRetriesPerRequest: 20 });
    redis.on('error', () => undefined);
    const { lockDuration, timeoutMs } = options;
    return new UserSyncService(
      {
        retryInterval: 100,
        maxRetries: 20,
        ...(lockDuration !== undefined ? { lockDuration } : {}),
        targets: [{ service: 'orders', url: target.url, ...(timeoutMs !== undefined ? { timeoutMs } : {}) }],
      },
      redis,
      { logger: createLogger({ silent: true }) },
    );
  }

  it('events published before Redis was killed (SIGKILL) are delivered after it comes back', async () => {
    redisServer = await startOwnRedis();
    server = await startHttpTarget();
    service = makeService(redisServer.url, server);
    const publisher = service.createPublisher('accounts');
    const published = [];
    for (let i = 1; i <= 5; i++) published.push(await publisher.publishUserCreated({ id: i }));
    await redisServer.kill('SIGKILL');
    await redisServer.restart();
    await service.start();
    await waitFor(async () => (await service!.getStats()).completed_tasks === 5, {
      timeoutMs: 15_000,
      what: 'five deliveries',
    });
    expect(new Set(server.requests.map((r) => r.headers['webhook-id']))).toEqual(
      new Set(published.map((p) => `${p.eventId}.orders`)),
    );
  });

  it('a running worker resumes after Redis restarts and delivers what is published next', async () => {
    redisServer = await startOwnRedis();
    server = await startHttpTarget();
    service = makeService(redisServer.url, server);
    await service.start();
    const publisher = service.createPublisher('accounts');
    await publisher.publishUserCreated({ id: 1 });
    await waitFor(() => server!.requests.length === 1, { what: 'first delivery' });
    await redisServer.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    await redisServer.restart();
    const after = await waitFor(
      async () => {
        try {
          return await publisher.publishUserUpdated({ id: 1, role: 'after-restart' });
        } catch {
          return undefined; // still reconnecting
        }
      },
      { timeoutMs: 10_000, what: 'publish after restart' },
    );
    await waitFor(() => server!.requests.some((r) => r.headers['webhook-id'] === `${after.eventId}.orders`), {
      timeoutMs: 20_000,
      what: 'delivery after restart',
    });
    // Counted once the target has answered: a moment after it received the request.
    await waitFor(async () => (await service!.getStats()).completed_tasks === 2, { what: 'two completed' });
    expect((await service.getStats()).completed_tasks).toBe(2);
  });

  // The soak's counter check (completed + failed === total), made deterministic: Redis goes
  // away for longer than lockDuration while a delivery is in flight, BullMQ's lock expires and
  // the stalled check hands the job out again; the delivery must still be counted once.
  it('Redis down for longer than lockDuration mid-delivery: the delivery is counted once', async () => {
    redisServer = await startOwnRedis();
    // The first request is answered after 2 s; Redis is down for 1.5 s of that time.
    server = await startHttpTarget((_req, res, i) =>
      i === 0 ? setTimeout(() => res.end('ok'), 2_000) : res.end('ok'),
    );
    service = makeService(redisServer.url, server, { lockDuration: 1_000, timeoutMs: 5_000 });
    await service.start();
    await service.createPublisher('accounts').publishUserCreated({ id: 1, username: 'ada' });
    await waitFor(() => server!.requests.length === 1, { what: 'the first request' });
    await redisServer.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 1_500));
    await redisServer.restart();
    await waitFor(async () => (await service!.getQueueStatus()).queue_length === 0, {
      timeoutMs: 20_000,
      what: 'the queue to drain',
    });
    const stats = await service.getStats();
    // Delivered at least once (a second request under the same webhook-id is allowed)...
    expect(new Set(server.requests.map((r) => r.headers['webhook-id'])).size).toBe(1);
    // ...and counted once.
    expect(stats).toMatchObject({ total_tasks: 1, completed_tasks: 1, failed_tasks: 0 });
    expect(stats.by_target.orders!.delivered + stats.by_target.orders!.superseded).toBe(1);
  });
});
