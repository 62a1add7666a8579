/**
 * The soak's counter check (completed_tasks + failed_tasks === total_tasks), made
 * deterministic: Redis goes away for longer than `lockDuration` while a delivery is in flight.
 * The delivery's BullMQ lock expires, the stalled check hands the job out again, and the
 * delivery must still be counted once.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { UserSyncService, createLogger } from '../../src/index.js';
import { startHttpTarget, type HttpTarget } from '../helpers/http-target.js';
import { waitFor } from '../helpers/redis.js';
import { startOwnRedis, type OwnRedis } from '../helpers/redis-server.js';

describe('Redis down for longer than lockDuration while a delivery is in flight', () => {
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

  it('counts the delivery once (completed_tasks === total_tasks)', async () => {
    redisServer = await startOwnRedis();
    // The first request is answered after 2 s; Redis is down for 1.5 s of that time.
    server = await startHttpTarget((_req, res, i) =>
      i === 0 ? setTimeout(() => res.end('ok'), 2_000) : res.end('ok'),
    );
    redis = new Redis(redisServer.url, { maxRetriesPerRequest: 20 });
    redis.on('error', () => undefined);
    service = new UserSyncService(
      {
        retryInterval: 100,
        maxRetries: 20,
        lockDuration: 1_000,
        targets: [{ service: 'orders', url: server.url, timeoutMs: 5_000 }],
      },
      redis,
      { logger: createLogger({ silent: true }) },
    );
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
