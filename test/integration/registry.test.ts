/**
 * The target registry: workers write the deployment's targets (no secrets) to Redis, and a
 * publisher that has only a Redis connection fans out to them.
 */
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import {
  ConfigError,
  Deployment,
  ForeignValueError,
  UserEventPublisher,
  UserEventSubscriber,
  UserSyncIntegration,
  UserSyncService,
  createLogger,
  type HandledEvent,
  type SyncConfigInput,
} from '../../src/index.js';
import { registryDocument } from '../../src/config/registry-document.js';
import { parseConfig } from '../../src/config/parse.js';
import { captureLogger } from '../helpers/capture-logger.js';
import { startHarness, newSecret, type Harness } from '../helpers/harness.js';
import { deletePrefix, testRedis, uniquePrefix, waitFor } from '../helpers/redis.js';

const silent = createLogger({ silent: true });

const DEPLOYMENT_FIELDS = [
  'dedupeWindow',
  'enabled',
  'maxRetries',
  'maxSnapshotBytes',
  'maxTimestampAhead',
  'partitions',
  'prefix',
  'queueSize',
  'replicaAckTimeout',
  'replicaAcks',
  'targets',
  'v',
];

describe('target registry', () => {
  const redis = testRedis();
  const cleanups: Array<() => Promise<unknown>> = [];
  let h: Harness | undefined;
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await h?.close();
    h = undefined;
  });
  afterAll(async () => redis.quit());

  /** A prefix deleted after the test. */
  function prefix(): string {
    const p = uniquePrefix('reg');
    cleanups.push(() => deletePrefix(redis, p));
    return p;
  }

  /** A publisher that has nothing but the connection and the prefix it finds the registry under. */
  function producerOnly(p: string, extra: Partial<SyncConfigInput> = {}): UserEventPublisher {
    return new UserEventPublisher(redis, 'accounts', { config: { prefix: p, ...extra }, logger: silent });
  }

  function deployment(config: SyncConfigInput, logger = silent): Deployment {
    const d = new Deployment(config, redis, { logger });
    cleanups.push(() => d.close());
    return d;
  }

  const registryKey = (p: string) => `${p}:registry`;

  it('workers write it on start, with exactly the allowed fields', async () => {
    h = await startHarness({
      targetOverrides: { 'http-b': { events: ['user.deleted'] }, cache: { enabled: false } },
    });
    const stored = await redis.hgetall(registryKey(h.prefix));
    expect(Object.keys(stored).sort()).toEqual(['doc', 'rev', 'updated', 'writer']);
    expect(stored.rev).toBe('1');
    expect(stored.writer).toMatch(/^worker \S+:\d+$/);
    expect(Number(stored.updated)).toBeGreaterThan(0);
    const doc = JSON.parse(stored.doc as string) as Record<string, unknown> & { targets: object[] };
    expect(Object.keys(doc).sort()).toEqual(DEPLOYMENT_FIELDS);
    expect(doc).toMatchObject({ v: 1, prefix: h.prefix, enabled: true, partitions: 1, queueSize: 10_000 });
    expect(doc.targets).toEqual([
      { service: 'http-a', kind: 'http', enabled: true, coalesce: true },
      { service: 'http-b', kind: 'http', enabled: true, events: ['user.deleted'], coalesce: true },
      { service: 'cache', kind: 'redis', enabled: false, coalesce: true },
      { service: 'audit', kind: 'handler', enabled: true, coalesce: false },
    ]);
  });

  it('never holds a URL, credentials, headers, secrets, key templates or Redis URLs', async () => {
    const p = prefix();
    const secret = newSecret();
    const stateSecret = newSecret();
    const config: SyncConfigInput = {
      prefix: p,
      redisUrl: 'redis://cfg-user:cfg-redis-pass@127.0.0.1:6379/0',
      dashboard: {
        username: 'dash-admin',
        password: 'dash-password-123',
        token: 'dash-token-0123456789abcdef',
      },
      targets: [
        {
          service: 'orders',
          url: 'https://url-user:url-pass-123@orders.internal.example/hooks?apikey=query-secret',
          secrets: [secret],
          state: {
            bulkUrl: 'https://state-user:state-pass@orders.internal.example/versions',
            secrets: [stateSecret],
          },
        },
        {
          service: 'billing',
          url: 'https://billing.internal.example/hooks',
          headers: { 'x-api-key': 'header-secret-value', authorization: 'Bearer header-bearer-token' },
          rateLimit: { max: 5, duration: '1s' },
        },
        {
          service: 'cache',
          url: 'redis://cache-user:cache-redis-pass@cache.internal.example:6380/2',
          keyTemplate: 'tpl-secret-space:{id}',
        },
      ],
    };
    await deployment(config).writeRegistry('cli');
    const stored = Object.values(await redis.hgetall(registryKey(p))).join('\n');
    const parsed = parseConfig(config);
    const forbidden = [
      'cfg-redis-pass',
      'cfg-user',
      'dash-admin',
      'dash-password-123',
      'dash-token-0123456789abcdef',
      'url-user',
      'url-pass-123',
      'query-secret',
      'internal.example',
      'state-pass',
      secret,
      secret.slice('whsec_'.length),
      stateSecret.slice('whsec_'.length),
      'header-secret-value',
      'header-bearer-token',
      'x-api-key',
      'cache-redis-pass',
      'tpl-secret-space',
      'https://',
      'redis://',
      ...parsed.targets.flatMap((t) => [...t.secrets, ...(t.state?.secrets ?? [])]),
    ];
    for (const value of forbidden) expect(stored).not.toContain(value);
    expect(JSON.parse((await redis.hget(registryKey(p), 'doc')) as string)).toEqual(registryDocument(parsed));
  });

  it('keeps its rev when the same content is written again, raises it on a change, and warns naming the difference', async () => {
    const p = prefix();
    const first = await deployment({ prefix: p, targets: [{ service: 'a', kind: 'handler' }] }).writeRegistry(
      'worker',
    );
    expect(first).toEqual({ changed: true, rev: 1, differences: [] });
    const again = await deployment({ prefix: p, targets: [{ service: 'a', kind: 'handler' }] }).writeRegistry(
      'dashboard',
    );
    expect(again).toEqual({ changed: false, rev: 1, differences: [] });
    expect(await redis.hget(registryKey(p), 'writer')).toMatch(/^worker /);

    const logs = captureLogger('info');
    const other = deployment(
      { prefix: p, queueSize: 50, targets: [{ service: 'b', kind: 'handler', events: ['user.created'] }] },
      logs.logger,
    );
    const replaced = await other.writeRegistry('worker');
    expect(replaced.changed).toBe(true);
    expect(replaced.rev).toBe(2);
    expect(replaced.differences).toEqual([
      'targets only in the registry (removed): a',
      'targets only in this config (added): b',
      'queueSize: 10000 becomes 50',
    ]);
    const warning = logs.entries.find((e) => e.level === 'warn');
    expect(warning).toMatchObject({
      message: expect.stringContaining('last writer wins'),
      differences: replaced.differences,
      previous_writer: expect.stringMatching(/^worker /),
    });
    const disabled = await deployment({
      prefix: p,
      queueSize: 50,
      targets: [{ service: 'b', kind: 'handler', events: ['user.created'], enabled: false }],
    }).writeRegistry('worker');
    expect(disabled.differences).toEqual([
      'target b (handler, enabled, user.created) becomes b (handler, disabled, user.created)',
    ]);
    expect(await redis.hget(registryKey(p), 'rev')).toBe('3');
  });

  it('a config without targets writes nothing; a key of another type is refused', async () => {
    const p = prefix();
    await expect(deployment({ prefix: p }).writeRegistry('worker')).rejects.toThrow(ConfigError);
    expect(await redis.exists(registryKey(p))).toBe(0);
    // A worker with no targets starts and leaves the registry alone.
    const service = new UserSyncService({ prefix: p }, redis, { logger: silent });
    await service.start();
    await service.close();
    expect(await redis.exists(registryKey(p))).toBe(0);
    await redis.set(registryKey(p), 'something else');
    await expect(
      deployment({ prefix: p, targets: [{ service: 'a', kind: 'handler' }] }).writeRegistry('worker'),
    ).rejects.toThrow(ForeignValueError);
    expect(await redis.get(registryKey(p))).toBe('something else');
  });

  it('new UserEventPublisher(redis, source) fans out to the registry, and picks up a target added later', async () => {
    h = await startHarness();
    const previous = { prefix: process.env.USER_SYNC_PREFIX, silent: process.env.USER_SYNC_SILENT };
    process.env.USER_SYNC_PREFIX = h.prefix;
    process.env.USER_SYNC_SILENT = '1';
    let publisher: UserEventPublisher;
    let sync: UserSyncIntegration;
    try {
      // Nothing but the connection and the name: the prefix comes from the environment, as loadConfig() reads it.
      publisher = new UserEventPublisher(h.redis, 'accounts');
      sync = new UserSyncIntegration(h.redis, 'accounts', { logger: silent });
    } finally {
      for (const [name, value] of [
        ['USER_SYNC_PREFIX', previous.prefix],
        ['USER_SYNC_SILENT', previous.silent],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
    expect(publisher.config.targets).toEqual([]);
    const result = await publisher.publishUserCreated({ id: 1, username: 'ada' });
    expect(result.tasks.map((t) => t.slice(result.eventId.length + 1))).toEqual([
      'http-a',
      'http-b',
      'cache',
      'audit',
    ]);
    expect(publisher.config.targets.map((t) => t.service)).toEqual(['http-a', 'http-b', 'cache', 'audit']);
    const viaHooks = await sync.onUserCreated(2, 'grace', 'grace@example.com', 'guest', 'active');
    expect(viaHooks.tasks).toHaveLength(4);
    await waitFor(() => h!.handled.length === 2 && h!.http.every((s) => s.requests.length === 2), {
      what: 'both events delivered to every target',
    });

    // Another worker of the deployment starts with one more target: it rewrites the registry.
    const late: HandledEvent[] = [];
    const subscriber = new UserEventSubscriber().registerHandler('*', (event) => void late.push(event));
    const second = new UserSyncService(
      { ...h.service.config, targets: [...h.service.config.targets, { service: 'late', kind: 'handler' }] },
      h.redis,
      { subscriber, logger: silent },
    );
    cleanups.push(() => second.close());
    await second.start();
    // Within the refresh interval (2 s by default), a publish fans out to it too.
    const reached = await waitFor(
      async () => {
        const r = await publisher.publishUserUpdated({ id: 3, username: 'late' });
        return r.tasks.some((t) => t.endsWith('.late')) ? r : undefined;
      },
      { intervalMs: 100, what: 'a publish that reaches the target added later' },
    );
    await waitFor(() => late.some((e) => e.id === reached.eventId), {
      what: 'the late target to receive it',
    });
  });

  it('a target disabled in the registry gets no delivery', async () => {
    const p = prefix();
    await deployment({
      prefix: p,
      targets: [
        { service: 'on', kind: 'handler' },
        { service: 'off', kind: 'handler', enabled: false },
      ],
    }).writeRegistry('cli');
    const result = await producerOnly(p).publishUserCreated({ id: 7 });
    expect(result.tasks).toEqual([`${result.eventId}.on`]);
    expect(await redis.keys(`${p}:deliver.off:*`)).toEqual([]);
    expect(await redis.exists(`${p}:deliver.on:${result.eventId}.on`)).toBe(1);
  });

  it('with no targets anywhere, publishing is refused with where it looked and what to do', async () => {
    const p = prefix();
    const publisher = producerOnly(p);
    const error = await publisher.publishUserCreated({ id: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).field).toBe('targets');
    expect((error as Error).message).toMatch(/no targets to publish to/);
    expect((error as Error).message).toContain('the config given to the publisher lists none');
    expect((error as Error).message).toContain(`${p}:registry`);
    expect((error as Error).message).toMatch(/Start a worker .*user-sync targets apply/);
    await expect(publisher.publishMany([{ type: 'user.created', user: { id: 2 } }])).rejects.toThrow(
      ConfigError,
    );
    expect(await redis.keys(`${p}*`)).toEqual([]);
    // A worker writes the registry: the very next publish sees it (a failed look is not kept).
    await deployment({ prefix: p, targets: [{ service: 'a', kind: 'handler' }] }).writeRegistry('worker');
    expect((await publisher.publishUserCreated({ id: 1 })).tasks).toHaveLength(1);
  });

  it('enabled: false stays an explicit no-op, in the config or in the registry', async () => {
    const p = prefix();
    const off = await producerOnly(p, { enabled: false }).publishUserCreated({ id: 1 });
    expect(off).toMatchObject({ enabled: false, tasks: [] });
    await deployment({
      prefix: p,
      enabled: false,
      targets: [{ service: 'a', kind: 'handler' }],
    }).writeRegistry('worker');
    const viaRegistry = await producerOnly(p).publishUserCreated({ id: 1 });
    expect(viaRegistry).toMatchObject({ enabled: false, tasks: [] });
    expect((await redis.keys(`${p}*`)).sort()).toEqual([`${p}:registry`]);
  });

  describe('refuses a registry it cannot trust, and enqueues nothing', () => {
    const valid = (p: string) =>
      registryDocument(parseConfig({ prefix: p, targets: [{ service: 'a', kind: 'handler' }] }));
    const cases: Array<[string, (p: string) => Record<string, string> | 'string-key', RegExp]> = [
      ['garbage JSON', () => ({ doc: '{"v":1,"targets":[', rev: '1' }), /is not valid JSON/],
      [
        'a document over 1 MB',
        (p) => ({ doc: JSON.stringify({ ...valid(p), pad: 'x'.repeat(1_100_000) }), rev: '1' }),
        /of 11\d{5} bytes \(the most read is 1048576\)/,
      ],
      [
        'wrong types',
        (p) => ({ doc: JSON.stringify({ ...valid(p), queueSize: '10' }), rev: '1' }),
        /queueSize/,
      ],
      [
        'a target named with path characters',
        (p) => ({
          doc: JSON.stringify({
            ...valid(p),
            targets: [{ service: '../x:y', kind: 'http', enabled: true, coalesce: true }],
          }),
          rev: '1',
        }),
        /targets\[0\]\.service/,
      ],
      [
        'a target carrying a url',
        (p) => ({
          doc: JSON.stringify({
            ...valid(p),
            targets: [{ service: 'a', kind: 'http', enabled: true, coalesce: true, url: 'https://x' }],
          }),
          rev: '1',
        }),
        /targets\[0\]: url: /,
      ],
      [
        'a rev that is not a number',
        (p) => ({ doc: JSON.stringify(valid(p)), rev: 'abc' }),
        /rev "abc" is not a whole number/,
      ],
      [
        "another deployment's document",
        () => ({ doc: JSON.stringify(valid('{elsewhere}')), rev: '1' }),
        /prefix: is "\{elsewhere\}"/,
      ],
      ['a key of another type', () => 'string-key', /holds a string/],
    ];
    it.each(cases)('%s', async (_name, content, reason) => {
      const p = prefix();
      const value = content(p);
      if (value === 'string-key') await redis.set(registryKey(p), 'x');
      else await redis.hset(registryKey(p), value);
      const publisher = producerOnly(p);
      const error = await publisher.publishUserCreated({ id: 1 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ForeignValueError);
      expect((error as Error).message).toContain(`${p}:registry holds`);
      expect((error as Error).message).toMatch(reason);
      expect((error as Error).message).toContain('user-sync targets apply');
      expect(await redis.keys(`${p}*`)).toEqual([`${p}:registry`]);
      // Written again by a worker, the registry is read at the next publish.
      await redis.del(registryKey(p));
      await deployment({ prefix: p, targets: [{ service: 'a', kind: 'handler' }] }).writeRegistry('worker');
      expect((await publisher.publishUserCreated({ id: 1 })).tasks).toHaveLength(1);
    });
  });
});
