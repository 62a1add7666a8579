import type { Redis } from 'ioredis';
import type { TargetConfig } from '../../config/schema.js';
import { ConfigError, DeliveryError, toError } from '../../errors.js';
import { EventType } from '../../events.js';
import type { DeliveryTask } from '../../jobs/delivery-job.js';
import { withDeadline } from '../../deadline.js';
import { redactText, redactUrl } from '../../redact.js';
import {
  compareAndWrite,
  storedVersion,
  userKey,
  type StoredUser,
  type TargetWrite,
} from './compare-and-write.js';
import { defaultConnect, shutdown } from './connections.js';
import type { DeliveryResult, ExecutionContext, Executor, TargetVersions } from '../executor.js';

/** Options of {@link createRedisExecutor}. */
export interface RedisExecutorOptions {
  /**
   * How long a deleted user's tombstone lives, in milliseconds. While it lives, an update older
   * than the delete cannot bring the user back. Required; the config default is one day.
   */
  tombstoneTtlMs: number;
  /**
   * Opens the connection of one target URL. Called once per distinct URL, on first use.
   * Default: `new Redis(url, { maxRetriesPerRequest: 2, enableOfflineQueue: true, lazyConnect: false })`.
   */
  connect?: (url: string) => Redis;
}

/** Bounds a target call by the target's timeout and the attempt's signal. */
function bounded<T>(work: Promise<T>, timeoutMs: number, signal: AbortSignal): Promise<T> {
  return withDeadline(work, {
    ms: timeoutMs,
    signal,
    onTimeout: () =>
      new DeliveryError(`no answer within ${timeoutMs} ms`, { retryable: true, failureCode: 'timeout' }),
    onAbort: () => new DeliveryError('attempt aborted', { retryable: true, failureCode: 'aborted' }),
  });
}

/**
 * The executor of `redis` targets: keeps each user's latest snapshot at a key derived from the
 * target's `keyTemplate`, as `{"version","user","updatedAt"}` JSON. Writes and deletes go through
 * one Lua script that compares versions, so an older version never overwrites a newer one, and a
 * delete leaves a tombstone (living `tombstoneTtlMs`) so a late older update cannot resurrect the
 * user. Stale deliveries complete as superseded. One connection per distinct target URL, opened on
 * first use; `close()` quits them all.
 */
export function createRedisExecutor(options: RedisExecutorOptions): Executor {
  const { tombstoneTtlMs } = options;
  if (!Number.isFinite(tombstoneTtlMs) || tombstoneTtlMs <= 0) {
    throw new ConfigError('tombstoneTtl', 'must be a positive number of milliseconds');
  }
  const connect = options.connect ?? defaultConnect;
  const clients = new Map<string, Redis>();
  let closed = false;

  function clientFor(target: TargetConfig): { client: Redis; url: string } {
    const url = target.url;
    if (!url) {
      throw new DeliveryError(`redis target "${target.service}" has no url`, {
        retryable: false,
        failureCode: 'config',
      });
    }
    if (closed) {
      throw new DeliveryError(`redis executor is closed (target "${target.service}")`, {
        retryable: true,
        failureCode: 'closed',
      });
    }
    let client = clients.get(url);
    if (!client) {
      client = connect(url);
      // Connection errors surface through the commands that fail; without a listener ioredis
      // would print each reconnect failure on its own.
      client.on('error', () => undefined);
      clients.set(url, client);
    }
    return { client, url };
  }

  function redisError(error: unknown, target: TargetConfig, url: string): DeliveryError {
    if (error instanceof DeliveryError) return error;
    const cause = toError(error);
    const message = redactText(cause.message, [url]);
    return new DeliveryError(`redis target "${target.service}" (${redactUrl(url)}): ${message}`, {
      retryable: true,
      failureCode: 'redis_error',
      cause,
    });
  }

  return {
    async execute(task: DeliveryTask, target: TargetConfig, ctx: ExecutionContext): Promise<DeliveryResult> {
      if (!Number.isSafeInteger(task.version) || task.version <= 0) {
        throw new DeliveryError(`version must be a positive integer, got ${String(task.version)}`, {
          retryable: false,
          failureCode: 'malformed',
        });
      }
      const { client, url } = clientFor(target);
      if (ctx.signal.aborted) {
        throw new DeliveryError('attempt aborted', { retryable: true, failureCode: 'aborted' });
      }
      const key = userKey(target.keyTemplate, task.userId);
      const isDelete = task.type === EventType.UserDeleted;
      const stored: StoredUser = {
        version: task.version,
        user: task.user,
        updatedAt: new Date(ctx.now()).toISOString(),
      };
      const write: TargetWrite = isDelete
        ? { op: 'del', version: task.version, tombstoneTtlMs }
        : { op: 'set', version: task.version, value: JSON.stringify(stored) };
      let applied: Awaited<ReturnType<typeof compareAndWrite>>;
      try {
        applied = await bounded(compareAndWrite(client, key, write), target.timeoutMs, ctx.signal);
      } catch (error) {
        throw redisError(error, target, url);
      }
      if (applied === 'foreign') {
        const held = storedVersion(await client.get(key).catch(() => null));
        const what = held !== null && typeof held === 'object' ? held.foreign : 'its version is not one';
        throw new DeliveryError(
          `redis target "${target.service}": key ${key} holds a value user-sync cannot compare (${what}); ` +
            'it was left as it is: fix or delete the key, then replay this dead letter',
          { retryable: false, failureCode: 'foreign_value' },
        );
      }
      if (applied === 'unchanged') {
        ctx.logger.debug('redis target holds this version or a newer one', { key, version: task.version });
        return { superseded: true };
      }
      return {};
    },

    async readState(
      userIds: readonly string[],
      target: TargetConfig,
      ctx: ExecutionContext,
    ): Promise<TargetVersions> {
      const versions: TargetVersions = new Map();
      if (userIds.length === 0) return versions;
      const { client, url } = clientFor(target);
      const pipeline = client.pipeline();
      for (const id of userIds) pipeline.get(userKey(target.keyTemplate, id));
      let replies: [Error | null, unknown][] | null;
      try {
        replies = await bounded(pipeline.exec(), target.timeoutMs, ctx.signal);
      } catch (error) {
        throw redisError(error, target, url);
      }
      if (!replies || replies.length !== userIds.length) {
        throw redisError(new Error('pipeline returned no replies'), target, url);
      }
      for (const [index, id] of userIds.entries()) {
        const [error, raw] = replies[index] ?? [new Error('missing reply'), null];
        if (error) throw redisError(error, target, url);
        versions.set(id, storedVersion(typeof raw === 'string' ? raw : null));
      }
      return versions;
    },

    async close(): Promise<void> {
      closed = true;
      const open = [...clients.values()];
      clients.clear();
      await Promise.all(open.map(shutdown));
    },
  };
}
