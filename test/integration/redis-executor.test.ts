import { jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Redis } from 'ioredis';
import type { TargetConfig } from '../../src/config/schema.js';
import { DeliveryError } from '../../src/errors.js';
import { EventType } from '../../src/events.js';
import type { DeliveryTask } from '../../src/jobs/delivery-job.js';
import { createLogger } from '../../src/logger.js';
import type { ExecutionContext, Executor } from '../../src/executors/executor.js';
import { tombstoneKey, userKey } from '../../src/executors/redis/compare-and-write.js';
import { createRedisExecutor } from '../../src/executors/redis/executor.js';
import { deliveryTask, targetConfig } from '../helpers/fixtures.js';

const REDIS_URL = 'redis://127.0.0.1:6379/0';
const PREFIX = `test-rx-${randomBytes(6).toString('hex')}`;
const TEMPLATE = `${PREFIX}:user:{id}`;
const NOW = Date.parse('2024-05-01T12:00:00.000Z');

const logger = createLogger({ silent: true });

function ctx(): ExecutionContext {
  return { logger, signal: new AbortController().signal, now: () => NOW };
}

/** The `cache` redis target on the test Redis, keys under this file's prefix. */
const target = (overrides: Partial<TargetConfig> = {}): TargetConfig =>
  targetConfig({
    service: 'cache',
    kind: 'redis',
    url: REDIS_URL,
    timeoutMs: 1000,
    keyTemplate: TEMPLATE,
    ...overrides,
  });

let eventSeq = 0;
/** A task for `cache` under a new event id: the user's id and a username that names the version. */
function task(
  type: EventType,
  userId: string,
  version: number,
  extra: Record<string, unknown> = {},
): DeliveryTask {
  eventSeq += 1;
  const { changes: _changes, ...withoutChanges } = deliveryTask({
    eventId: `evt${eventSeq}`,
    service: 'cache',
    type,
    userId,
    version,
    user: { id: userId, username: `name-v${version}`, ...extra },
    timestamp: new Date(NOW).toISOString(),
    source: 'test',
  });
  return withoutChanges;
}

