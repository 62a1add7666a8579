/**
 * The circuit breaker against real HTTP targets on loopback: one goes down for 20 s while
 * users keep being published, the other stays up. The down one must end with no dead letter,
 * see only the attempts that opened its breaker and the probes while it is open, and hold
 * every user at the ledger's version once it is back; the other is unaffected throughout.
 * The figures are written to test-results/breaker-outage.json.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { MAX_REASON_LENGTH, askToProbe, reportAttempts } from '../../src/jobs/breaker-scripts.js';
import { CircuitBreakers, readBreakers } from '../../src/breaker/breakers.js';
import { deploymentKeys } from '../../src/jobs/names.js';
import { Redis } from 'ioredis';
import { freePort } from '../helpers/redis-server.js';
import { parseConfig } from '../../src/config/parse.js';
import { readMetricsSnapshot, renderMetrics } from '../../src/dashboard/metrics.js';
import { openBreaker } from '../helpers/breaker.js';
import { dashboardLogins } from '../helpers/browser.js';
import { basicAuth } from '../helpers/http-request.js';
import { startDashboard, type DashboardServer } from '../../src/index.js';
import { captureLogger } from '../helpers/capture-logger.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { waitFor } from '../helpers/redis.js';

const OUTAGE_MS = 20_000;
const USERS = 40;

/** Percentile of sorted numbers. */
const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

