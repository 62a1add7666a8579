import { createHash } from 'node:crypto';
import calculateSlot from 'cluster-key-slot';
import { Cluster, Redis as IORedis, type RedisOptions } from 'ioredis';
import { withDeadline } from './deadline.js';
import { toError } from './errors.js';

/**
 * A connection to the deployment's Redis: one server (ioredis `Redis`) or a Redis Cluster
 * (ioredis `Cluster`). Everything user-sync runs on it works on both.
 */
export type Redis = IORedis | Cluster;
export { Cluster, IORedis };

/** The Redis used when neither the config nor `REDIS_URL` names one. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** Connects to a Redis URL with options fit for user-sync's own commands (not BullMQ's blocking ones). */
export function connectRedis(url: string, options: RedisOptions = {}): IORedis {
  return new IORedis(url, { maxRetriesPerRequest: 20, ...options });
}

/**
 * A connection BullMQ may use for workers: same server and options as `base`, with
 * `maxRetriesPerRequest: null` as BullMQ requires for blocking commands.
 */
export function workerConnection(base: Redis): Redis {
  if (base instanceof Cluster) {
    return base.duplicate(undefined, {
      redisOptions: { ...base.options.redisOptions, maxRetriesPerRequest: null },
    });
  }
  return base.duplicate({ maxRetriesPerRequest: null });
}

/** What a PING found: the server answered, or why it did not. */
/** A text as a SCAN/KEYS pattern that matches only itself (glob characters escaped). */
export const escapeGlob = (text: string): string => text.replace(/[*?[\]\\]/g, '\\$&');

/** Each batch of the keys matching `pattern` (SCAN, on every master of a cluster). */
export async function* scanKeys(redis: Redis, pattern: string): AsyncGenerator<string[]> {
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (found.length > 0) yield found;
    } while (cursor !== '0');
  }
}

/**
 * Deletes every key matching `pattern`, on every master of a cluster: one UNLINK per key, in a
 * pipeline per batch (a cluster refuses a DEL of keys in different slots, even on one node).
 */
export async function deleteMatching(redis: Redis, pattern: string): Promise<void> {
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
  for (const node of nodes) {
    for await (const keys of scanKeys(node, pattern)) {
      const pipeline = node.pipeline();
      for (const key of keys) pipeline.unlink(key);
      await pipeline.exec();
    }
  }
}

export type PingResult = { ok: true } | { ok: false; error: string };

/**
 * Sends PING and waits at most `timeoutMs` for PONG. Takes a connection (the readiness check)
 * or a `redis://` URL (is a Redis there at all?), for which it opens a short-lived connection
 * that never retries. Never throws; an error reply (NOAUTH, …), a refusal, a timeout or another
 * protocol come back as `{ ok: false, error }`.
 */
export async function pingRedis(target: Redis | string, timeoutMs = 1_000): Promise<PingResult> {
  let client: Redis;
  if (typeof target === 'string') {
    if (!/^rediss?:$/.test(URL.canParse(target) ? new URL(target).protocol : '')) {
      return { ok: false, error: 'not a redis:// URL' };
    }
    client = new IORedis(target, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      enableOfflineQueue: false,
      connectTimeout: timeoutMs,
    });
    client.on('error', () => undefined);
  } else {
    client = target;
  }
  const ping = (async () => {
    if (client !== target) await client.connect();
    await client.ping();
  })();
  try {
    await withDeadline(ping, {
      ms: timeoutMs,
      onTimeout: () => new Error(`Redis did not answer PING within ${timeoutMs} ms`),
    });
    return { ok: true };
  } catch (error) {
    const message = toError(error).message;
    return {
      ok: false,
      error: /PING within/.test(message) ? message : `Redis did not answer PING: ${message}`,
    };
  } finally {
    ping.catch(() => undefined);
    if (client !== target) client.disconnect();
  }
}

/**
 * Waits until `replicas` replicas hold every write sent before on the connection that serves
 * `key` (Redis WAIT), at most `timeoutMs`. On a Cluster, WAIT goes to the master that owns the
 * key's slot, over the connection the writes went through. Returns how many replicas confirmed.
 */
export async function waitForReplicas(
  redis: Redis,
  key: string,
  replicas: number,
  timeoutMs: number,
): Promise<number> {
  if (redis instanceof Cluster) {
    const owner = redis.slots[calculateSlot(key)]?.[0];
    const node = redis.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === owner);
    if (!node) throw new Error(`no master serves the slot of ${key} (cluster topology changing?)`);
    return Number(await node.call('WAIT', replicas, timeoutMs));
  }
  return Number(await redis.call('WAIT', replicas, timeoutMs));
}

