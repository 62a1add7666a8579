/**
 * The overview (`GET /api/overview` and the page at `/`) against a real run: real workers
 * deliver to real HTTP targets on loopback and a Redis target, one target is paused through the
 * API, one is disabled, one turns every delivery away (dead letters); the figures shown must be
 * the run's. Then the page: escaping of what Redis holds, roles, strict parameters.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startDashboard, type DashboardServer, type UserSnapshot } from '../../src/index.js';
import type { Overview, OverviewTarget } from '../../src/dashboard/overview.js';
import { PAGE_CSP } from '../../src/dashboard/security.js';
import { RATE_TTL_SECONDS, rateSlot } from '../../src/jobs/rate.js';
import { newSecret, startHarness, type Harness } from '../helpers/harness.js';
import { basicAuth, httpRequest, type RawResponse } from '../helpers/http-request.js';
import { dashboardLogins } from '../helpers/browser.js';
import { waitFor } from '../helpers/redis.js';

const { OPERATOR, VIEWER } = dashboardLogins();
const AS = {
  operator: basicAuth(OPERATOR.username, OPERATOR.password),
  viewer: basicAuth(VIEWER.username, VIEWER.password),
};
const HOSTILE = '<img src=x onerror=alert(1)>';
const USERS = 6;

const user = (id: number): UserSnapshot => ({ id, username: `u${id}`, email: `u${id}@example.com` });

describe('the overview, against a real run', () => {
  let h: Harness;
  let dashboard: DashboardServer;
  /** The dashboard's clock: real time unless a test sets it. */
  let clock: number | undefined;

  const send = (
    path: string,
    options: { as?: string; method?: string; headers?: Record<string, string>; body?: string } = {},
  ) =>
    httpRequest(`${dashboard.url}${path}`, {
      method: options.method ?? 'GET',
      headers: { ...(options.as ? { authorization: options.as } : {}), ...options.headers },
      ...(options.body !== undefined ? { body: options.body } : {}),
    });
  const overview = async (as = AS.viewer): Promise<Overview> => {
    const res = await send('/api/overview', { as });
    expect(res.status).toBe(200);
    return JSON.parse(res.body) as Overview;
  };
  const rowOf = (o: Overview, service: string) =>
    o.targets.find((t) => t.service === service) as OverviewTarget;
  const breakerKey = (service: string) => h.service.deployment.keyspace.deployment.breaker(service);

  beforeAll(async () => {
    h = await startHarness({
      httpTargets: 3,
      handlerTarget: false,
      config: {
        targets: [
          { service: 'off', url: 'http://127.0.0.1:9/users', secrets: [newSecret()], enabled: false },
        ],
      },
    });
    // http-c turns every delivery away for good: dead letters.
    h.http[2]!.respond = (_req, res) => ((res.statusCode = 400), res.end(HOSTILE));
    dashboard = await startDashboard({
      deployment: h.service.deployment,
      auth: { users: [OPERATOR, VIEWER] },
      host: '127.0.0.1',
      port: 0,
      now: () => clock ?? Date.now(),
    });
    const paused = await send('/api/targets/http-b/pause', { as: AS.operator, method: 'POST' });
    expect({ status: paused.status, body: JSON.parse(paused.body) as unknown }).toEqual({
      status: 200,
      body: { service: 'http-b', paused: true },
    });
    const publisher = h.service.createPublisher('accounts');
    for (let id = 1; id <= USERS; id++) await publisher.publishUserCreated(user(id));
    await waitFor(
      async () => {
        const t = (await h.service.getStats()).by_target;
        return (
          t['http-a']?.delivered === USERS && t.cache?.delivered === USERS && t['http-c']?.dead === USERS
        );
      },
      { what: 'every delivery to the running targets finished', timeoutMs: 20_000 },
    );
    const run = await h.service.runSweep({ trigger: 'manual' });
    expect(run?.targets.cache?.in_sync).toBe(USERS);
  });

  afterAll(async () => {
    await dashboard?.close();
    await h?.close();
  });

  it("shows each target's figures as the run made them", async () => {
    const queue = h.service.deployment.queues.delivery('http-b');
    const waiting = await queue.getWaiting();
    expect(waiting).toHaveLength(USERS);
    const at = Date.now() + 5_000;
    clock = at;
    const o = await overview();
    clock = undefined;

    expect(o.targets.map((t) => [t.service, t.state])).toEqual([
      ['http-a', 'ok'],
      ['http-b', 'paused'],
      ['http-c', 'ok'],
      ['cache', 'ok'],
      ['off', 'disabled'],
    ]);
    expect(o).toMatchObject({ board: '/admin/queues', partitions: 1, windowMinutes: 60 });

    const a = rowOf(o, 'http-a');
    expect(a).toMatchObject({
      enabled: true,
      paused: false,
      breaker: { state: 'closed', since: null, reason: null, retryAt: null },
      backlog: 0,
      oldestWaitingAgeMs: 0,
      deliveredInWindow: USERS,
      successRate: { window: USERS, succeeded: USERS, failed: 0, rate: 1 },
      deadLetters: 0,
      lastError: null,
      board: [{ partition: 0, queue: 'deliver.http-a', url: '/admin/queues/queue/deliver.http-a' }],
    });
    expect(a.deliveriesPerMinute).toHaveLength(60);
    expect(a.deliveriesPerMinute.reduce((s, n) => s + n, 0)).toBe(USERS);
    expect(a.latency.count).toBe(USERS);
    expect(a.latency.p50Ms).toBeGreaterThan(0);
    expect(a.latency.p99Ms).toBeGreaterThanOrEqual(a.latency.p50Ms as number);
    // HTTP targets without a state URL cannot be compared by the sweep.
    expect(a.sweep).toMatchObject({ inSync: 0, compared: 0, unchecked: USERS, share: null });

    const b = rowOf(o, 'http-b');
    expect(b).toMatchObject({ paused: true, backlog: USERS, deliveredInWindow: 0, deadLetters: 0 });
    expect(b.oldestWaitingAgeMs).toBe(at - Math.min(...waiting.map((j) => j.timestamp)));
    expect(o.generatedAt).toBe(new Date(at).toISOString());
    expect(b.latency).toEqual({ count: 0, p50Ms: null, p99Ms: null });
    expect(b.successRate.rate).toBeNull();

    const c = rowOf(o, 'http-c');
    expect(c).toMatchObject({
      backlog: 0,
      deliveredInWindow: 0,
      deadLetters: USERS,
      successRate: { window: USERS, succeeded: 0, failed: USERS, rate: 0 },
    });
    expect(c.lastError?.message).toMatch(/400/);

    const cache = rowOf(o, 'cache');
    expect(cache).toMatchObject({
      deliveredInWindow: USERS,
      sweep: { inSync: USERS, compared: USERS, share: 1 },
    });
    expect(cache.sweep?.runId).toEqual(expect.any(String));

    const off = rowOf(o, 'off');
    expect(off).toMatchObject({
      enabled: false,
      state: 'disabled',
      board: [],
      deliveredInWindow: 0,
      sweep: null,
    });
  });

  it('counts deliveries per minute in an hour hash of the partition that expires', async () => {
    const keys = h.service.deployment.keyspace.partition(0);
    const { hour } = rateSlot(Date.now());
    // The minute's hash, or the previous hour's if the run straddled the hour.
    const counted = async (service: string) => {
      let sum = 0;
      for (const hr of [hour - 1, hour]) {
        const fields = await h.redis.hgetall(keys.deliveryRate(service, hr));
        for (const v of Object.values(fields)) sum += Number(v);
      }
      return sum;
    };
    expect(await counted('http-a')).toBe(USERS);
    expect(await counted('http-c')).toBe(0);
    const ttl = await h.redis.ttl(keys.deliveryRate('http-a', hour));
    expect(ttl === -2 || (ttl > 0 && ttl <= RATE_TTL_SECONDS)).toBe(true);
  });

  it('shows a breaker from its record; a malformed record reads as closed', async () => {
    const since = Date.now() - 60_000;
    await h.redis.hset(breakerKey('http-a'), {
      state: 'open',
      since: String(since),
      reason: 'down',
      retryAt: String(since + 90_000),
    });
    await h.redis.hset(breakerKey('cache'), { state: 'half-open', since: String(since) });
    await h.redis.hset(breakerKey('http-c'), { state: 'exploded', since: 'yesterday' });
    // Paused by hand and open: paused says more.
    await h.redis.hset(breakerKey('http-b'), { state: 'open', since: 'soon', retryAt: '1e400' });
    try {
      const o = await overview();
      expect(rowOf(o, 'http-a')).toMatchObject({
        state: 'breaker-open',
        breaker: { state: 'open', since, reason: 'down', retryAt: since + 90_000 },
      });
      expect(rowOf(o, 'cache')).toMatchObject({
        state: 'breaker-half-open',
        breaker: { state: 'half-open', since, reason: null, retryAt: null },
      });
      expect(rowOf(o, 'http-c')).toMatchObject({ state: 'ok', breaker: { state: 'closed', since: null } });
      expect(rowOf(o, 'http-b')).toMatchObject({
        state: 'paused',
        breaker: { state: 'open', since: null, retryAt: null },
      });
      const targets = JSON.parse((await send('/api/targets', { as: AS.viewer })).body) as {
        targets: Array<{ service: string; breaker: unknown }>;
      };
      expect(targets.targets.find((t) => t.service === 'http-a')?.breaker).toEqual({
        state: 'open',
        since,
        reason: 'down',
        retryAt: since + 90_000,
      });
    } finally {
      await h.redis.del(
        breakerKey('http-a'),
        breakerKey('cache'),
        breakerKey('http-c'),
        breakerKey('http-b'),
      );
    }
  });

  it('refuses unknown or malformed parameters, and everyone without credentials', async () => {
    for (const path of [
      '/api/overview?x=1',
      '/?x=1',
      `/?${'a'.repeat(4000)}=1`,
      '/api/overview?limit=5&limit=6',
      '/overview/overview.js?v=2',
    ]) {
      const res = await send(path, { as: AS.viewer });
      expect({ path, status: res.status }).toEqual({ path, status: 400 });
      expect((JSON.parse(res.body) as { error: string }).error).toMatch(/: not a known parameter$/);
    }
    for (const path of ['/', '/api/overview', '/overview/overview.js']) {
      expect((await send(path)).status).toBe(401);
      expect((await send(path, { as: basicAuth(VIEWER.username, 'wrong') })).status).toBe(401);
    }
  });

  it('serves the page with its own files under a CSP that allows nothing inline', async () => {
    const page = await send('/', { as: AS.viewer });
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toBe(PAGE_CSP);
    expect(page.headers['cache-control']).toBe('no-store');
    expect(page.body).not.toMatch(/<script>|<style|style="|\son[a-z]+=/i);
    const scripts = [...page.body.matchAll(/<script src="([^"]+)"/g)].map((m) => m[1]);
    const sheets = [...page.body.matchAll(/<link rel="stylesheet" href="([^"]+)"/g)].map((m) => m[1]);
    expect({ scripts, sheets }).toEqual({
      scripts: ['/overview/overview.js'],
      sheets: ['/overview/overview.css'],
    });
    const js = await send('/overview/overview.js', { as: AS.viewer });
    expect([js.status, js.headers['content-type'], js.headers['x-content-type-options']]).toEqual([
      200,
      'text/javascript; charset=utf-8',
      'nosniff',
    ]);
    expect(js.body).toContain("'/api/users/' + encodeURIComponent(id)");
    const css = await send('/overview/overview.css', { as: AS.viewer });
    expect([css.status, css.headers['content-type']]).toEqual([200, 'text/css; charset=utf-8']);
    expect(page.body).toContain('href="/admin/queues"');
    expect(page.body).toContain('href="/admin/queues/queue/deliver.http-a"');
  });

  it('gives operators pause and resume buttons, viewers none; a viewer cannot pause', async () => {
    const buttons = (res: RawResponse) =>
      [...res.body.matchAll(/<button[^>]*data-action="([a-z]+)"[^>]*data-service="([^"]+)"/g)].map(
        (m) => `${m[1]} ${m[2]}`,
      );
    const asViewer = await send('/', { as: AS.viewer });
    expect(buttons(asViewer)).toEqual([]);
    expect(asViewer.body).toContain('viewer · read-only');
    expect(asViewer.body).not.toContain('Actions');
    const asOperator = await send('/', { as: AS.operator });
    expect(buttons(asOperator)).toEqual(['pause http-a', 'resume http-b', 'pause http-c', 'pause cache']);

    const refused = await send('/api/targets/http-b/resume', { as: AS.viewer, method: 'POST' });
    expect(refused.status).toBe(403);
    const crossSite = await send('/api/targets/http-b/resume', {
      as: AS.operator,
      method: 'POST',
      headers: { 'sec-fetch-site': 'cross-site', 'content-type': 'application/json' },
      body: '{}',
    });
    expect(crossSite.status).toBe(403);
    const form = await send('/api/targets/http-b/resume', {
      as: AS.operator,
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'a=1',
    });
    expect(form.status).toBe(415);
    await expect(h.service.deployment.queues.delivery('http-b').isPaused()).resolves.toBe(true);
    expect(rowOf(await overview(), 'http-b').state).toBe('paused');
  });

  it('escapes everything it shows from Redis: a breaker reason, a forged sweep run', async () => {
    const d = h.service.deployment.keyspace.deployment;
    await h.redis.hset(breakerKey('http-a'), { state: 'open', reason: HOSTILE, since: String(Date.now()) });
    const forged = {
      id: `"><script>alert(1)</script>`,
      finishedAt: HOSTILE,
      targets: { 'http-a': { in_sync: 1, missing: '<b>', stale: -4 } },
    };
    await h.redis.lpush(d.sweepRuns, JSON.stringify(forged));
    try {
      const page = await send('/', { as: AS.operator });
      expect(page.status).toBe(200);
      expect(page.body).not.toContain('<img');
      expect(page.body).not.toContain('<script>alert');
      expect(page.body).toContain('&lt;img src=x onerror=alert(1)&gt;');
      // The forged figures count as numbers or not at all: 1 of 1 in sync.
      expect(rowOf(await overview(), 'http-a').sweep).toMatchObject({ inSync: 1, compared: 1, share: 1 });
    } finally {
      await h.redis.del(breakerKey('http-a'));
      await h.redis.lpop(d.sweepRuns);
    }
  });
});