describe('circuit breaker', () => {
  let h: Harness;
  afterEach(async () => h?.close());

  it('a target down for 20 s: no dead letter, a few probes, every user at the ledger version after, the other target unaffected', async () => {
    const log = captureLogger('info');
    let down = false;
    h = await startHarness({
      httpTargets: 2,
      redisTarget: false,
      handlerTarget: false,
      logger: log.logger,
      config: {
        maxRetries: 3,
        retryInterval: 300,
        maxRetryInterval: 1_000,
        circuitBreaker: {
          consecutiveFailures: 3,
          cooldown: '2s',
          maxCooldown: '6s',
          window: '6s',
          minAttempts: 10,
        },
      },
      targetOverrides: { 'http-a': { timeoutMs: 1_000 } },
    });
    const [a, b] = h.http as [NonNullable<Harness['http'][0]>, NonNullable<Harness['http'][0]>];
    a.respond = (_req, res) => {
      res.statusCode = down ? 503 : 200;
      res.end(down ? 'down for maintenance' : 'ok');
    };
    const publisher = h.service.createPublisher('accounts');
    const breaker = async () =>
      (await readBreakers(h.redis, h.service.deployment.keyspace.deployment, ['http-a'])).get('http-a')!;

    // Healthy: everyone created and delivered to both.
    await publisher.publishMany(
      Array.from({ length: USERS }, (_, i) => ({ type: 'user.created' as const, user: { id: i + 1 } })),
    );
    await waitFor(() => a.requests.length >= USERS && b.requests.length >= USERS, { what: 'the creates' });

    // Down: updates keep coming, one every 100 ms.
    down = true;
    const before = a.requests.length;
    const outageStarted = Date.now();
    const published: Array<{ at: number; eventId: string }> = [];
    let n = 0;
    let beforeOpen: number | undefined;
    let openedAfterMs: number | undefined;
    while (Date.now() - outageStarted < OUTAGE_MS) {
      const id = (n++ % USERS) + 1;
      const r = await publisher.publishUserUpdated({ id, username: `u${id}-${n}` });
      published.push({ at: Date.now(), eventId: r.eventId });
      if (beforeOpen === undefined && (await breaker()).state !== 'closed') {
        beforeOpen = a.requests.length - before;
        openedAfterMs = Date.now() - outageStarted;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
      if (n === 40) expect(beforeOpen).toBeDefined();
    }
    const duringOutage = a.requests.length - before;
    const stateAtEnd = await breaker();
    down = false;
    const recovered = Date.now();

    // Back: every user reaches the ledger's version there.
    const k = h.service.deployment.keyspace.partition(0);
    await waitFor(
      async () => {
        const marks = await h.redis.hgetall(k.watermark('http-a'));
        const want = await h.redis.hgetall(k.watermark('http-b'));
        return Object.keys(want).length === USERS && Object.entries(want).every(([u, v]) => marks[u] === v);
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'http-a catching up with http-b' },
    );
    const drainedMs = Date.now() - recovered;
    expect((await breaker()).state).toBe('closed');
    expect((await h.service.listDeadLetters()).total).toBe(0);
    expect(stateAtEnd.state).not.toBe('closed');

    // The healthy target got every update of the outage, as they were published.
    const received = new Map(
      b.requests.map((r) => [(JSON.parse(r.body) as { event_id: string }).event_id, r.at]),
    );
    expect(published.every((p) => received.has(p.eventId))).toBe(true);
    const latencies = published.map((p) => (received.get(p.eventId) as number) - p.at).sort((x, y) => x - y);

    // Requests to the dead target while it was down: those that opened the breaker, and probes.
    const probes = log.entries.filter((e) => e.message === 'circuit breaker half-open').length;
    const opens = log.entries.filter(
      (e) => e.message === 'circuit breaker open' && e.target === 'http-a',
    ).length;
    const closes = log.entries.filter(
      (e) => e.message === 'circuit breaker closed' && e.target === 'http-a',
    ).length;
    expect(opens).toBeGreaterThanOrEqual(1);
    expect(closes).toBe(1);
    expect(probes).toBeGreaterThanOrEqual(2);
    // Once open, the dead target sees only the probes (and the few already in flight when it
    // opened: up to the target's concurrency, 5).
    expect(duringOutage - (beforeOpen as number)).toBeLessThanOrEqual(5 + probes);

    const figures = {
      outage_ms: OUTAGE_MS,
      updates_published_during_outage: published.length,
      requests_to_dead_target_during_outage: duringOutage,
      requests_before_the_breaker_opened: beforeOpen,
      opened_after_ms: openedAfterMs,
      probes,
      dead_letters: 0,
      drain_after_recovery_ms: drainedMs,
      healthy_target_latency_ms: { p50: pct(latencies, 50), p99: pct(latencies, 99), max: latencies.at(-1) },
    };
    mkdirSync('test-results', { recursive: true });
    writeFileSync(path.join('test-results', 'breaker-outage.json'), JSON.stringify(figures, null, 2));
  }, 90_000);

  it('the report script: consecutive failures, the failure ratio, probes, growing cool-downs, and hostile fields', async () => {
    h = await startHarness({ httpTargets: 1, redisTarget: false, handlerTarget: false, start: false });
    const settings = parseConfig({
      circuitBreaker: {
        consecutiveFailures: 3,
        failureRatio: 0.5,
        minAttempts: 10,
        window: '6s',
        cooldown: '1s',
        maxCooldown: '3s',
      },
    }).circuitBreaker;
    const key = `${h.prefix}:breaker:unit`;
    const report = (now: number, ok: number, failed: number, trailing = failed, probe?: string) =>
      reportAttempts(h.redis, key, { now, ok, failed, trailing, code: 'http_503', probe }, settings);
    const t = 1_800_000_000_000;
    // Two failures, then a success: not in a row.
    expect((await report(t, 0, 2)).record.state).toBe('closed');
    expect((await report(t + 1, 1, 0, 0)).record.state).toBe('closed');
    expect((await report(t + 2, 0, 2)).record.state).toBe('closed');
    // Three in a row within a few milliseconds: a busy, flaky target's chance streak, not an outage.
    expect((await report(t + 3, 0, 1)).record.state).toBe('closed');
    // The streak goes on for a second (STREAK_MIN_MS): open. Times below are from then.
    const o = t + 1_002 - 3;
    const opened = await report(o + 3, 0, 1);
    expect(opened).toMatchObject({ transitioned: true, record: { state: 'open', retryAt: o + 3 + 1_000 } });
    expect(opened.record.reason).toMatch(/4 failed attempts in a row \(last: http_503\)/);
    // Stragglers while open change nothing.
    expect(await report(o + 4, 5, 0, 0)).toMatchObject({ transitioned: false, record: { state: 'open' } });
    // One probe at a time, once the cool-down is over; each failed probe doubles it, up to the max.
    const ask = (now: number, token: string) => askToProbe(h.redis, key, { now, token, ttlMs: 5_000 });
    expect(await ask(o + 500, 'p0')).toEqual({ kind: 'wait', ms: 503 });
    expect(await ask(o + 1_003, 'p1')).toEqual({ kind: 'probe' });
    expect(await ask(o + 1_004, 'p2')).toEqual({ kind: 'wait', ms: 4_999 });
    // A report with a token that is not the probe's is a straggler's.
    expect((await report(o + 1_005, 1, 0, 0, 'not-the-probe')).record.state).toBe('half-open');
    const failed = await report(o + 1_010, 0, 1, 1, 'p1');
    expect(failed).toMatchObject({
      transitioned: true,
      record: { state: 'open', retryAt: o + 1_010 + 2_000 },
    });
    expect(await ask(o + 3_010, 'p3')).toEqual({ kind: 'probe' });
    expect((await report(o + 3_020, 0, 1, 1, 'p3')).record.retryAt).toBe(o + 3_020 + 3_000);
    // A probe that never reports (its process died) lets another probe after its time.
    expect(await ask(o + 6_020, 'p4')).toEqual({ kind: 'probe' });
    expect(await ask(o + 6_020 + 5_001, 'p5')).toEqual({ kind: 'probe' });
    const closed = await report(o + 11_100, 1, 0, 0, 'p5');
    expect(closed).toMatchObject({
      transitioned: true,
      record: { state: 'closed', reason: 'a probe was delivered' },
    });
    expect(await ask(o + 11_200, 'p6')).toEqual({ kind: 'send' });
    // Closed again: the count starts over (two failures do not open it).
    expect((await report(o + 11_300, 0, 2)).record.state).toBe('closed');

    // The ratio: half of the attempts failed, never 3 in a row; it opens once the window holds 10.
    const ratioKey = `${h.prefix}:breaker:ratio`;
    let last;
    for (let i = 0; i < 6; i++) {
      last = await reportAttempts(
        h.redis,
        ratioKey,
        { now: t + i, ok: 1, failed: 1, trailing: 1, code: 'timeout' },
        settings,
      );
    }
    expect(last?.record.state).toBe('open');
    expect(last?.record.reason).toMatch(/5 of 10 attempts failed in the last 6 s/);
    // Old buckets leave the window: 6 s later, 4 more attempts with 2 failures are below minAttempts.
    const windowKey = `${h.prefix}:breaker:window`;
    for (let i = 0; i < 4; i++)
      await reportAttempts(
        h.redis,
        windowKey,
        { now: t + i, ok: 1, failed: 1, trailing: 1, code: 'x' },
        settings,
      );
    expect(
      (
        await reportAttempts(
          h.redis,
          windowKey,
          { now: t + 7_000, ok: 1, failed: 1, trailing: 1, code: 'x' },
          settings,
        )
      ).record.state,
    ).toBe('closed');

    // Hostile fields planted in the hash (another program, a hand edit) read as closed, never crash.
    await h.redis.hset(`${h.prefix}:breaker:weird`, {
      state: '<script>',
      since: 'yesterday',
      retryAt: 'NaN',
      reason: 'x'.repeat(10_000),
    });
    const weird = (
      await readBreakers(
        h.redis,
        { ...h.service.deployment.keyspace.deployment, breaker: () => `${h.prefix}:breaker:weird` },
        ['w'],
      )
    ).get('w')!;
    expect(weird).toMatchObject({ state: 'closed', since: undefined, retryAt: undefined });
    expect(weird.reason?.length).toBe(MAX_REASON_LENGTH);
    await h.redis.hset(`${h.prefix}:breaker:ring`, { r0: 'garbage', r1: '1:2', consecutive: 'abc' });
    await expect(
      reportAttempts(
        h.redis,
        `${h.prefix}:breaker:ring`,
        { now: t, ok: 0, failed: 1, trailing: 1, code: 'x' },
        settings,
      ),
    ).resolves.toMatchObject({ record: { state: 'closed' } });
  });
});

describe('pause and resume', () => {
  let h: Harness;
  afterEach(async () => h?.close());

  it('a paused target keeps its deliveries waiting, loses nothing, and drains in order when resumed; others go on', async () => {
    h = await startHarness({ httpTargets: 2, redisTarget: false, handlerTarget: false });
    const [a, b] = h.http as [NonNullable<Harness['http'][0]>, NonNullable<Harness['http'][0]>];
    expect(await h.service.deployment.setPaused('http-a', true)).toBe(true);
    const publisher = h.service.createPublisher('accounts');
    for (let v = 1; v <= 5; v++) await publisher.publishUserUpdated({ id: 1, username: `v${v}` });
    const marks = h.service.deployment.keyspace.partition(0);
    await waitFor(async () => (await h.redis.hget(marks.watermark('http-b'), '1')) === '5', {
      what: 'the other target',
    });
    expect(b.requests.length).toBeGreaterThan(0);
    const queue = h.service.deployment.queues.delivery('http-a');
    expect(await queue.isPaused()).toBe(true);
    expect(await queue.getJobCounts('wait', 'active', 'failed')).toEqual({ wait: 5, active: 0, failed: 0 });
    expect(a.requests).toHaveLength(0);
    expect(await h.service.deployment.setPaused('http-a', false)).toBe(false);
    await waitFor(
      async () =>
        (await h.redis.hget(h.service.deployment.keyspace.partition(0).watermark('http-a'), '1')) === '5',
      {
        what: 'the drain',
      },
    );
    const versions = a.requests.map((r) => (JSON.parse(r.body) as { version: number }).version);
    expect(versions).toEqual([...versions].sort((x, y) => x - y));
    expect(versions.at(-1)).toBe(5);
    expect((await h.service.listDeadLetters()).total).toBe(0);
    await expect(h.service.deployment.setPaused('no-such-target', true)).rejects.toThrow(
      /no target named "no-such-target"/,
    );
  });

  it('metrics show each breaker state', async () => {
    h = await startHarness({ httpTargets: 2, redisTarget: false, handlerTarget: false, start: false });
    const settings = h.service.deployment.config.circuitBreaker;
    const key = h.service.deployment.keyspace.deployment.breaker('http-b');
    await openBreaker(h.redis, key, settings);
    const text = await renderMetrics(await readMetricsSnapshot(h.service.deployment, Date.now()));
    expect(text).toContain('user_sync_circuit_breaker_state{target="http-a",state="closed"} 1');
    expect(text).toContain('user_sync_circuit_breaker_state{target="http-b",state="open"} 1');
    expect(text).toContain('user_sync_circuit_breaker_state{target="http-b",state="closed"} 0');
    expect(text).toMatch(/user_sync_circuit_breaker_since_timestamp_seconds\{target="http-b"\} \d+/);
  });
});

describe('circuit breakers of a worker process', () => {
  it('a report never throws: with Redis unreachable it is logged and dropped, and the delivery goes on', async () => {
    const log = captureLogger('warn');
    const redis = new Redis(`redis://127.0.0.1:${await freePort()}`, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      enableOfflineQueue: false,
    });
    redis.on('error', () => undefined);
    const breakers = new CircuitBreakers({
      redis,
      keys: deploymentKeys('{unreachable}'),
      settings: parseConfig({}).circuitBreaker,
      targets: ['t'],
      logger: log.logger,
      probeTtlMs: () => 1_000,
    });
    await expect(breakers.report('t', false, 'timeout')).resolves.toMatchObject({ state: 'closed' });
    await expect(breakers.report('t', true, '', 'a-probe-token')).resolves.toMatchObject({ state: 'closed' });
    expect(log.entries.filter((e) => e.message === 'circuit breaker report failed')).toHaveLength(2);
    await breakers.stop();
    redis.disconnect();
  });
});

