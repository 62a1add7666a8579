/**
 * Roles and the Bull Board allow-list, attacked the way the findings describe: a real dashboard
 * on a real Redis, real jobs, real HTTP targets. Any valid credential used to be able to add a
 * forged job that was signed and delivered, and to pause, clean, empty or obliterate queues.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from '@jest/globals';
import { appRoutes } from '@bull-board/api/dist/routes.js';
import type { Queue } from 'bullmq';
import {
  startDashboard,
  type DashboardAuth,
  type DashboardServer,
  type UserSnapshot,
} from '../../src/index.js';
import { NEVER_ALLOWED } from '../../src/dashboard/board-guard.js';
import { scanKeys } from '../../src/redis.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { startHttpTarget, type HttpTarget } from '../helpers/http-target.js';
import { basicAuth } from '../helpers/http-request.js';
import { dashboardLogins } from '../helpers/browser.js';
import { waitFor } from '../helpers/redis.js';

const LEGACY = { username: 'root-ops', password: `legacy-${randomBytes(8).toString('hex')}` };
const { OPERATOR, VIEWER } = dashboardLogins();
const OPERATOR_TOKEN = `opt_${randomBytes(16).toString('hex')}`;
const VIEWER_TOKEN = `vwt_${randomBytes(16).toString('hex')}`;
const AUTH: DashboardAuth = {
  ...LEGACY,
  users: [OPERATOR, VIEWER],
  tokens: [
    { token: OPERATOR_TOKEN, role: 'operator' },
    { token: VIEWER_TOKEN, role: 'viewer' },
  ],
};

/** Every way to log in, by role. */
const AS = {
  operator: basicAuth(OPERATOR.username, OPERATOR.password),
  operatorToken: `Bearer ${OPERATOR_TOKEN}`,
  legacyOperator: basicAuth(LEGACY.username, LEGACY.password),
  viewer: basicAuth(VIEWER.username, VIEWER.password),
  viewerToken: `Bearer ${VIEWER_TOKEN}`,
};
const OPERATORS = [AS.operator, AS.operatorToken, AS.legacyOperator];
const VIEWERS = [AS.viewer, AS.viewerToken];

const user = (id: number, extra: Partial<UserSnapshot> = {}): UserSnapshot => ({
  id,
  username: `u${id}`,
  email: `u${id}@example.com`,
  ...extra,
});

const answer = (server: HttpTarget, status: number) => {
  server.respond = (_req, res) => {
    res.statusCode = status;
    res.end(status < 300 ? 'ok' : 'rejected');
  };
};

/**
 * Every action route (every method but GET) of Bull Board's API, as its route table
 * (node_modules/@bull-board/api/dist/routes.js) declares them, with a body where one is taken.
 * Kept here rather than read from the table, so that a route a new Bull Board adds fails the
 * first test below until someone decides about it.
 */
const BOARD_ACTION_ROUTES: Array<{ method: string; route: string; body?: unknown }> = [
  { method: 'put', route: '/api/queues/pause' },
  { method: 'put', route: '/api/queues/resume' },
  {
    method: 'post',
    route: '/api/queues/:queueName/add',
    body: { name: 'forged', data: { userId: 1, version: Number.MAX_SAFE_INTEGER }, options: {} },
  },
  { method: 'put', route: '/api/queues/:queueName/retry/:queueStatus' },
  { method: 'put', route: '/api/queues/:queueName/promote' },
  { method: 'put', route: '/api/queues/:queueName/clean/:queueStatus' },
  { method: 'put', route: '/api/queues/:queueName/pause' },
  { method: 'put', route: '/api/queues/:queueName/resume' },
  { method: 'put', route: '/api/queues/:queueName/concurrency', body: { concurrency: 1 } },
  { method: 'put', route: '/api/queues/:queueName/rate-limit', body: { max: 1, duration: 60_000 } },
  { method: 'put', route: '/api/queues/:queueName/rate-limit/release' },
  { method: 'put', route: '/api/queues/:queueName/empty' },
  { method: 'put', route: '/api/queues/:queueName/obliterate', body: { force: true } },
  { method: 'put', route: '/api/queues/:queueName/job-schedulers/:schedulerId/remove' },
  {
    method: 'patch',
    route: '/api/queues/:queueName/job-schedulers/:schedulerId',
    body: { repeat: { every: 1000 }, template: { data: {} } },
  },
  { method: 'put', route: '/api/queues/:queueName/job-schedulers/:schedulerId/run' },
  { method: 'put', route: '/api/queues/:queueName/:jobId/retry' },
  { method: 'put', route: '/api/queues/:queueName/:jobId/clean' },
  { method: 'put', route: '/api/queues/:queueName/:jobId/promote' },
  {
    method: 'patch',
    route: '/api/queues/:queueName/:jobId/update-data',
    body: {
      data: { userId: 1, version: Number.MAX_SAFE_INTEGER, user: { id: 1, email: 'evil@example.com' } },
    },
  },
  { method: 'patch', route: '/api/queues/:queueName/:jobId/delay', body: { delay: 0 } },
  { method: 'patch', route: '/api/queues/:queueName/:jobId/priority', body: { priority: 1 } },
  { method: 'put', route: '/api/queues/:queueName/:jobId/remove-unprocessed-children' },
];