describe('the overview of a partitioned deployment', () => {
  let h: Harness;
  let dashboard: DashboardServer;
  const PARTITIONS = 3;
  const COUNT = 12;

  beforeAll(async () => {
    h = await startHarness({
      httpTargets: 1,
      redisTarget: false,
      handlerTarget: false,
      config: { partitions: PARTITIONS },
    });
    dashboard = await startDashboard({
      deployment: h.service.deployment,
      auth: { users: [VIEWER] },
      host: '127.0.0.1',
      port: 0,
    });
    const publisher = h.service.createPublisher('accounts');
    for (let id = 1; id <= COUNT; id++) await publisher.publishUserCreated(user(id));
    await waitFor(async () => (await h.service.getStats()).by_target['http-a']?.delivered === COUNT, {
      what: 'every delivery',
    });
  });

  afterAll(async () => {
    await dashboard?.close();
    await h?.close();
  });

  it("sums each partition's counters and links each partition's queue", async () => {
    const res = await httpRequest(`${dashboard.url}/api/overview`, { headers: { authorization: AS.viewer } });
    const row = (JSON.parse(res.body) as Overview).targets[0] as OverviewTarget;
    expect(row.deliveredInWindow).toBe(COUNT);
    expect(row.latency.count).toBe(COUNT);
    expect(row.board.map((b) => [b.queue, b.url])).toEqual(
      Array.from({ length: PARTITIONS }, (_, p) => [
        `deliver.http-a.p${p}`,
        `/admin/queues/queue/deliver.http-a.p${p}`,
      ]),
    );
    // The counters really are spread: more than one partition counted some.
    const { hour } = rateSlot(Date.now());
    const perPartition = await Promise.all(
      h.service.deployment.keyspace.all().map(async (keys) => {
        let sum = 0;
        for (const hr of [hour - 1, hour])
          for (const v of Object.values(await h.redis.hgetall(keys.deliveryRate('http-a', hr))))
            sum += Number(v);
        return sum;
      }),
    );
    expect(perPartition.reduce((s, n) => s + n, 0)).toBe(COUNT);
    expect(perPartition.filter((n) => n > 0).length).toBeGreaterThan(1);
    const page = await httpRequest(`${dashboard.url}/`, { headers: { authorization: AS.viewer } });
    expect(page.body).toContain('href="/admin/queues/queue/deliver.http-a.p0"');
    expect(page.body).toContain('href="/admin/queues/queue/deliver.http-a.p2"');
  });
});
