import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import {
  UserEventSubscriber,
  UserSyncService,
  createLogger,
  type HandledEvent,
  type Logger,
  type SyncConfigInput,
  type TargetConfigInput,
} from '../../src/index.js';
import { deletePrefix, testRedis, uniquePrefix, TEST_REDIS_URL } from './redis.js';
import { startHttpTarget, type HttpTarget } from './http-target.js';

export function newSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

export interface Harness {
  prefix: string;
  redis: Redis;
  service: UserSyncService;
  /** Events the handler target received, in order. */
  handled: HandledEvent[];
  subscriber: UserEventSubscriber;
  http: HttpTarget[];
  secrets: string[];
  /** Key template of the Redis target. */
  cacheTemplate: string;
  cacheKey: (id: string | number) => string;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** Number of HTTP targets (named http-a, http-b, …). Default 2. */
  httpTargets?: number;
  redisTarget?: boolean;
  handlerTarget?: boolean;
  /** Config fields; `targets` listed here are added after the harness's own. */
  config?: Partial<SyncConfigInput>;
  /** Changes to each target's config, by service name. */
  targetOverrides?: Record<string, Partial<TargetConfigInput>>;
  start?: boolean;
  /** Default: a silent logger. */
  logger?: Logger;
}

/**
 * A service on its own prefix with real HTTP servers, a Redis cache target on the test Redis
 * (own key space), and a handler target. close() stops and deletes everything it made.
 */
export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const prefix = uniquePrefix();
  const redis = testRedis();
  const http = await Promise.all(Array.from({ length: options.httpTargets ?? 2 }, () => startHttpTarget()));
  const secrets = http.map(() => newSecret());
  const cacheTemplate = `${prefix}:cache:user:{id}`;
  const targets: TargetConfigInput[] = http.map((server, i) => ({
    service: `http-${String.fromCharCode(97 + i)}`,
    url: server.url,
    secrets: [secrets[i] as string],
    timeoutMs: 2_000,
  }));
  if (options.redisTarget ?? true)
    targets.push({ service: 'cache', url: TEST_REDIS_URL, keyTemplate: cacheTemplate });
  if (options.handlerTarget ?? true) targets.push({ service: 'audit', kind: 'handler' });
  targets.push(...(options.config?.targets ?? []));
  for (const target of targets) Object.assign(target, options.targetOverrides?.[target.service] ?? {});
  const handled: HandledEvent[] = [];
  const subscriber = new UserEventSubscriber().registerHandler('*', (event) => void handled.push(event));
  const service = new UserSyncService(
    { retryInterval: 50, maxRetryInterval: 200, shutdownTimeout: 2_000, ...options.config, prefix, targets },
    redis,
    { subscriber, logger: options.logger ?? createLogger({ silent: true }) },
  );
  if (options.start ?? true) await service.start();
  return {
    prefix,
    redis,
    service,
    handled,
    subscriber,
    http,
    secrets,
    cacheTemplate,
    cacheKey: (id) => cacheTemplate.replace('{id}', String(id)),
    close: async () => {
      await service.close();
      await Promise.all(http.map((s) => s.close()));
      await deletePrefix(redis, prefix);
      await redis.quit();
    },
  };
}
