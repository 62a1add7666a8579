import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import winston from 'winston';
import {
  ConfigError,
  UserSyncService,
  createLogger,
  dashboardAuthFromConfig,
  startDashboard,
  type DashboardAuth,
  type DashboardServer,
  type UserSnapshot,
} from '../../src/index.js';
import { newSecret, startHarness, type Harness } from '../helpers/harness.js';
import type { HttpTarget } from '../helpers/http-target.js';
import { uniquePrefix, waitFor } from '../helpers/redis.js';

const USERNAME = 'operator';
const PASSWORD = 'correct horse battery staple';
const TOKEN = `tok_${randomBytes(24).toString('hex')}`;
const AUTH: DashboardAuth = { username: USERNAME, password: PASSWORD, token: TOKEN };
const BASIC = `Basic ${Buffer.from(`${USERNAME}:${PASSWORD}`).toString('base64')}`;
const BEARER = `Bearer ${TOKEN}`;

/** Values that must never appear in a dashboard answer. */
const HEADER_VALUE = `hdr-${randomBytes(8).toString('hex')}`;
const URL_PASSWORD = `pw-${randomBytes(8).toString('hex')}`;
const URL_QUERY_TOKEN = `qt-${randomBytes(8).toString('hex')}`;
const REDIS_PASSWORD = `rp-${randomBytes(8).toString('hex')}`;

const user = (id: number): UserSnapshot => ({
  id,
  username: `u${id}`,
  email: `u${id}@example.com`,
  role: 'member',
  status: 'active',
});

const answer = (server: HttpTarget, status: number) => {
  server.respond = (_req, res) => {
    res.statusCode = status;
    res.end(status < 300 ? 'ok' : 'rejected');
  };
};

/** One parsed sample of the Prometheus text format. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE_RE =
  /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*)\})? (-?(?:\d+(?:\.\d+)?(?:e[+-]?\d+)?|\+Inf|-Inf|NaN))$/;
const LABEL_RE = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"/g;

/**
 * A strict enough parser of the text format: every line is blank, a HELP or TYPE comment, or a
 * sample; every sample belongs to a family with both HELP and TYPE.
 */
function parseMetrics(text: string): { samples: Sample[]; types: Map<string, string> } {
  const help = new Set<string>();
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const comment = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (comment) {
      if (comment[1] === 'HELP') help.add(comment[2]!);
      else {
        expect(comment[3]).toMatch(/^(counter|gauge|histogram|summary|untyped)$/);
        types.set(comment[2]!, comment[3]!);
      }
      continue;
    }
    const match = SAMPLE_RE.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(LABEL_RE)) labels[key!] = value!;
    const raw = match[3]!;
    samples.push({ name: match[1]!, labels, value: raw === '+Inf' ? Infinity : Number(raw) });
  }
  for (const sample of samples) {
    const family = types.has(sample.name) ? sample.name : sample.name.replace(/_(bucket|sum|count)$/, '');
    expect({ family, help: help.has(family), type: types.has(family) }).toEqual({
      family,
      help: true,
      type: true,
    });
  }
  return { samples, types };
}

function value(samples: Sample[], name: string, labels: Record<string, string>): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    ?.value;
}