/** Where to connect first in a Redis Cluster (see `clusterNodes` in config/parse.ts). */
export interface ClusterNodeAddress {
  host: string;
  port: number;
  username?: string;
  password?: string;
  tls?: boolean;
}

export interface ClusterConnectionOptions {
  /** BullMQ needs null on the connections of its workers (blocking commands). Default 20. */
  maxRetriesPerRequest?: number | null;
  /**
   * Give up reconnecting to the cluster after this many attempts (one-shot commands); default:
   * never (long-running processes ride through failovers and restarts).
   */
  giveUpAfter?: number;
  lazyConnect?: boolean;
}

/**
 * A connection to a Redis Cluster, set up as user-sync and BullMQ need it: it follows MOVED and
 * ASK, waits out a failover (CLUSTERDOWN, TRYAGAIN) by retrying, refreshes the slots when a node
 * goes away, and keeps reconnecting unless told to give up. Commands sent while it cannot reach
 * the cluster fail after `maxRetriesPerRequest` attempts rather than wait for ever.
 */
export function connectCluster(
  nodes: readonly ClusterNodeAddress[],
  options: ClusterConnectionOptions = {},
): Cluster {
  const first = nodes[0];
  const giveUpAfter = options.giveUpAfter;
  return new Cluster(
    nodes.map((n) => ({ host: n.host, port: n.port })),
    {
      lazyConnect: options.lazyConnect ?? false,
      enableReadyCheck: true,
      // A failover takes cluster-node-timeout (15 s by default) and an election: commands wait it out,
      // up to retryDelayOnFailover × maxRedirections (30 s), rather than fail after ioredis's 1.6 s.
      retryDelayOnFailover: 300,
      retryDelayOnClusterDown: 300,
      retryDelayOnTryAgain: 100,
      slotsRefreshTimeout: 2_000,
      maxRedirections: 100,
      clusterRetryStrategy: (times) =>
        giveUpAfter !== undefined && times > giveUpAfter ? null : Math.min(100 + times * 200, 2_000),
      redisOptions: {
        maxRetriesPerRequest: options.maxRetriesPerRequest === undefined ? 20 : options.maxRetriesPerRequest,
        connectTimeout: 5_000,
        ...(first?.username ? { username: first.username } : {}),
        ...(first?.password ? { password: first.password } : {}),
        ...(first?.tls ? { tls: {} } : {}),
      },
    },
  );
}

/**
 * What an error from Redis means when it comes from a cluster's shape rather than from the
 * command, said so that someone can act on it; undefined for other errors.
 */
export function explainRedisError(error: unknown): string | undefined {
  const message = toError(error).message;
  if (/CROSSSLOT/.test(message))
    return `${message} — the keys of one operation are in different cluster slots: the prefix must carry a {hash tag}; if it does, this is a bug in user-sync, please report it`;
  if (/CLUSTERDOWN/.test(message))
    return `${message} — the cluster is down for some slots (a master failed with no replica to take over, or a failover is in progress); commands are retried while it recovers`;
  if (/Too many Cluster redirections/i.test(message))
    return `${message} — slots kept moving (a resharding or failover storm); the command was given up after 100 redirections`;
  if (/Failed to refresh slots cache|None of startup nodes is available/i.test(message))
    return `${message} — no cluster node answered: check redisClusterNodes / REDIS_CLUSTER_NODES and that the nodes run in cluster mode`;
  if (/Cluster isn't ready|Connection is closed/i.test(message) && /cluster/i.test(message))
    return `${message} — the cluster connection is not ready (nodes unreachable?)`;
  return undefined;
}

/** A Lua script run with EVALSHA, loaded on first NOSCRIPT (after a restart or on a new server). */
export class LuaScript {
  readonly sha: string;
  /** @param numberOfKeys - checked on every call; leave out for scripts that take a variable number. */
  constructor(
    readonly source: string,
    readonly numberOfKeys?: number,
  ) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(redis: Redis, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    if (this.numberOfKeys !== undefined && keys.length !== this.numberOfKeys)
      throw new Error(`script expects ${this.numberOfKeys} keys, got ${keys.length}`);
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.includes('NOSCRIPT')) throw error;
      return redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}