/** Job states BullMQ keeps, for `clean` and `retry-all` attacks and for reading every job. */
const STATES = ['completed', 'failed', 'wait', 'waiting', 'active', 'delayed', 'paused', 'prioritized'];
const ALL_JOB_STATES = [
  'waiting',
  'active',
  'delayed',
  'prioritized',
  'failed',
  'completed',
  'waiting-children',
] as const;

describe('dashboard roles and the Bull Board allow-list', () => {
  let h: Harness | undefined;
  let dashboard: DashboardServer | undefined;
  const extra: HttpTarget[] = [];

  afterEach(async () => {
    await dashboard?.close();
    dashboard = undefined;
    await h?.close();
    h = undefined;
    for (const server of extra.splice(0)) await server.close();
  });

  async function start(options: Parameters<typeof startHarness>[0] = {}) {
    h = await startHarness({ redisTarget: false, handlerTarget: false, ...options });
    dashboard = await startDashboard({
      deployment: h.service.deployment,
      auth: AUTH,
      host: '127.0.0.1',
      port: 0,
    });
    return { h, dashboard };
  }

  /** A request as the dashboard's own page sends it: same origin, JSON body when there is one. */
  const call = (
    path: string,
    auth: string,
    init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
  ) => {
    const method = init.method ?? 'GET';
    const headers = new Headers({ authorization: auth, ...init.headers });
    if (method !== 'GET') {
      headers.set('origin', dashboard!.url);
      headers.set('sec-fetch-site', 'same-origin');
    }
    if (init.body !== undefined) headers.set('content-type', 'application/json');
    return fetch(`${dashboard!.url}${path}`, {
      method,
      headers,
      ...(init.body !== undefined
        ? { body: typeof init.body === 'string' ? init.body : JSON.stringify(init.body) }
        : {}),
    });
  };
  const post = (path: string, auth: string, body?: unknown) =>
    call(path, auth, { method: 'POST', ...(body !== undefined ? { body } : {}) });

  /** The queues Bull Board shows. */
  const boardQueues = (harness: Harness): Queue[] => {
    const d = harness.service.deployment;
    return [
      ...d.config.targets.filter((t) => t.enabled).map((t) => d.queues.delivery(t.service)),
      d.queues.deadLetter,
      d.queues.maintenance,
    ];
  };

  /**
   * Everything an action could change: per queue its counts, paused flag, metadata (global
   * concurrency, rate limit), rate-limit state, schedulers and every job with its data, options
   * and state; the dead letters; and the list of keys under the prefix.
   */
  async function snapshot(harness: Harness) {
    const queues: Record<string, unknown> = {};
    for (const queue of boardQueues(harness)) {
      const jobs = await queue.getJobs([...ALL_JOB_STATES], 0, -1);
      queues[queue.name] = {
        counts: await queue.getJobCounts(...ALL_JOB_STATES),
        paused: await queue.isPaused(),
        meta: await harness.redis.hgetall(queue.keys.meta!),
        concurrency: await queue.getGlobalConcurrency(),
        rateLimitTtl: await queue.getRateLimitTtl(),
        schedulers: await queue.getJobSchedulers(),
        jobs: await Promise.all(
          jobs
            .sort((x, y) => String(x.id).localeCompare(String(y.id)))
            .map(async (job) => ({
              id: job.id,
              name: job.name,
              data: job.data as unknown,
              opts: job.opts,
              priority: job.priority,
              delay: job.delay,
              attemptsMade: job.attemptsMade,
              state: await job.getState(),
            })),
        ),
      };
    }
    const keys: string[] = [];
    for await (const found of scanKeys(harness.redis, `${harness.prefix}*`)) keys.push(...found);
    const { records } = await harness.service.listDeadLetters({ limit: 500 });
    return { queues, deadLetters: records, keys: keys.sort() };
  }

  it("refuses every Bull Board action but retrying failed jobs and pausing or resuming a target, an operator's too; queues, job data and dead letters stay as they were", async () => {
    // The test's list is Bull Board's list: a new action route must be decided about.
    const table = appRoutes.api
      .flatMap((r) => [r.method].flat().flatMap((m) => [r.route].flat().map((route) => `${m} ${route}`)))
      .filter((key) => !key.startsWith('get '))
      .sort();
    expect(BOARD_ACTION_ROUTES.map((r) => `${r.method} ${r.route}`).sort()).toEqual(table);

    const { h } = await start({ config: { consistencyCheck: true, checkInterval: '1h' } });
    const [a, b] = h.http as [HttpTarget, HttpTarget];
    answer(a, 400);
    answer(b, 200);
    const publisher = h.service.createPublisher('accounts');
    for (let id = 1; id <= 3; id++) await publisher.publishUserCreated(user(id));
    await waitFor(async () => (await h.service.listDeadLetters()).total === 3, { what: '3 dead letters' });
    await waitFor(async () => (await h.service.getStats()).by_target['http-b']!.delivered === 3, {
      what: '3 delivered',
    });
    const maintenance = h.service.deployment.queues.maintenance;
    await waitFor(
      async () => {
        const counts = await maintenance.getJobCounts('delayed', 'active', 'waiting');
        return counts.delayed === 1 && counts.active === 0 && counts.waiting === 0;
      },
      { what: "the sweep scheduler's next run, delayed" },
    );
    await h.service.stop();
    // Waiting jobs too: published while no worker runs.
    for (let id = 4; id <= 5; id++) await publisher.publishUserCreated(user(id));
    const received = a.requests.length + b.requests.length;
    const before = await snapshot(h);

    // Every action route, on every queue, with every job of that queue and every state.
    const jobsOf = new Map<string, Array<{ id: string; state: string }>>();
    for (const queue of boardQueues(h)) {
      const jobs = await queue.getJobs([...ALL_JOB_STATES], 0, -1);
      jobsOf.set(
        queue.name,
        await Promise.all(jobs.map(async (j) => ({ id: j.id!, state: await j.getState() }))),
      );
    }
    expect(
      [...jobsOf.values()]
        .flat()
        .map((j) => j.state)
        .sort(),
    ).toEqual(expect.arrayContaining(['completed', 'delayed', 'failed', 'waiting']));
    const retryable = (queue: string) => queue !== 'dead-letter';
    const attacks: Array<{ method: string; path: string; body?: unknown }> = [];
    for (const { method, route, body } of BOARD_ACTION_ROUTES) {
      for (const queue of boardQueues(h).map((q) => q.name)) {
        const statuses = route.includes(':queueStatus') ? STATES : [''];
        const jobs = route.includes(':jobId') ? jobsOf.get(queue)! : [{ id: '', state: '' }];
        for (const status of statuses) {
          for (const job of jobs) {
            // What an operator may do, tried below: not an attack.
            if (
              route === '/api/queues/:queueName/retry/:queueStatus' &&
              status === 'failed' &&
              retryable(queue)
            )
              continue;
            if (route === '/api/queues/:queueName/:jobId/retry' && job.state === 'failed' && retryable(queue))
              continue;
            if (/^\/api\/queues\/:queueName\/(pause|resume)$/.test(route) && queue.startsWith('deliver.'))
              continue;
            const path = route
              .replace(':queueName', encodeURIComponent(queue))
              .replace(':queueStatus', status)
              .replace(':jobId', encodeURIComponent(job.id))
              .replace(':schedulerId', 'consistency-sweep');
            attacks.push({ method, path, ...(body !== undefined ? { body } : {}) });
            if (!route.includes(':queueName')) break;
          }
        }
        if (!route.includes(':queueName')) break;
      }
    }
    // The same routes spelled the other ways express accepts, and methods Bull Board does not use.
    const failedId = jobsOf.get('deliver.http-a')!.find((j) => j.state === 'failed')!.id;
    attacks.push(
      { method: 'post', path: '/API/QUEUES/deliver.http-a/ADD/', body: BOARD_ACTION_ROUTES[2]!.body },
      { method: 'put', path: '/api/queues/deliver.http-a/EMPTY' },
      { method: 'put', path: '/api/queues/deliver.http-a/clean/retry' },
      { method: 'delete', path: `/api/queues/deliver.http-a/${encodeURIComponent(failedId)}` },
      { method: 'post', path: `/api/queues/deliver.http-a/${encodeURIComponent(failedId)}/retry` },
      { method: 'put', path: '/api/queues/deliver.http-a/some-future-action' },
      { method: 'post', path: '/' },
    );
    expect(attacks.length).toBeGreaterThan(200);

    for (const [i, { method, path, body }] of attacks.entries()) {
      const res = await call(`/admin/queues${path}`, OPERATORS[i % OPERATORS.length]!, {
        method: method.toUpperCase(),
        ...(body !== undefined ? { body } : {}),
      });
      expect({ attack: `${method.toUpperCase()} ${path}`, status: res.status }).toEqual({
        attack: `${method.toUpperCase()} ${path}`,
        status: 403,
      });
      const reply = (await res.json()) as { error: string };
      expect(typeof reply.error).toBe('string');
    }
    // The answer to an action nobody may do says so.
    const add = await call('/admin/queues/api/queues/deliver.http-a/add', AS.operator, {
      method: 'POST',
      body: BOARD_ACTION_ROUTES[2]!.body,
    });
    expect(await add.json()).toEqual({ error: NEVER_ALLOWED });

    expect(await snapshot(h)).toEqual(before);
    expect(a.requests.length + b.requests.length).toBe(received);
  });

  it('the forged job: an operator cannot add a delivery with a huge version; the target receives nothing and later updates still arrive', async () => {
    const { h } = await start({ httpTargets: 1 });
    const target = h.http[0]!;
    const publisher = h.service.createPublisher('accounts');
    const created = await publisher.publishUserCreated(user(7));
    await waitFor(async () => (await h.service.getStats()).by_target['http-a']!.delivered === 1, {
      what: 'the real create',
    });
    const forged = {
      name: 'deliver',
      data: {
        v: 1,
        eventId: 'forged-event',
        service: 'http-a',
        type: 'user.updated',
        userId: 7,
        version: 9_007_199_254_740_000,
        user: { id: 7, username: 'u7', email: 'attacker@example.com', role: 'admin', status: 'active' },
        timestamp: new Date().toISOString(),
        source: 'accounts',
      },
      options: { jobId: 'forged-event.http-a' },
    };
    for (const auth of [...OPERATORS, ...VIEWERS]) {
      const res = await call('/admin/queues/api/queues/deliver.http-a/add', auth, {
        method: 'POST',
        body: forged,
      });
      expect(res.status).toBe(403);
      expect(await res.json()).toEqual({ error: expect.any(String) });
    }
    expect(
      await h.service.deployment.queues.delivery('http-a').getJob('forged-event.http-a'),
    ).toBeUndefined();

    // The user's real later update goes through: nothing raised the watermark past it.
    const updated = await publisher.publishUserUpdated(user(7, { email: 'u7-new@example.com' }), {
      email: 'u7-new@example.com',
    });
    await waitFor(async () => (await h.service.getStats()).by_target['http-a']!.delivered === 2, {
      what: 'the real update delivered',
    });
    const bodies = target.requests.map((r) => JSON.parse(r.body) as { event_id: string; version: number });
    expect(bodies.map((b) => [b.event_id, b.version])).toEqual([
      [created.eventId, created.version],
      [updated.eventId, updated.version],
    ]);
    expect(target.requests.map((r) => r.body).join('\n')).not.toContain('attacker@example.com');
    const watermark = await h.redis.hget(h.service.deployment.keyspace.partition(0).watermark('http-a'), '7');
    expect(Number(watermark)).toBe(updated.version);
    expect((await h.service.getStats()).by_target['http-a']).toMatchObject({ delivered: 2, superseded: 0 });
  });

  it("a viewer reads everything, Bull Board read-only, and is refused every action; an operator's actions go through", async () => {
    const { h } = await start({ start: false });
    const [a] = h.http as [HttpTarget, HttpTarget];
    answer(a, 400);
    const publisher = h.service.createPublisher('accounts');
    for (let id = 1; id <= 3; id++) await publisher.publishUserCreated(user(id));
    await h.service.start();
    await waitFor(async () => (await h.service.listDeadLetters()).total === 3, { what: '3 dead letters' });
    await h.service.stop();
    const queue = h.service.deployment.queues.delivery('http-a');
    const [failed] = await queue.getFailed(0, 0);

    for (const auth of VIEWERS) {
      for (const path of [
        '/api/stats',
        '/api/queue-status',
        '/api/targets',
        '/api/dead-letters',
        '/api/sweep',
        '/metrics',
        '/admin/queues',
        `/admin/queues/api/queues/deliver.http-a/${encodeURIComponent(failed!.id!)}`,
      ])
        expect({ path, status: (await call(path, auth)).status }).toEqual({ path, status: 200 });
      const board = (await (await call('/admin/queues/api/queues', auth)).json()) as {
        queues: Array<{ name: string; readOnlyMode: boolean; allowRetries: boolean }>;
      };
      expect(board.queues).toHaveLength(4);
      for (const q of board.queues) expect(q).toMatchObject({ readOnlyMode: true, allowRetries: false });

      for (const [method, path, body] of [
        ['POST', '/api/dead-letters/replay', { all: true }],
        ['POST', '/api/dead-letters/purge', { all: true }],
        ['POST', '/api/targets/http-a/pause', undefined],
        ['POST', '/api/targets/http-a/resume', undefined],
        ['POST', '/api/sweep', undefined],
        [
          'PUT',
          `/admin/queues/api/queues/deliver.http-a/${encodeURIComponent(failed!.id!)}/retry`,
          undefined,
        ],
        ['PUT', '/admin/queues/api/queues/deliver.http-a/retry/failed', undefined],
        ['PUT', '/admin/queues/api/queues/deliver.http-a/pause', undefined],
        ['PUT', '/admin/queues/api/queues/deliver.http-a/resume', undefined],
      ] as const) {
        const res = await call(path, auth, { method, ...(body !== undefined ? { body } : {}) });
        expect({ method, path, status: res.status }).toEqual({ method, path, status: 403 });
        expect(await res.json()).toEqual({ error: expect.stringContaining('forbidden') });
      }
    }
    expect((await h.service.listDeadLetters()).total).toBe(3);
    expect(await queue.getFailedCount()).toBe(3);
    expect(await queue.isPaused()).toBe(false);
    expect(await h.service.getSweepRuns()).toEqual([]);

    // Operators, whichever way they log in.
    const [op, opToken, legacy] = OPERATORS as [string, string, string];
    const pause = await call('/admin/queues/api/queues/deliver.http-a/pause', op, { method: 'PUT' });
    expect(pause.status).toBe(200);
    expect(await queue.isPaused()).toBe(true);
    expect(
      (await call('/admin/queues/api/queues/deliver.http-a/resume', opToken, { method: 'PUT' })).status,
    ).toBe(200);
    expect(await queue.isPaused()).toBe(false);
    // Never the maintenance queue, never completed jobs, never the dead-letter queue.
    for (const [path, error] of [
      ['/admin/queues/api/queues/maintenance/pause', /delivery queue/],
      ['/admin/queues/api/queues/deliver.http-a/retry/completed', /only failed jobs/],
      ['/admin/queues/api/queues/dead-letter/retry/failed', /replay/],
    ] as const) {
      const res = await call(path, legacy, { method: 'PUT' });
      expect({ path, status: res.status }).toEqual({ path, status: 403 });
      expect(((await res.json()) as { error: string }).error).toMatch(error);
    }
    const retry = await call(
      `/admin/queues/api/queues/deliver.http-a/${encodeURIComponent(failed!.id!)}/retry`,
      legacy,
      {
        method: 'PUT',
      },
    );
    expect(retry.status).toBe(204);
    expect(await (await queue.getJob(failed!.id!))!.getState()).toBe('waiting');
    // A job that is not failed (any more) is not retried again.
    const again = await call(
      `/admin/queues/api/queues/deliver.http-a/${encodeURIComponent(failed!.id!)}/retry`,
      op,
      {
        method: 'PUT',
      },
    );
    expect(again.status).toBe(403);
    expect(((await again.json()) as { error: string }).error).toMatch(/this one is waiting/);

    // Dead letters other than the one whose job was just retried.
    const records = (await h.service.listDeadLetters()).records.filter((r) => r.jobId !== failed!.id);
    const replay = await post('/api/dead-letters/replay', opToken, { ids: [records[0]!.id] });
    expect(await replay.json()).toEqual({ replayed: [records[0]!.id] });
    const purge = await post('/api/dead-letters/purge', op, { ids: [records[1]!.id] });
    expect(purge.status).toBe(200);
    expect(await purge.json()).toEqual({ purged: [records[1]!.id] });
    expect((await post('/api/dead-letters/purge', op, {})).status).toBe(400);
    expect(await (await post('/api/dead-letters/purge', legacy, { all: true })).json()).toEqual({
      purged: expect.any(Array),
    });
    expect((await h.service.listDeadLetters()).total).toBe(0);
    const sweep = await post('/api/sweep', op);
    expect(sweep.status).toBe(200);
    const run = (await sweep.json()) as { id: string; usersChecked: number; trigger: string };
    expect(run).toMatchObject({ trigger: 'manual', usersChecked: 3 });
    expect((await h.service.getSweepRuns()).map((r) => r.id)).toEqual([run.id]);
  });

  it('pausing a target holds its deliveries, none lost or dead-lettered; resuming delivers them', async () => {
    const { h } = await start();
    const [a, b] = h.http as [HttpTarget, HttpTarget];
    type Targets = { targets: Array<{ service: string; paused: boolean; counts: { waiting: number } }> };
    const targets = async () => {
      const res = await call('/api/targets', AS.viewer);
      return Object.fromEntries(((await res.json()) as Targets).targets.map((t) => [t.service, t]));
    };
    expect((await targets())['http-a']).toMatchObject({ paused: false });

    const paused = await post('/api/targets/http-a/pause', AS.operator);
    expect(paused.status).toBe(200);
    expect(await paused.json()).toEqual({ service: 'http-a', paused: true });
    expect((await targets())['http-a']).toMatchObject({ paused: true });
    expect((await targets())['http-b']).toMatchObject({ paused: false });

    const publisher = h.service.createPublisher('accounts');
    for (let id = 1; id <= 3; id++) await publisher.publishUserCreated(user(id));
    // http-b is not paused: its deliveries are the sign that workers are taking jobs.
    await waitFor(async () => (await h.service.getStats()).by_target['http-b']!.delivered === 3, {
      what: 'http-b delivered',
    });
    expect(a.requests).toHaveLength(0);
    expect((await targets())['http-a']).toMatchObject({ paused: true, counts: { waiting: 3 } });
    expect((await h.service.listDeadLetters()).total).toBe(0);

    const resumed = await post('/api/targets/http-a/resume', AS.operatorToken);
    expect(await resumed.json()).toEqual({ service: 'http-a', paused: false });
    await waitFor(async () => (await h.service.getStats()).by_target['http-a']!.delivered === 3, {
      what: 'http-a delivered after resume',
    });
    expect(a.requests).toHaveLength(3);
    expect(b.requests).toHaveLength(3);
    expect((await h.service.getStats()).by_target['http-a']).toMatchObject({
      delivered: 3,
      dead: 0,
      retried: 0,
    });

    for (const path of ['/api/targets/nope/pause', '/api/targets/nope/resume']) {
      const res = await post(path, AS.operator);
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
      expect(await res.json()).toEqual({ error: 'service: no target named "nope" is configured' });
    }
  });

  it('POST /api/sweep answers the run; 409 while another sweep runs', async () => {
    const state = await startHttpTarget();
    extra.push(state);
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    state.respond = async (_req, res) => {
      await held;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ version: 1 }));
    };
    const { h } = await start({
      httpTargets: 1,
      start: false,
      targetOverrides: { 'http-a': { state: { url: `${new URL(state.url).origin}/users/{id}/version` } } },
    });
    await h.service.createPublisher('accounts').publishUserCreated(user(1));

    // Another sweep (the scheduled one, or `user-sync sweep`) is reading the target's state.
    const other = h.service.runSweep();
    await waitFor(() => state.requests.length === 1, { what: 'the other sweep to read state' });
    const busy = await post('/api/sweep', AS.operator);
    expect(busy.status).toBe(409);
    expect(await busy.json()).toEqual({ error: expect.stringContaining('another sweep is running') });
    release();
    const first = await other;

    const res = await post('/api/sweep', AS.operator, {});
    expect(res.status).toBe(200);
    const run = (await res.json()) as {
      id: string;
      usersChecked: number;
      targets: Record<string, { in_sync: number }>;
    };
    expect(run).toMatchObject({ usersChecked: 1, targets: { 'http-a': { in_sync: 1 } } });
    expect((await h.service.getSweepRuns()).map((r) => r.id)).toEqual([run.id, first!.id]);
  });

  it('answers hostile input on the actions with a 4xx naming the field, and does nothing', async () => {
    const { h } = await start({ start: false });
    answer(h.http[0]!, 400);
    await h.service.createPublisher('accounts').publishUserCreated(user(1));
    await h.service.start();
    await waitFor(async () => (await h.service.listDeadLetters()).total === 1, { what: 'a dead letter' });
    await h.service.stop();

    const raw = (path: string, body: string) =>
      call(path, AS.operator, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    const expectError = async (res: Response, status: number, error: string | RegExp) => {
      expect(res.status).toBe(status);
      const body = (await res.json()) as { error: string };
      if (typeof error === 'string') expect(body.error).toBe(error);
      else expect(body.error).toMatch(error);
    };
    const actions = [
      '/api/dead-letters/replay',
      '/api/dead-letters/purge',
      '/api/targets/http-a/pause',
      '/api/targets/http-a/resume',
      '/api/sweep',
    ];
    for (const path of actions) {
      await expectError(
        await raw(path, JSON.stringify({ pad: 'x'.repeat(1_100_000) })),
        413,
        /^body: is larger than the limit/,
      );
      await expectError(await raw(path, '{"all": tru'), 400, 'body: is not valid JSON');
      await expectError(await raw(path, '"all"'), 400, 'body: is not valid JSON');
      await expectError(await raw(path, '5'), 400, 'body: is not valid JSON');
      await expectError(await raw(path, '[1]'), 400, 'must be a JSON object');
      await expectError(
        await raw(path, JSON.stringify({ all: true, force: true })),
        400,
        /force: not a known parameter/,
      );
      await expectError(
        await call(`${path}?dryRun=1`, AS.operator, { method: 'POST', body: {} }),
        400,
        'dryRun: not a known parameter',
      );
    }
    for (const path of ['/api/dead-letters/replay', '/api/dead-letters/purge']) {
      for (const [body, error] of [
        [{ ids: 'x' }, 'ids: must be an array of dead-letter ids'],
        [{ ids: [] }, 'ids: must list at least one id'],
        [{ ids: [5] }, 'ids.0: must be a dead-letter id'],
        [{ target: 5 }, 'target: must be a target name'],
        [{ target: 'nope' }, 'target: no target named "nope" is configured'],
        [{ since: 'yesterday' }, 'since: must be an ISO 8601 time or milliseconds since the epoch'],
        [{ all: 'yes' }, 'all: must be true, or left out'],
        [{ all: false }, 'all: must be true, or left out'],
        [{}, /^nothing selected/],
        [null, 'body: is not valid JSON'],
      ] as const)
        await expectError(await raw(path, JSON.stringify(body)), 400, error);
    }
    expect((await post('/api/targets/%2e%2e/pause', AS.operator)).status).toBe(404);

    // Nothing happened.
    expect((await h.service.listDeadLetters()).total).toBe(1);
    expect(await h.service.deployment.queues.delivery('http-a').isPaused()).toBe(false);
    expect(await h.service.getSweepRuns()).toEqual([]);
  });
});