describe('closing a breaker by hand', () => {
  let h: Harness;
  let dashboard: DashboardServer | undefined;
  afterEach(async () => {
    await dashboard?.close();
    dashboard = undefined;
    await h?.close();
  });

  it('an operator closes an open breaker through the API and the held deliveries go; a viewer cannot', async () => {
    h = await startHarness({
      httpTargets: 1,
      redisTarget: false,
      handlerTarget: false,
      config: { circuitBreaker: { cooldown: '10m', maxCooldown: '1h' } },
      start: false,
    });
    const d = h.service.deployment;
    const key = d.keyspace.deployment.breaker('http-a');
    await openBreaker(h.redis, key, d.config.circuitBreaker);
    // Workers read every breaker as they start (then once a second).
    await h.service.start();
    const server = h.http[0]!;
    const { eventId } = await h.service.createPublisher('accounts').publishUserCreated({ id: 1 });
    // Held: taken from the queue and put back, its attempts unspent.
    const queue = d.queues.delivery('http-a');
    await waitFor(async () => ((await queue.getJob(`${eventId}.http-a`))?.attemptsStarted ?? 0) >= 1, {
      what: 'the delivery taken and held',
    });
    expect(server.requests).toHaveLength(0);

    const { OPERATOR, VIEWER } = dashboardLogins();
    dashboard = await startDashboard({
      deployment: d,
      auth: { users: [OPERATOR, VIEWER] },
      host: '127.0.0.1',
      port: 0,
    });
    const close = (login: { username: string; password: string }, target = 'http-a') =>
      fetch(`${dashboard!.url}/api/targets/${target}/breaker/close`, {
        method: 'POST',
        headers: {
          authorization: basicAuth(login.username, login.password),
          origin: dashboard!.url,
          'sec-fetch-site': 'same-origin',
          'content-type': 'application/json',
        },
        body: '{}',
      });
    expect((await close(VIEWER)).status).toBe(403);
    expect((await readBreakers(h.redis, d.keyspace.deployment, ['http-a'])).get('http-a')?.state).toBe(
      'open',
    );
    expect((await close(OPERATOR, 'nobody')).status).toBe(404);
    const closed = await close(OPERATOR);
    expect(closed.status).toBe(200);
    expect(await closed.json()).toEqual({
      service: 'http-a',
      breaker: { state: 'closed', since: null, reason: null, retryAt: null },
    });
    await waitFor(() => server.requests.length === 1, { what: 'the held delivery sent' });
    const job = await queue.getJob(`${eventId}.http-a`);
    expect(job?.attemptsMade).toBe(1);
    expect((await h.service.listDeadLetters()).total).toBe(0);
  });
});