describe('dashboard', () => {
  let h: Harness | undefined;
  let dashboard: DashboardServer | undefined;
  const cleanups: Array<() => Promise<void>> = [];

  afterEach(async () => {
    await dashboard?.close();
    dashboard = undefined;
    await h?.close();
    h = undefined;
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  async function start(options: Parameters<typeof startHarness>[0] = {}) {
    h = await startHarness({
      redisTarget: false,
      handlerTarget: false,
      ...options,
      targetOverrides: { 'http-a': { headers: { 'x-api-key': HEADER_VALUE } } },
      config: {
        ...options.config,
        targets: [
          {
            service: 'legacy',
            url: `https://admin:${URL_PASSWORD}@legacy.example.com/hook?token=${URL_QUERY_TOKEN}`,
            enabled: false,
            // Not authorization: with credentials in the URL too, that is a config error.
            headers: { 'x-legacy-key': HEADER_VALUE },
            secrets: [newSecret(), newSecret()],
          },
          {
            service: 'old-cache',
            url: `redis://:${REDIS_PASSWORD}@127.0.0.1:6390/2?password=${REDIS_PASSWORD}`,
            enabled: false,
          },
        ],
      },
    });
    dashboard = await startDashboard({
      deployment: h.service.deployment,
      auth: AUTH,
      host: '127.0.0.1',
      port: 0,
    });
    return { h, dashboard };
  }

  const call = (path: string, init: RequestInit & { auth?: string | null } = {}) => {
    const { auth = BASIC, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (auth) headers.set('authorization', auth);
    return fetch(`${dashboard!.url}${path}`, { ...rest, headers });
  };
  const json = async <T = Record<string, unknown>>(
    path: string,
    init: RequestInit & { auth?: string | null } = {},
  ) => {
    const res = await call(path, init);
    expect({ path, status: res.status }).toEqual({ path, status: 200 });
    return (await res.json()) as T;
  };
  const post = (path: string, body: unknown) =>
    call(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  it('requires credentials everywhere but /healthz and /readyz', async () => {
    await start();
    for (const path of [
      '/api/stats',
      '/api/targets',
      '/metrics',
      '/admin/queues',
      '/admin/queues/api/queues',
    ]) {
      const res = await call(path, { auth: null });
      expect({ path, status: res.status }).toEqual({ path, status: 401 });
      expect(res.headers.get('www-authenticate')).toBe('Basic realm="user-sync"');
      if (path.startsWith('/api')) expect(await res.json()).toEqual({ error: expect.any(String) });
    }
    const wrongPassword = `Basic ${Buffer.from(`${USERNAME}:nope-nope-nope`).toString('base64')}`;
    const wrongUser = `Basic ${Buffer.from(`someone:${PASSWORD}`).toString('base64')}`;
    for (const auth of [wrongPassword, wrongUser, 'Bearer not-the-token', 'Basic !!!', `Token ${TOKEN}`])
      expect({ auth, status: (await call('/api/stats', { auth })).status }).toEqual({ auth, status: 401 });
    expect((await call('/api/stats', { auth: BASIC })).status).toBe(200);
    expect((await call('/api/stats', { auth: BEARER })).status).toBe(200);
    // A browser logs in with Basic: any user name and the token as password.
    const tokenAsPassword = `Basic ${Buffer.from(`anyone:${TOKEN}`).toString('base64')}`;
    expect((await call('/metrics', { auth: tokenAsPassword })).status).toBe(200);
    expect(await json('/healthz', { auth: null })).toEqual({ ok: true });
    const ready = await call('/readyz', { auth: null });
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ok: true });
    const missing = await call('/api/nothing-here');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: expect.stringContaining('not found') });
  });

  it('/readyz answers 503 when Redis does not answer; API errors are JSON and logged', async () => {
    const dead = new Redis('redis://127.0.0.1:1', {
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
      lazyConnect: true,
    });
    dead.on('error', () => undefined);
    const service = new UserSyncService({ prefix: uniquePrefix('dash'), targets: [] }, dead, {
      logger: createLogger({ silent: true }),
    });
    cleanups.push(async () => {
      await service.close();
      // Already ended (no retries); disconnect() would arm a 2 s timer for a socket that is gone.
      if (dead.status !== 'end') dead.disconnect();
    });
    const logged: string[] = [];
    const logger = winston.createLogger({
      format: winston.format.json(),
      transports: [
        new winston.transports.Stream({
          stream: new Writable({
            write: (chunk: Buffer, _encoding, done) => void (logged.push(chunk.toString('utf8')), done()),
          }),
        }),
      ],
    });
    dashboard = await startDashboard({
      deployment: service.deployment,
      auth: AUTH,
      host: '127.0.0.1',
      port: 0,
      logger,
    });
    const res = await call('/readyz', { auth: null });
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ ok: false, error: expect.stringContaining('Redis') });
    expect((await call('/healthz', { auth: null })).status).toBe(200);

    const failed = await call('/api/stats', { auth: BASIC });
    expect(failed.status).toBe(500);
    expect(await failed.json()).toEqual({ error: expect.any(String) });
    const errors = logged.filter((line) => line.includes('dashboard request failed'));
    expect(errors).toHaveLength(1);
    expect(JSON.parse(errors[0]!)).toMatchObject({
      level: 'error',
      method: 'GET',
      path: '/api/stats',
      status: 500,
    });
    for (const secret of [PASSWORD, TOKEN, BASIC.slice(6)]) expect(logged.join('\n')).not.toContain(secret);
  });

  it('serves the JSON API with the deployment figures, without secrets', async () => {
    const { h } = await start({ start: false });
    const [a, b] = h.http as [HttpTarget, HttpTarget];
    answer(a, 400);
    answer(b, 200);
    const publisher = h.service.createPublisher('accounts');
    const publishedFrom = Date.now();
    const e1 = await publisher.publishUserCreated(user(1));
    const e2 = await publisher.publishUserCreated(user(2));

    // Nothing consumes yet: the backlog shows.
    type Targets = { targets: Array<Record<string, unknown> & { service: string }> };
    const before = await json<Targets>('/api/targets');
    const beforeA = before.targets.find((t) => t.service === 'http-a')!;
    expect(beforeA).toMatchObject({
      backlog: 2,
      counts: { waiting: 2, active: 0, failed: 0, completed: 0 },
      successRate: { window: 0, rate: null },
      lastError: null,
    });
    expect(await json('/api/queue-status')).toEqual(await h.service.getQueueStatus());

    await h.service.start();
    await waitFor(async () => (await h.service.listDeadLetters()).total === 2, { what: '2 dead letters' });
    await waitFor(async () => (await h.service.getStats()).by_target['http-b']!.delivered === 2, {
      what: 'http-b delivered',
    });

    expect(await json('/api/stats')).toEqual(await h.service.getStats());
    // The dashboard reads the deployment: is_running says whether the dashboard's own process runs workers.
    expect(await json('/api/queue-status')).toEqual(await h.service.deployment.getQueueStatus());

    const targetsRes = await call('/api/targets');
    expect(targetsRes.status).toBe(200);
    const raw = await targetsRes.text();
    for (const secret of [...h.secrets, HEADER_VALUE, URL_PASSWORD, URL_QUERY_TOKEN, REDIS_PASSWORD])
      expect(raw).not.toContain(secret);
    expect(raw).not.toContain('whsec_');
    const { targets } = JSON.parse(raw) as Targets;
    expect(targets.map((t) => t.service)).toEqual(['http-a', 'http-b', 'legacy', 'old-cache']);
    const byName = Object.fromEntries(targets.map((t) => [t.service, t]));
    expect(byName['http-a']).toMatchObject({
      kind: 'http',
      url: a.url,
      method: 'POST',
      enabled: true,
      events: null,
      timeoutMs: 2_000,
      rateLimit: null,
      coalesce: true,
      headers: ['x-api-key'],
      secrets: 1,
      backlog: 0,
      counts: { waiting: 0, failed: 2, completed: 0 },
      stats: { delivered: 0, dead: 2 },
      successRate: { window: 2, succeeded: 0, failed: 2, rate: 0 },
      lastError: { source: 'failed', message: expect.stringContaining('400') },
    });
    const lastError = byName['http-a']!.lastError as { jobId: string; at: string };
    expect([`${e1.eventId}.http-a`, `${e2.eventId}.http-a`]).toContain(lastError.jobId);
    expect(Date.parse(lastError.at)).toBeGreaterThanOrEqual(publishedFrom);
    expect(byName['http-b']).toMatchObject({
      backlog: 0,
      counts: { completed: 2, failed: 0 },
      successRate: { window: 2, succeeded: 2, failed: 0, rate: 1 },
      lastError: null,
    });
    expect(byName.legacy).toMatchObject({
      url: 'https://admin:***@legacy.example.com/hook?token=***',
      enabled: false,
      headers: ['x-legacy-key'],
      secrets: 2,
    });
    expect(byName['old-cache']).toMatchObject({ kind: 'redis', secrets: 0 });
    expect(byName['old-cache']!.url).toMatch(/^redis:\/\/:\*\*\*@127\.0\.0\.1:6390\/2\?password=\*\*\*$/);

    // Dead letters: listed, filtered, validated.
    type List = {
      total: number;
      offset: number;
      limit: number;
      records: Array<{ id: string; service: string }>;
    };
    const all = await json<List>('/api/dead-letters');
    expect(all).toMatchObject({ total: 2, offset: 0, limit: 50 });
    expect(all.records.map((r) => r.id).sort()).toEqual(
      [`${e1.eventId}.http-a`, `${e2.eventId}.http-a`].sort(),
    );
    expect(JSON.stringify(all)).not.toContain(h.secrets[0]!);
    expect((await json<List>('/api/dead-letters?target=http-a')).total).toBe(2);
    expect((await json<List>('/api/dead-letters?target=http-b')).total).toBe(0);
    const page = await json<List>('/api/dead-letters?limit=1&offset=1');
    expect(page).toMatchObject({ total: 2, offset: 1, limit: 1 });
    expect(page.records).toHaveLength(1);
    const byId = await json<List>(`/api/dead-letters?id=${encodeURIComponent(`${e1.eventId}.http-a`)}`);
    expect(byId.records.map((r) => r.id)).toEqual([`${e1.eventId}.http-a`]);
    expect((await json<List>(`/api/dead-letters?since=${Date.now() + 60_000}`)).total).toBe(0);
    expect((await json<List>(`/api/dead-letters?since=${new Date(0).toISOString()}`)).total).toBe(2);
    for (const [query, param] of [
      ['limit=0', 'limit'],
      ['limit=501', 'limit'],
      ['limit=ten', 'limit'],
      ['limit=1&limit=2', 'limit'],
      ['offset=-1', 'offset'],
      ['since=yesterday', 'since'],
      ['service=http-a', 'service'],
    ] as const) {
      const res = await call(`/api/dead-letters?${query}`);
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
      const body = (await res.json()) as { error: string };
      expect(body.error.startsWith(`${param}:`)).toBe(true);
    }

    // Replay: refused without a filter, then done by target once the target accepts.
    for (const body of [{}, { ids: [] }, { all: false }, { target: 'nope' }, '{not json', [1]]) {
      const res = await post('/api/dead-letters/replay', body);
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
      expect(await res.json()).toEqual({ error: expect.any(String) });
    }
    answer(a, 200);
    const replay = await post('/api/dead-letters/replay', { target: 'http-a' });
    expect(replay.status).toBe(200);
    const { replayed } = (await replay.json()) as { replayed: string[] };
    expect(replayed.sort()).toEqual([`${e1.eventId}.http-a`, `${e2.eventId}.http-a`].sort());
    await waitFor(async () => (await h.service.getStats()).by_target['http-a']!.delivered === 2, {
      what: 'replayed deliveries',
    });
    expect((await h.service.getStats()).by_target['http-a']).toMatchObject({ dead: 2, replayed: 2 });
    expect((await json<List>('/api/dead-letters')).total).toBe(0);
    expect(await json('/api/stats')).toEqual(await h.service.getStats());

    expect(await json('/api/sweep')).toEqual({
      consistencyCheck: false,
      checkIntervalMs: 300_000,
      autoRepair: false,
      runs: [],
    });
    const run = await h.service.runSweep();
    const sweep = await json<{ runs: Array<{ id: string; targets: Record<string, { unchecked: number }> }> }>(
      '/api/sweep',
    );
    expect(sweep.runs.map((r) => r.id)).toEqual([run!.id]);
    // HTTP targets without a state URL cannot report what they hold: unchecked, never in sync.
    expect(sweep.runs[0]!.targets['http-a']!.unchecked).toBeGreaterThan(0);
    expect((await call('/api/sweep?limit=0', { auth: BASIC })).status).toBe(400);
  });

  it('validates every JSON query: an unknown parameter or a bad limit is a 400 naming it', async () => {
    await start({ start: false });
    const refused = async (path: string, init: RequestInit = {}) => {
      const res = await call(path, init);
      expect({ path, status: res.status }).toEqual({ path, status: 400 });
      return ((await res.json()) as { error: string }).error;
    };

    for (const path of [
      '/api/stats',
      '/api/queue-status',
      '/api/targets',
      '/api/sweep',
      '/api/dead-letters',
    ]) {
      expect({ path, error: await refused(`${path}?verbose=1`) }).toEqual({
        path,
        error: 'verbose: not a known parameter',
      });
      // An empty value is still a parameter nobody asked for.
      expect({ path, error: await refused(`${path}?refresh`) }).toEqual({
        path,
        error: 'refresh: not a known parameter',
      });
    }
    expect(await refused('/api/stats?a=1&b=2')).toBe('a, b: not a known parameter');
    // A known parameter does not excuse an unknown one beside it.
    expect(await refused('/api/sweep?limit=5&verbose=1')).toBe('verbose: not a known parameter');

    for (const query of [
      'limit=0',
      'limit=abc',
      'limit=1001',
      'limit=1&limit=2',
      'limit=',
      'limit=-1',
      'limit=1.5',
    ])
      expect({ query, error: await refused(`/api/sweep?${query}`) }).toEqual({
        query,
        error: 'limit: must be a whole number from 1 to 1000',
      });
    for (const limit of [1, 1000])
      expect(await json(`/api/sweep?limit=${limit}`)).toMatchObject({ consistencyCheck: false, runs: [] });

    // The replay's query goes through the same validator as its body: nothing is replayed.
    const replay = await refused('/api/dead-letters/replay?dryRun=1', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ all: true }),
    });
    expect(replay).toBe('dryRun: not a known parameter');
    expect((await post('/api/dead-letters/replay', { all: true })).status).toBe(200);
  });

  it('serves Bull Board with every queue; a retry from it sends a dead delivery again', async () => {
    const { h } = await start();
    const [a] = h.http as [HttpTarget, HttpTarget];
    answer(a, 400);
    const page = await call('/admin/queues');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(await page.text()).toMatch(/<html/i);
    const html = await (await call('/admin/queues')).text();
    const asset = /src="([^"]+\.js)"/.exec(html)?.[1];
    expect(asset).toBeDefined();
    const assetUrl = new URL(asset!, `${dashboard!.url}/admin/queues/`);
    expect((await call(assetUrl.pathname)).status).toBe(200);

    const board = await json<{ queues: Array<{ name: string } & Record<string, unknown>> }>(
      '/admin/queues/api/queues',
    );
    expect(board.queues.map((q) => q.name).sort()).toEqual(
      ['dead-letter', 'deliver.http-a', 'deliver.http-b', 'maintenance'].sort(),
    );
    const shown = Object.fromEntries(board.queues.map((q) => [q.name, q]));
    expect(shown['dead-letter']).toMatchObject({ readOnlyMode: true, allowRetries: false });
    expect(shown['deliver.http-a']).toMatchObject({
      readOnlyMode: false,
      allowRetries: true,
      allowCompletedRetries: false,
    });

    const publisher = h.service.createPublisher('accounts');
    const e1 = await publisher.publishUserCreated(user(1));
    const e2 = await publisher.publishUserCreated(user(2));
    await waitFor(async () => (await h.service.listDeadLetters({ service: 'http-a' })).total === 2, {
      what: '2 dead letters',
    });
    const queue = h.service.deployment.queues.delivery('http-a');
    // Workers stopped, so the retried job is seen back in the queue before it is delivered.
    await h.service.stop();
    answer(a, 200);
    const id1 = `${e1.eventId}.http-a`;
    const retry = await call(`/admin/queues/api/queues/deliver.http-a/${encodeURIComponent(id1)}/retry`, {
      method: 'PUT',
    });
    expect(retry.status).toBe(204);
    expect(await (await queue.getJob(id1))!.getState()).toBe('waiting');
    // The dead letter goes when a worker takes the retried job (it may die again).
    expect((await h.service.listDeadLetters({ service: 'http-a' })).total).toBe(2);

    const readOnly = await call(`/admin/queues/api/queues/dead-letter/${encodeURIComponent(id1)}/retry`, {
      method: 'PUT',
    });
    // The dead-letter queue is read-only: dead letters are replayed through the API.
    expect(readOnly.status).toBe(403);
    expect(await readOnly.json()).toEqual({ error: expect.stringContaining('/api/dead-letters/replay') });

    const retryAll = await call('/admin/queues/api/queues/deliver.http-a/retry/failed', { method: 'PUT' });
    expect(retryAll.status).toBe(200);
    expect(await (await queue.getJob(`${e2.eventId}.http-a`))!.getState()).toBe('waiting');

    await h.service.start();
    await waitFor(async () => (await h.service.getStats()).by_target['http-a']!.delivered === 2, {
      what: 'retried deliveries',
    });
    expect(a.requests.filter((r) => r.headers['webhook-id'] === id1)).toHaveLength(2);
    // Counted as replays: the deaths stay counted, the counters only grow.
    expect((await h.service.getStats()).by_target['http-a']).toEqual({
      delivered: 2,
      superseded: 0,
      retried: 0,
      dead: 2,
      replayed: 2,
      trimmed: 0,
    });
    expect((await h.service.listDeadLetters()).total).toBe(0);
  });

  it('/metrics parses and moves as deliveries happen', async () => {
    const { h } = await start();
    const [a, b] = h.http as [HttpTarget, HttpTarget];
    answer(a, 400);
    answer(b, 200);
    const scrape = async () => {
      const res = await call('/metrics', { auth: BEARER });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      return parseMetrics(await res.text());
    };
    const publisher = h.service.createPublisher('accounts');
    const publish = async (from: number, n: number) => {
      for (let i = from; i < from + n; i++) await publisher.publishUserCreated(user(i));
    };
    const settled = (delivered: number, dead: number) =>
      waitFor(
        async () => {
          const stats = await h.service.getStats();
          return (
            stats.by_target['http-b']!.delivered === delivered && stats.by_target['http-a']!.dead === dead
          );
        },
        { what: `${delivered} delivered, ${dead} dead` },
      );

    await publish(1, 3);
    await settled(3, 3);
    const first = await scrape();
    const types = first.types;
    let samples = first.samples;
    expect(types.get('user_sync_deliveries_total')).toBe('counter');
    expect(types.get('user_sync_delivery_latency_seconds')).toBe('histogram');
    expect(types.get('user_sync_queue_jobs')).toBe('gauge');
    expect(types.get('user_sync_oldest_waiting_job_age_seconds')).toBe('gauge');
    const deliveries = (target: string, outcome: string) =>
      value(samples, 'user_sync_deliveries_total', { target, outcome });
    expect(deliveries('http-b', 'delivered')).toBe(3);
    expect(deliveries('http-a', 'dead')).toBe(3);
    expect(deliveries('http-a', 'delivered')).toBe(0);
    expect(value(samples, 'user_sync_tasks_total', { state: 'published' })).toBe(6);
    expect(value(samples, 'user_sync_delivery_latency_seconds_count', { target: 'http-b' })).toBe(3);
    expect(
      value(samples, 'user_sync_delivery_latency_seconds_bucket', { target: 'http-b', le: '+Inf' }),
    ).toBe(3);
    const buckets = samples.filter(
      (s) => s.name === 'user_sync_delivery_latency_seconds_bucket' && s.labels.target === 'http-b',
    );
    expect(buckets.length).toBeGreaterThan(2);
    for (let i = 1; i < buckets.length; i++)
      expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value);
    expect(value(samples, 'user_sync_delivery_latency_seconds_sum', { target: 'http-b' })).toBeGreaterThan(0);
    expect(value(samples, 'user_sync_queue_jobs', { queue: 'deliver.http-a', state: 'failed' })).toBe(3);
    expect(value(samples, 'user_sync_queue_jobs', { queue: 'deliver.http-b', state: 'completed' })).toBe(3);
    expect(value(samples, 'user_sync_queue_jobs', { queue: 'dead-letter', state: 'waiting' })).toBe(3);
    expect(value(samples, 'user_sync_queue_jobs', { queue: 'maintenance', state: 'waiting' })).toBe(0);
    expect(value(samples, 'user_sync_oldest_waiting_job_age_seconds', { queue: 'deliver.http-b' })).toBe(0);
    expect(value(samples, 'user_sync_workers', {})).toBe(h.service.config.workers);
    expect(value(samples, 'user_sync_worker_processes', {})).toBe(1);

    await publish(10, 2);
    await settled(5, 5);
    ({ samples } = await scrape());
    expect(deliveries('http-b', 'delivered')).toBe(5);
    expect(value(samples, 'user_sync_delivery_latency_seconds_count', { target: 'http-b' })).toBe(5);

    // A backlog nobody takes: its oldest job ages.
    await h.service.stop();
    await publish(20, 1);
    await waitFor(
      async () => {
        ({ samples } = await scrape());
        return (
          (value(samples, 'user_sync_oldest_waiting_job_age_seconds', { queue: 'deliver.http-b' }) ?? 0) >
          0.04
        );
      },
      { what: 'the waiting job to age' },
    );
    expect(value(samples, 'user_sync_queue_jobs', { queue: 'deliver.http-b', state: 'waiting' })).toBe(1);
    expect(value(samples, 'user_sync_worker_processes', {})).toBe(0);

    // The newest sweep run's figures (HTTP targets without state: unchecked).
    expect(samples.some((s) => s.name === 'user_sync_sweep_last_run_users')).toBe(false);
    const run = await h.service.runSweep();
    ({ samples } = await scrape());
    expect(value(samples, 'user_sync_sweep_last_run_users', {})).toBe(run!.usersChecked);
    expect(value(samples, 'user_sync_sweep_last_run_pairs', { target: 'http-a', class: 'unchecked' })).toBe(
      run!.usersChecked,
    );
    expect(value(samples, 'user_sync_sweep_last_run_repairs', { target: 'http-b' })).toBe(0);
    expect(value(samples, 'user_sync_sweep_last_run_timestamp_seconds', {})).toBeCloseTo(
      Date.parse(run!.finishedAt) / 1000,
    );
  });

  it('refuses to start without credentials unless insecure-local on a loopback host', async () => {
    expect(() => dashboardAuthFromConfig({ host: '127.0.0.1' }, { insecureLocal: false })).toThrow(
      ConfigError,
    );
    expect(() => dashboardAuthFromConfig({ host: '127.0.0.1' }, { insecureLocal: false })).toThrow(
      /USER_SYNC_DASHBOARD_USERNAME.*--insecure-local/,
    );
    expect(() => dashboardAuthFromConfig({ host: '0.0.0.0' }, { insecureLocal: true })).toThrow(ConfigError);
    expect(dashboardAuthFromConfig({ host: '127.0.0.1' }, { insecureLocal: true })).toBe('insecure-local');

    h = await startHarness({ httpTargets: 1, redisTarget: false, handlerTarget: false });
    await expect(
      startDashboard({ deployment: h.service.deployment, auth: 'insecure-local', host: '0.0.0.0', port: 0 }),
    ).rejects.toThrow(ConfigError);
    await expect(
      startDashboard({ deployment: h.service.deployment, auth: {}, host: '127.0.0.1', port: 0 }),
    ).rejects.toThrow(ConfigError);
    dashboard = await startDashboard({
      deployment: h.service.deployment,
      auth: 'insecure-local',
      host: '127.0.0.1',
      port: 0,
    });
    expect(dashboard.url).toBe(`http://127.0.0.1:${dashboard.port}`);
    expect((await call('/api/stats', { auth: null })).status).toBe(200);
  });
});
