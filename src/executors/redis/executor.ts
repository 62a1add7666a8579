import { Redis } from 'ioredis';
import type { TargetConfig } from '../../config/schema.js';
import { ConfigError, DeliveryError, toError } from '../../errors.js';
import { EventType, type UserId } from '../../events.js';
import type { DeliveryTask } from '../../jobs/delivery-job.js';
import { withDeadline } from '../../deadline.js';
import { redactText, redactUrl } from '../../redact.js';
import { LuaScript } from '../../redis.js';
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

/** The key a Redis target keeps a user under: every `{id}` in `template` replaced by the user id. */
export function userKey(template: string, userId: UserId): string {
  return template.split('{id}').join(String(userId));
}

/** The key of the tombstone a delete leaves beside the user key: `<userKey>:tombstone`. */
export function tombstoneKey(key: string): string {
  return `${key}:tombstone`;
}

/**
 * Compare-by-version write or delete, atomically.
 * KEYS: userKey, tombstoneKey. ARGV: op (`set` | `del`), version, JSON value, tombstone TTL (ms).
 * The version held is the larger of the stored value's `version` (0 when the value is missing,
 * not JSON or has no numeric version) and the tombstone's. Returns 0 when the requested version
 * is not above it (nothing changed), 1 when the write or delete was applied.
 */
const COMPARE_AND_WRITE = new LuaScript(
  `
local current = 0
local raw = redis.call('GET', KEYS[1])
if raw then
  local ok, decoded = pcall(cjson.decode, raw)
  if ok and type(decoded) == 'table' and type(decoded.version) == 'number' then
    current = decoded.version
  end
end
local tomb = tonumber(redis.call('GET', KEYS[2]))
if tomb and tomb > current then
  current = tomb
end
local requested = tonumber(ARGV[2])
if not requested then
  return redis.error_reply('ERR user-sync: version is not a number')
end
if requested <= current then
  return 0
end
if ARGV[1] == 'del' then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[4])
elseif ARGV[1] == 'set' then
  redis.call('SET', KEYS[1], ARGV[3])
else
  return redis.error_reply('ERR user-sync: unknown op ' .. tostring(ARGV[1]))
end
return 1
`,
  2,
);

/** What the Redis target stores at a user's key. */
interface StoredUser {
  version: number;
  user: unknown;
  updatedAt: string;
}

function defaultConnect(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: 2, enableOfflineQueue: true, lazyConnect: false });
}

/** Parses a stored value; the version it holds, or null when it cannot be read. */
function storedVersion(raw: string | null): number | null {
  if (raw === null) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null || !('version' in parsed)) return null;
  const { version } = parsed;
  return typeof version === 'number' && Number.isFinite(version) ? version : null;
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

/** How long `close()` waits for a connection to end before dropping it. */
const CLOSE_GRACE_MS = 2_000;

/** Read through a function so that TypeScript does not narrow a status that changes under it. */
function hasEnded(client: Redis): boolean {
  return client.status === 'end';
}

/** Ends a connection at once, destroying its socket so that a silent server cannot hold it open. */
function drop(client: Redis): void {
  client.disconnect();
  const stream: { destroy(): void } | undefined = client.stream;
  stream?.destroy();
}

/** Resolves when the connection has ended, or after `CLOSE_GRACE_MS` at the latest. */
async function ended(client: Redis): Promise<void> {
  if (hasEnded(client)) return;
  let timer: NodeJS.Timeout | undefined;
  let onEnd: (() => void) | undefined;
  await new Promise<void>((resolve) => {
    onEnd = resolve;
    client.once('end', onEnd);
    timer = setTimeout(resolve, CLOSE_GRACE_MS);
  });
  clearTimeout(timer);
  if (onEnd) client.off('end', onEnd);
}

/**
 * Closes a connection: a ready one quits (its pending replies arrive first), bounded by
 * `CLOSE_GRACE_MS`; any other is dropped at once.
 */
async function shutdown(client: Redis): Promise<void> {
  switch (client.status) {
    case 'end':
      return;
    case 'wait':
    case 'reconnecting':
      // No socket is open; disconnect() cancels the pending (re)connect.
      client.disconnect();
      return;
    case 'ready': {
      const done = ended(client);
      client.quit().catch(() => drop(client));
      await done;
      if (!hasEnded(client)) drop(client);
      return;
    }
    default: {
      const done = ended(client);
      drop(client);
      await done;
    }
  }
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
  const ttlArg = String(Math.ceil(tombstoneTtlMs));
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
      const args = [
        isDelete ? 'del' : 'set',
        String(task.version),
        isDelete ? '' : JSON.stringify(stored),
        ttlArg,
      ];
      let applied: unknown;
      try {
        applied = await bounded(
          COMPARE_AND_WRITE.run(client, [key, tombstoneKey(key)], args),
          target.timeoutMs,
          ctx.signal,
        );
      } catch (error) {
        throw redisError(error, target, url);
      }
      if (applied !== 0 && applied !== 1) {
        throw new DeliveryError(`redis target "${target.service}": unexpected script reply`, {
          retryable: true,
          failureCode: 'redis_error',
        });
      }
      if (applied === 0) {
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