describe('held deliveries', () => {
  let h: Harness;
  afterEach(async () => h?.close());

  it('a delivery on its last attempt is held, not dead-lettered, and no retry is counted for a hold', async () => {
    h = await startHarness({
      httpTargets: 1,
      redisTarget: false,
      handlerTarget: false,
      config: { maxRetries: 0, circuitBreaker: { cooldown: '10m', maxCooldown: '1h' } },
      start: false,
    });
    const d = h.service.deployment;
    await openBreaker(h.redis, d.keyspace.deployment.breaker('http-a'), d.config.circuitBreaker);
    await h.service.start();
    const { eventId } = await h.service.createPublisher('accounts').publishUserCreated({ id: 7 });
    const queue = d.queues.delivery('http-a');
    // Taken and put back twice (a hold lasts at most 2 s): its only attempt still unspent.
    await waitFor(async () => ((await queue.getJob(`${eventId}.http-a`))?.attemptsStarted ?? 0) >= 2, {
      what: 'the delivery held twice',
    });
    const job = await queue.getJob(`${eventId}.http-a`);
    expect(job?.attemptsMade).toBe(0);
    expect(['waiting', 'active']).toContain(await job?.getState());
    expect((await h.service.listDeadLetters()).total).toBe(0);
    expect((await h.service.getStats()).by_target['http-a']).toMatchObject({ retried: 0, dead: 0 });
    expect(h.http[0]!.requests).toHaveLength(0);

    await d.closeBreaker('http-a');
    await waitFor(() => h.http[0]!.requests.length === 1, { what: 'the delivery after the breaker closed' });
    expect((await h.service.getStats()).by_target['http-a']).toMatchObject({
      delivered: 1,
      retried: 0,
      dead: 0,
    });
  });
});
