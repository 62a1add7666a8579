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

  function makeService(url: string, target: HttpTarget) {
    redis = new Redis(url, { maxRetriesPerRequest: 20 });
    redis.on('error', () => undefined);
    return new UserSyncService(
      { retryInterval: 100, maxRetries: 20, targets: [{ service: 'orders', url: target.url }] },
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
    expect((await service.getStats()).completed_tasks).toBe(2);
  });
});