/** Polls `check` until it holds or `timeoutMs` passes. */
async function waitFor(check: () => Promise<boolean>, timeoutMs = 2000, intervalMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('redis executor', () => {
  let inspect: Redis;
  let executor: Executor;
  const opened: Redis[] = [];
  let userSeq = 0;
  const newUser = () => `u${(userSeq += 1)}`;
  const key = (id: string) => userKey(TEMPLATE, id);

  async function stored(
    id: string,
  ): Promise<{ version: number; user: Record<string, unknown>; updatedAt: string } | null> {
    const raw = await inspect.get(key(id));
    return raw === null
      ? null
      : (JSON.parse(raw) as { version: number; user: Record<string, unknown>; updatedAt: string });
  }

  beforeAll(() => {
    inspect = new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
    executor = createRedisExecutor({
      tombstoneTtlMs: 60_000,
      connect: (url) => {
        const client = new Redis(url, {
          maxRetriesPerRequest: 2,
          enableOfflineQueue: true,
          lazyConnect: false,
        });
        opened.push(client);
        return client;
      },
    });
  });

  afterAll(async () => {
    await executor.close?.();
    const keys: string[] = [];
    for await (const batch of inspect.scanStream({ match: `${PREFIX}:*`, count: 500 })) {
      keys.push(...(batch as string[]));
    }
    if (keys.length > 0) await inspect.del(...keys);
    await inspect.quit();
  });

  it('creates a user and applies an update with a higher version', async () => {
    const id = newUser();
    await expect(executor.execute(task(EventType.UserCreated, id, 1), target(), ctx())).resolves.toEqual({});
    expect(await stored(id)).toEqual({
      version: 1,
      user: { id, username: 'name-v1' },
      updatedAt: '2024-05-01T12:00:00.000Z',
    });

    await expect(executor.execute(task(EventType.UserUpdated, id, 2), target(), ctx())).resolves.toEqual({});
    expect(await stored(id)).toMatchObject({ version: 2, user: { username: 'name-v2' } });
  });

  it('supersedes an older version arriving after a newer one, leaving the value as it was', async () => {
    const id = newUser();
    await executor.execute(task(EventType.UserUpdated, id, 5), target(), ctx());
    const before = await inspect.get(key(id));

    await expect(executor.execute(task(EventType.UserUpdated, id, 4), target(), ctx())).resolves.toEqual({
      superseded: true,
    });
    expect(await inspect.get(key(id))).toBe(before);
  });

  it('supersedes the same version delivered again', async () => {
    const id = newUser();
    await executor.execute(task(EventType.UserUpdated, id, 3), target(), ctx());
    const before = await inspect.get(key(id));

    await expect(
      executor.execute(task(EventType.UserUpdated, id, 3, { username: 'changed' }), target(), ctx()),
    ).resolves.toEqual({ superseded: true });
    expect(await inspect.get(key(id))).toBe(before);
  });

  it('keeps a deleted user deleted when a late older update arrives, and lets a newer one re-create it', async () => {
    const id = newUser();
    await executor.execute(task(EventType.UserCreated, id, 1), target(), ctx());

    await expect(executor.execute(task(EventType.UserDeleted, id, 3), target(), ctx())).resolves.toEqual({});
    expect(await inspect.exists(key(id))).toBe(0);
    expect(await inspect.get(tombstoneKey(key(id)))).toBe('3');
    const ttl = await inspect.pttl(tombstoneKey(key(id)));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);

    await expect(executor.execute(task(EventType.UserUpdated, id, 2), target(), ctx())).resolves.toEqual({
      superseded: true,
    });
    expect(await inspect.exists(key(id))).toBe(0);
    expect(await inspect.get(tombstoneKey(key(id)))).toBe('3');

    await expect(executor.execute(task(EventType.UserCreated, id, 4), target(), ctx())).resolves.toEqual({});
    expect(await stored(id)).toMatchObject({ version: 4, user: { id, username: 'name-v4' } });
  });

  it('supersedes a delete older than the stored value, keeping the value', async () => {
    const id = newUser();
    await executor.execute(task(EventType.UserUpdated, id, 7), target(), ctx());
    const before = await inspect.get(key(id));

    await expect(executor.execute(task(EventType.UserDeleted, id, 6), target(), ctx())).resolves.toEqual({
      superseded: true,
    });
    expect(await inspect.get(key(id))).toBe(before);
    expect(await inspect.exists(tombstoneKey(key(id)))).toBe(0);
  });

  it('leaves a tombstone for a delete of a user it never held', async () => {
    const id = newUser();
    await expect(executor.execute(task(EventType.UserDeleted, id, 2), target(), ctx())).resolves.toEqual({});
    expect(await inspect.get(tombstoneKey(key(id)))).toBe('2');
    await expect(executor.execute(task(EventType.UserCreated, id, 1), target(), ctx())).resolves.toEqual({
      superseded: true,
    });
    expect(await inspect.exists(key(id))).toBe(0);
  });

  it('treats a stored value that is not JSON, or has no version, as version 0', async () => {
    const garbled = newUser();
    await inspect.set(key(garbled), 'not json');
    await expect(executor.execute(task(EventType.UserUpdated, garbled, 1), target(), ctx())).resolves.toEqual(
      {},
    );
    expect(await stored(garbled)).toMatchObject({ version: 1 });

    const versionless = newUser();
    await inspect.set(key(versionless), JSON.stringify({ user: { id: versionless } }));
    await expect(
      executor.execute(task(EventType.UserUpdated, versionless, 1), target(), ctx()),
    ).resolves.toEqual({});
    expect(await stored(versionless)).toMatchObject({ version: 1 });
  });

  it('lets a tombstone expire after its ttl', async () => {
    const shortLived = createRedisExecutor({ tombstoneTtlMs: 50 });
    try {
      const id = newUser();
      await shortLived.execute(task(EventType.UserDeleted, id, 3), target(), ctx());
      const pttl = await inspect.pttl(tombstoneKey(key(id)));
      expect(pttl).toBeLessThanOrEqual(50);

      await waitFor(async () => (await inspect.exists(tombstoneKey(key(id)))) === 0);
      // With the tombstone gone, nothing remembers the delete.
      await expect(shortLived.execute(task(EventType.UserUpdated, id, 2), target(), ctx())).resolves.toEqual(
        {},
      );
    } finally {
      await shortLived.close?.();
    }
  });

  it('reads the versions of present, missing, tombstoned and unreadable users in one round trip', async () => {
    const present = newUser();
    const updated = newUser();
    const missing = newUser();
    const deleted = newUser();
    const garbled = newUser();
    await executor.execute(task(EventType.UserCreated, present, 1), target(), ctx());
    await executor.execute(task(EventType.UserCreated, updated, 1), target(), ctx());
    await executor.execute(task(EventType.UserUpdated, updated, 9), target(), ctx());
    await executor.execute(task(EventType.UserCreated, deleted, 1), target(), ctx());
    await executor.execute(task(EventType.UserDeleted, deleted, 2), target(), ctx());
    await inspect.set(key(garbled), '{"version":');

    expect(opened).toHaveLength(1);
    const client = opened[0]!;
    const writes = jest.spyOn(client.stream, 'write');
    const pipelines = jest.spyOn(client, 'pipeline');
    try {
      const state = await executor.readState!([present, updated, missing, deleted, garbled], target(), ctx());
      expect(state).toEqual(
        new Map<string, number | null>([
          [present, 1],
          [updated, 9],
          [missing, null],
          [deleted, null],
          [garbled, null],
        ]),
      );
      expect(pipelines).toHaveBeenCalledTimes(1);
      expect(writes).toHaveBeenCalledTimes(1);
    } finally {
      writes.mockRestore();
      pipelines.mockRestore();
    }
  });

  it('loads the script with EVAL when Redis does not know it (NOSCRIPT)', async () => {
    const id = newUser();
    await executor.execute(task(EventType.UserCreated, id, 1), target(), ctx());
    const client = opened[0]!;
    const evalsha = jest
      .spyOn(client, 'evalsha')
      .mockRejectedValueOnce(new Error('NOSCRIPT No matching script. Please use EVAL.'));
    const evals = jest.spyOn(client, 'eval');
    try {
      await expect(executor.execute(task(EventType.UserUpdated, id, 2), target(), ctx())).resolves.toEqual(
        {},
      );
      expect(evalsha).toHaveBeenCalledTimes(1);
      expect(evals).toHaveBeenCalledTimes(1);
      expect(await stored(id)).toMatchObject({ version: 2 });
    } finally {
      evalsha.mockRestore();
      evals.mockRestore();
    }
  });

  it('does not start an attempt whose signal is already aborted', async () => {
    const id = newUser();
    const controller = new AbortController();
    controller.abort();
    const error = await caught(
      executor.execute(task(EventType.UserCreated, id, 1), target(), { ...ctx(), signal: controller.signal }),
    );
    expect(error).toBeInstanceOf(DeliveryError);
    expect((error as DeliveryError).retryable).toBe(true);
    expect(await inspect.exists(key(id))).toBe(0);
  });

  it('returns an empty map for no users', async () => {
    await expect(executor.readState!([], target(), ctx())).resolves.toEqual(new Map());
  });

  it('keeps one connection per distinct url', async () => {
    const otherTemplate = target({ keyTemplate: `${PREFIX}:other:{id}` });
    await executor.execute(task(EventType.UserCreated, newUser(), 1), otherTemplate, ctx());
    expect(opened).toHaveLength(1);

    // Another spelling of the same server is another URL, so another connection.
    const otherUrl = target({ url: 'redis://127.0.0.1:6379' });
    await executor.execute(task(EventType.UserCreated, newUser(), 1), otherUrl, ctx());
    expect(opened).toHaveLength(2);
  });

  it('throws a retryable DeliveryError without the password when Redis is unreachable', async () => {
    const clients: Redis[] = [];
    const unreachable = createRedisExecutor({
      tombstoneTtlMs: 60_000,
      connect: (url) => {
        const client = new Redis(url, {
          maxRetriesPerRequest: 0,
          enableOfflineQueue: false,
          retryStrategy: () => null,
        });
        clients.push(client);
        return client;
      },
    });
    try {
      const down = target({ url: 'redis://:s3cret-pw@127.0.0.1:1/0' });
      const error = await caught(unreachable.execute(task(EventType.UserUpdated, newUser(), 1), down, ctx()));
      expect(error).toBeInstanceOf(DeliveryError);
      const delivery = error as DeliveryError;
      expect(delivery.retryable).toBe(true);
      expect(delivery.failureCode).toBe('redis_error');
      expect(delivery.message).toContain('127.0.0.1:1');
      expect(delivery.message).not.toContain('s3cret-pw');

      const readError = await caught(unreachable.readState!(['u1'], down, ctx()));
      expect(readError).toBeInstanceOf(DeliveryError);
      expect((readError as DeliveryError).retryable).toBe(true);
      expect((readError as DeliveryError).message).not.toContain('s3cret-pw');
    } finally {
      await unreachable.close?.();
    }
    expect(clients).toHaveLength(1);
    expect(clients[0]!.status).toBe('end');
  });

  it('throws a retryable timeout when Redis does not answer within the target timeout', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    // When a connection that never became ready is closed, ioredis fails its ready check and arms
    // its own `disconnectTimeout` timer (2 s by default) on the already closed socket; keep it short
    // so that jest can exit promptly.
    const stalled = createRedisExecutor({
      tombstoneTtlMs: 60_000,
      connect: (url) =>
        new Redis(url, { maxRetriesPerRequest: 2, enableOfflineQueue: true, disconnectTimeout: 50 }),
    });
    try {
      const slow = target({ url: `redis://127.0.0.1:${port}/0`, timeoutMs: 100 });
      const error = await caught(stalled.execute(task(EventType.UserUpdated, newUser(), 1), slow, ctx()));
      expect(error).toBeInstanceOf(DeliveryError);
      expect((error as DeliveryError).retryable).toBe(true);
      expect((error as DeliveryError).failureCode).toBe('timeout');
    } finally {
      await stalled.close?.();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('refuses work after close', async () => {
    const closing = createRedisExecutor({ tombstoneTtlMs: 60_000 });
    await closing.close?.();
    const error = await caught(closing.execute(task(EventType.UserUpdated, newUser(), 1), target(), ctx()));
    expect(error).toBeInstanceOf(DeliveryError);
    expect((error as DeliveryError).retryable).toBe(true);
  });
});
