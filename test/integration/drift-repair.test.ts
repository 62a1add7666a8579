/**
 * Drift repair that repairs: every kind of drift, at every kind of target that can report
 * state, is gone after one sweep's repairs, so that a second sweep finds every user in sync.
 * And a value whose version cannot be read is reported, never taken as newer than anything.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { createLogger } from '../../src/logger.js';
import { UserSyncService } from '../../src/service.js';
import { deletePrefix, TEST_REDIS_URL, testRedis, uniquePrefix, waitFor } from '../helpers/redis.js';
import { startStateReceiver, type StateReceiver } from '../helpers/state-receiver.js';

const silent = createLogger({ silent: true });

describe('drift repair', () => {
  let redis: Redis;
  let prefix: string;
  let receiver: StateReceiver;
  let service: UserSyncService;

  afterEach(async () => {
    await service?.close();
    await receiver?.close();
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  async function setup(): Promise<{ cacheKey: (id: number) => string }> {
    redis = testRedis();
    prefix = uniquePrefix('drift');
    receiver = await startStateReceiver();
    const template = `${prefix}:cache:user:{id}`;
    service = new UserSyncService(
      {
        prefix,
        retryInterval: 50,
        autoRepair: true,
        targets: [
          { service: 'cache', url: TEST_REDIS_URL, keyTemplate: template },
          { service: 'crm', url: receiver.webhookUrl, state: { bulkUrl: receiver.bulkUrl } },
        ],
      },
      redis,
      { logger: silent },
    );
    await service.start();
    return { cacheKey: (id) => template.replace('{id}', String(id)) };
  }

  const idle = async () =>
    waitFor(async () => (await service.getQueueStatus()).queue_length === 0, { what: 'the queues drained' });

  it('leaves every target matching the ledger for missing, stale and extra users; a second sweep finds all in sync', async () => {
    const { cacheKey } = await setup();
    const publisher = service.createPublisher('accounts');
    // Users 1-6 live at version 2; users 7-9 deleted at version 3.
    for (let id = 1; id <= 9; id++) {
      await publisher.publishUserCreated({ id, username: `u${id}` }, { version: 1 });
      await publisher.publishUserUpdated({ id, username: `u${id}-v2` }, undefined, { version: 2 });
      if (id >= 7) await publisher.publishUserDeleted({ id }, { version: 3 });
    }
    await idle();
    const stored = (id: number, version: number) => JSON.stringify({ version, user: { id }, updatedAt: 'x' });

    // Drift behind user-sync's back, each kind at each target:
    // missing: the target lost the user.
    await redis.del(cacheKey(1));
    receiver.users.delete('1');
    // stale: the target went back to an older version.
    await redis.set(cacheKey(2), stored(2, 1));
    receiver.users.set('2', { version: 1, user: { id: 2 } });
    // extra: the ledger says deleted, the target holds a live value. At the cache, refilled while
    // the delete's tombstone still lives, at the version before the delete and at the delete's.
    await redis.set(cacheKey(7), stored(7, 2));
    await redis.set(cacheKey(8), stored(8, 3));
    expect(await redis.get(`${cacheKey(7)}:tombstone`)).toBe('3');
    receiver.users.set('7', { version: 2, user: { id: 7 } });
    receiver.tombstones.delete('7');

    const first = await service.runSweep();
    expect(first?.targets.cache).toMatchObject({ missing: 1, stale: 1, extra: 2, in_sync: 5, repairs: 4 });
    expect(first?.targets.crm).toMatchObject({ missing: 1, stale: 1, extra: 1, in_sync: 6, repairs: 3 });
    await idle();

    const second = await service.runSweep();
    for (const target of ['cache', 'crm']) {
      expect(second?.targets[target]).toMatchObject({
        in_sync: 9,
        missing: 0,
        stale: 0,
        extra: 0,
        repairs: 0,
      });
    }
    // The cache holds no deleted user, and keeps the tombstones that guard them.
    for (const id of [7, 8, 9]) {
      expect(await redis.exists(cacheKey(id))).toBe(0);
      expect(await redis.get(`${cacheKey(id)}:tombstone`)).toBe('3');
    }
    expect((await service.listDeadLetters()).total).toBe(0);
  });

  it('reports a cache value whose version is not a number instead of reading it as newer than anything', async () => {
    const { cacheKey } = await setup();
    const publisher = service.createPublisher('accounts');
    await publisher.publishUserCreated({ id: 1, username: 'ada' });
    await idle();
    // Someone else's value: JSON reads 1e400 as Infinity, Lua's cjson as inf.
    await redis.set(cacheKey(1), '{"version":1e400,"user":{"id":1}}');

    const run = await service.runSweep();
    expect(run?.targets.cache).toMatchObject({ foreign: 1, repairs: 0 });

    const update = await publisher.publishUserUpdated({ id: 1, username: 'ada-2' });
    const dead = await waitFor(
      async () => (await service.listDeadLetters({ ids: [`${update.eventId}.cache`] })).records[0],
      { what: 'the dead letter' },
    );
    expect(dead).toMatchObject({ reason: 'non_retryable', code: 'foreign_value' });
    expect(dead.message).toMatch(/holds a value user-sync cannot compare \(its version is Infinity/);
    expect(await redis.get(cacheKey(1))).toBe('{"version":1e400,"user":{"id":1}}');

    // Once the operator removes it, a replay writes the user.
    await redis.del(cacheKey(1));
    await service.replayDeadLetters({ ids: [dead.id] });
    await waitFor(async () => (await redis.get(cacheKey(1)))?.includes('ada-2'), {
      what: 'the replay applied',
    });
  });
});
