/**
 * The dashboard against a hostile browser and a patient guesser: cross-site requests, framing,
 * DNS rebinding, and password guessing — each attacked on a real dashboard, real Redis, real
 * jobs.
 */
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from '@jest/globals';
import winston from 'winston';
import {
  startDashboard,
  type DashboardAuth,
  type DashboardServer,
  type UserSnapshot,
} from '../../src/index.js';
import { PAGE_CSP, SECURITY_HEADERS } from '../../src/dashboard/security.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { basicAuth, httpRequest, type RawResponse } from '../helpers/http-request.js';
import { dashboardLogins } from '../helpers/browser.js';
import { waitFor } from '../helpers/redis.js';

const { OPERATOR, VIEWER } = dashboardLogins();
const AUTH: DashboardAuth = { users: [OPERATOR, VIEWER] };
const AS_OPERATOR = basicAuth(OPERATOR.username, OPERATOR.password);
const AS_VIEWER = basicAuth(VIEWER.username, VIEWER.password);

const user = (id: number): UserSnapshot => ({ id, username: `u${id}`, email: `u${id}@example.com` });

/** Lines a winston logger wrote, parsed. */
function capturingLogger(): { logger: winston.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = winston.createLogger({
    format: winston.format.json(),
    transports: [
      new winston.transports.Stream({
        stream: new Writable({
          write: (chunk: Buffer, _encoding, done) => {
            lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
            done();
          },
        }),
      }),
    ],
  });
  return { logger, lines };
}

describe('dashboard in a hostile browser', () => {
  let h: Harness | undefined;
  let dashboard: DashboardServer | undefined;

  afterEach(async () => {
    await dashboard?.close();
    dashboard = undefined;
    await h?.close();
    h = undefined;
  });

  async function start(options: Partial<Parameters<typeof startDashboard>[0]> = {}) {
    h ??= await startHarness({ httpTargets: 1, redisTarget: false, handlerTarget: false });
    dashboard = await startDashboard({
      deployment: h.service.deployment,
      auth: AUTH,
      host: '127.0.0.1',
      port: 0,
      ...options,
    });
    return { h, dashboard };
  }

  /** A dead letter (and its failed job) to act on. */
  async function deadLetter(harness: Harness): Promise<string> {
    const target = harness.http[0]!;
    target.respond = (_req, res) => ((res.statusCode = 400), res.end('rejected'));
    const { eventId } = await harness.service.createPublisher('accounts').publishUserCreated(user(1));
    await waitFor(async () => (await harness.service.listDeadLetters()).total === 1, {
      what: 'a dead letter',
    });
    await harness.service.stop();
    return `${eventId}.http-a`;
  }

  const send = (path: string, options: Parameters<typeof httpRequest>[1] = {}) =>
    httpRequest(`${dashboard!.url}${path}`, options);

  it("refuses actions from another site, another origin, or with a body that is not JSON; the dashboard's own requests pass", async () => {
    const { h } = await start();
    const jobId = await deadLetter(h);
    const own = dashboard!.url;
    const replay = JSON.stringify({ all: true });
    const attempts: Array<{
      what: string;
      path: string;
      method: string;
      headers: Record<string, string>;
      body?: string;
      status: number;
    }> = [];
    for (const [path, method, body] of [
      ['/api/dead-letters/replay', 'POST', replay],
      ['/api/dead-letters/purge', 'POST', replay],
      ['/api/targets/http-a/pause', 'POST', undefined],
      ['/api/sweep', 'POST', undefined],
      ['/admin/queues/api/queues/deliver.http-a/pause', 'PUT', undefined],
      [`/admin/queues/api/queues/deliver.http-a/${encodeURIComponent(jobId)}/retry`, 'PUT', undefined],
      ['/admin/queues/api/queues/deliver.http-a/retry/failed', 'PUT', undefined],
    ] as const) {
      const json: Record<string, string> = body !== undefined ? { 'content-type': 'application/json' } : {};
      const base = { path, method, ...(body !== undefined ? { body } : {}) };
      attempts.push(
        {
          ...base,
          what: 'Sec-Fetch-Site cross-site',
          headers: { ...json, 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' },
          status: 403,
        },
        {
          ...base,
          what: 'Sec-Fetch-Site same-site',
          headers: { ...json, 'sec-fetch-site': 'same-site' },
          status: 403,
        },
        {
          ...base,
          what: 'a foreign Origin',
          headers: { ...json, origin: 'https://evil.example' },
          status: 403,
        },
        { ...base, what: 'Origin null', headers: { ...json, origin: 'null' }, status: 403 },
        {
          ...base,
          what: 'another port',
          headers: { ...json, origin: own.replace(/:(\d+)$/, (_m, p: string) => `:${Number(p) + 1}`) },
          status: 403,
        },
        {
          ...base,
          what: 'another host over https',
          headers: { ...json, origin: 'https://dashboard.evil.example' },
          status: 403,
        },
        // What an HTML form can send: no preflight, so a page elsewhere could.
        {
          ...base,
          what: 'a form',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: 'all=true',
          status: 415,
        },
        { ...base, what: 'text/plain', headers: { 'content-type': 'text/plain' }, body: replay, status: 415 },
        {
          ...base,
          what: 'multipart',
          headers: { 'content-type': 'multipart/form-data; boundary=x' },
          body: '--x--',
          status: 415,
        },
        { ...base, what: 'no content type', headers: {}, body: replay, status: 415 },
      );
    }
    for (const { what, path, method, headers, body, status } of attempts) {
      const res = await send(path, {
        method,
        headers: { authorization: AS_OPERATOR, ...headers },
        ...(body !== undefined ? { body } : {}),
      });
      expect({ what, method, path, status: res.status }).toEqual({ what, method, path, status });
      expect(JSON.parse(res.body)).toEqual({ error: expect.any(String) });
    }
    // Nothing happened.
    expect((await h.service.listDeadLetters()).total).toBe(1);
    const queue = h.service.deployment.queues.delivery('http-a');
    expect(await queue.isPaused()).toBe(false);
    expect(await (await queue.getJob(jobId))!.getState()).toBe('failed');
    expect(await h.service.getSweepRuns()).toEqual([]);

    // The dashboard's own page: same origin, JSON or no body at all.
    const sameOrigin = { authorization: AS_OPERATOR, origin: own, 'sec-fetch-site': 'same-origin' };
    expect(
      (
        await send('/admin/queues/api/queues/deliver.http-a/pause', {
          method: 'PUT',
          headers: { ...sameOrigin, 'content-length': '0' },
        })
      ).status,
    ).toBe(200);
    expect(await queue.isPaused()).toBe(true);
    expect((await send('/api/targets/http-a/resume', { method: 'POST', headers: sameOrigin })).status).toBe(
      200,
    );
    const replayed = await send('/api/dead-letters/replay', {
      method: 'POST',
      headers: { ...sameOrigin, 'content-type': 'application/json; charset=utf-8' },
      body: replay,
    });
    expect(replayed.status).toBe(200);
    expect(JSON.parse(replayed.body)).toEqual({ replayed: [jobId] });
    // Behind a proxy that terminates TLS the page's origin is https, the request arrives as http.
    expect(
      (
        await send('/api/targets/http-a/resume', {
          method: 'POST',
          headers: { ...sameOrigin, origin: own.replace('http:', 'https:') },
        })
      ).status,
    ).toBe(200);
    // curl and scripts send neither Origin nor Sec-Fetch-Site; a typed-in address says "none".
    expect(
      (await send('/api/sweep', { method: 'POST', headers: { authorization: AS_OPERATOR } })).status,
    ).toBe(200);
    expect(
      (
        await send('/api/targets/http-a/pause', {
          method: 'POST',
          headers: { authorization: AS_OPERATOR, 'sec-fetch-site': 'none' },
        })
      ).status,
    ).toBe(200);
    // Reads are not actions.
    expect(
      (await send('/api/stats', { headers: { authorization: AS_VIEWER, 'sec-fetch-site': 'cross-site' } }))
        .status,
    ).toBe(200);
  });

  it('puts the security headers on every kind of response, and X-Powered-By on none', async () => {
    const { h } = await start({ loginThrottle: { lockoutAfterFailures: 1 } });
    await deadLetter(h);
    const html = await send('/admin/queues', { headers: { authorization: AS_VIEWER } });
    const asset = /src="([^"]+\.js)"/.exec(html.body)?.[1];
    expect(asset).toBeDefined();
    const json = { 'content-type': 'application/json' };
    const responses: Array<[string, Promise<RawResponse>, number, boolean]> = [
      ['Bull Board page', Promise.resolve(html), 200, true],
      [
        'Bull Board API',
        send('/admin/queues/api/queues', { headers: { authorization: AS_VIEWER } }),
        200,
        true,
      ],
      [
        'Bull Board 404',
        send('/admin/queues/api/nothing', { headers: { authorization: AS_VIEWER } }),
        404,
        true,
      ],
      [
        'static asset',
        send(new URL(asset!, `${dashboard!.url}/admin/queues/`).pathname, {
          headers: { authorization: AS_VIEWER },
        }),
        200,
        false,
      ],
      ['API', send('/api/stats', { headers: { authorization: AS_VIEWER } }), 200, true],
      [
        'API action',
        send('/api/targets/http-a/pause', { method: 'POST', headers: { authorization: AS_OPERATOR } }),
        200,
        true,
      ],
      ['metrics', send('/metrics', { headers: { authorization: AS_VIEWER } }), 200, true],
      ['healthz', send('/healthz'), 200, true],
      ['readyz', send('/readyz'), 200, true],
      ['401', send('/api/stats'), 401, true],
      [
        '403 (viewer action)',
        send('/api/sweep', { method: 'POST', headers: { authorization: AS_VIEWER } }),
        403,
        true,
      ],
      [
        '403 (never allowed)',
        send('/admin/queues/api/queues/deliver.http-a/empty', {
          method: 'PUT',
          headers: { authorization: AS_OPERATOR },
        }),
        403,
        true,
      ],
      [
        '403 (cross-site)',
        send('/api/sweep', {
          method: 'POST',
          headers: { authorization: AS_OPERATOR, 'sec-fetch-site': 'cross-site' },
        }),
        403,
        true,
      ],
      ['404', send('/api/nothing', { headers: { authorization: AS_VIEWER } }), 404, true],
      [
        '400',
        send('/api/dead-letters/replay', {
          method: 'POST',
          headers: { authorization: AS_OPERATOR, ...json },
          body: '{',
        }),
        400,
        true,
      ],
      [
        '415',
        send('/api/sweep', { method: 'POST', headers: { authorization: AS_OPERATOR }, body: 'x' }),
        415,
        true,
      ],
      ['overview page', send('/', { headers: { authorization: AS_VIEWER } }), 200, true],
    ];
    for (const [what, pending, status, noStore] of responses) {
      const res = await pending;
      expect({ what, status: res.status }).toEqual({ what, status });
      // The overview page has a stricter policy of its own, which still forbids framing.
      const expected = {
        ...SECURITY_HEADERS,
        ...(what === 'overview page' ? { 'Content-Security-Policy': PAGE_CSP } : {}),
      };
      for (const [name, value] of Object.entries(expected))
        expect({ what, [name]: res.headers[name.toLowerCase()] }).toEqual({ what, [name]: value });
      expect({ what, poweredBy: res.headers['x-powered-by'] }).toEqual({ what, poweredBy: undefined });
      if (noStore) expect({ what, cache: res.headers['cache-control'] }).toEqual({ what, cache: 'no-store' });
    }
    // 429 last: a wrong password from an address locks it out at once here.
    const locked = await send('/api/stats', {
      headers: { authorization: basicAuth('otto', 'wrong password') },
    });
    expect(locked.status).toBe(429);
    for (const [name, value] of Object.entries(SECURITY_HEADERS))
      expect(locked.headers[name.toLowerCase()]).toBe(value);
    expect(locked.headers['x-powered-by']).toBeUndefined();
    expect(locked.headers['cache-control']).toBe('no-store');
    // The 421 of an insecure-local dashboard, below, carries them too.
  });

  it('without credentials (insecure-local), answers only requests addressed to a loopback host: DNS rebinding gets 421', async () => {
    const { dashboard: open } = await start({ auth: 'insecure-local' });
    const port = open.port;
    for (const host of [
      `localhost:${port}`,
      `127.0.0.1:${port}`,
      `127.0.0.2:${port}`,
      `[::1]:${port}`,
      'localhost',
      'LOCALHOST:1',
    ])
      for (const path of ['/api/stats', '/healthz', '/admin/queues/api/queues']) {
        const res = await send(path, { headers: { host } });
        expect({ host, path, status: res.status }).toEqual({ host, path, status: 200 });
      }
    for (const host of [
      `rebound.evil.example:${port}`,
      'rebound.evil.example',
      `127.0.0.1.nip.io:${port}`,
      `localhost.evil.example:${port}`,
      `0.0.0.0:${port}`,
      `192.168.1.20:${port}`,
    ])
      for (const [method, path] of [
        ['GET', '/api/stats'],
        ['GET', '/healthz'],
        ['GET', '/admin/queues'],
        ['POST', '/api/sweep'],
        ['PUT', '/admin/queues/api/queues/deliver.http-a/pause'],
      ] as const) {
        const res = await send(path, { method, headers: { host } });
        expect({ host, method, path, status: res.status }).toEqual({ host, method, path, status: 421 });
        expect(JSON.parse(res.body)).toEqual({ error: expect.stringContaining('localhost') });
        expect(res.headers['x-frame-options']).toBe('DENY');
      }
    expect(await h!.service.deployment.queues.delivery('http-a').isPaused()).toBe(false);
    expect(await h!.service.getSweepRuns()).toEqual([]);
    await open.close();

    // With credentials, the Host header is not checked (a reverse proxy may name it anything).
    await start();
    const res = await send('/api/stats', {
      headers: { host: 'dashboard.internal.example', authorization: AS_VIEWER },
    });
    expect(res.status).toBe(200);
  });

  it('slows repeated failed logins from one address, then locks it out for 15 minutes; other addresses log in', async () => {
    let now = 1_700_000_000_000;
    const waits: number[] = [];
    let hold: Promise<void> | undefined;
    const { logger, lines } = capturingLogger();
    await start({
      logger,
      loginThrottle: {
        now: () => now,
        sleep: async (ms) => {
          waits.push(ms);
          await hold;
        },
      },
    });
    const wrong = basicAuth(OPERATOR.username, 'not the password');
    const from = (address: string, authorization?: string) =>
      send('/api/stats', { localAddress: address, headers: authorization ? { authorization } : {} });
    const scrape = async () => {
      const text = (
        await send('/metrics', { localAddress: '127.0.0.3', headers: { authorization: AS_VIEWER } })
      ).body;
      const value = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);
      return {
        failures: value('user_sync_dashboard_login_failures_total'),
        lockouts: value('user_sync_dashboard_login_lockouts_total'),
        help: /# HELP user_sync_dashboard_login_failures_total .*since it started/.test(text),
      };
    };
    expect(await scrape()).toEqual({ failures: 0, lockouts: 0, help: true });

    // A browser's first request carries no credentials: challenged, not counted.
    for (let i = 0; i < 20; i++) expect((await from('127.0.0.1')).status).toBe(401);
    // Five failures answered at once.
    for (let i = 0; i < 5; i++) expect((await from('127.0.0.1', wrong)).status).toBe(401);
    expect(waits).toEqual([]);
    // The sixth waits before it is answered (the wait is held here until released).
    let release: () => void = () => undefined;
    hold = new Promise<void>((resolve) => (release = resolve));
    let answered = false;
    const sixth = from('127.0.0.1', wrong).then((res) => ((answered = true), res));
    await waitFor(() => waits.length === 1, { what: 'the sixth attempt to wait' });
    expect(answered).toBe(false);
    release();
    hold = undefined;
    expect((await sixth).status).toBe(401);
    // Then longer waits, up to 2 s, and at the tenth failure a lockout.
    for (let i = 7; i <= 9; i++) expect((await from('127.0.0.1', wrong)).status).toBe(401);
    const tenth = await from('127.0.0.1', wrong);
    expect(tenth.status).toBe(429);
    expect(tenth.headers['retry-after']).toBe('900');
    expect(waits).toEqual([250, 500, 1000, 2000, 2000]);
    // Locked out: even the right password is refused, without being looked at.
    now += 60_000;
    const right = await from('127.0.0.1', AS_OPERATOR);
    expect(right.status).toBe(429);
    expect(right.headers['retry-after']).toBe('840');
    expect(JSON.parse(right.body)).toEqual({ error: expect.stringContaining('too many failed logins') });
    // Another address is not affected.
    expect((await from('127.0.0.2', AS_OPERATOR)).status).toBe(200);
    expect((await from('127.0.0.2', wrong)).status).toBe(401);

    // Logged once, with the address; counted in /metrics.
    const lockouts = lines.filter((l) => String(l.message).includes('locked out'));
    expect(lockouts).toHaveLength(1);
    expect(lockouts[0]).toMatchObject({
      level: 'warn',
      remote_address: '127.0.0.1',
      failures: 10,
      locked_for_seconds: 900,
    });
    expect(JSON.stringify(lines)).not.toContain(OPERATOR.password);
    expect(await scrape()).toEqual({ failures: 11, lockouts: 1, help: true });

    // Fifteen minutes later the address may log in again, and starts over.
    now += 14 * 60_000;
    expect((await from('127.0.0.1', AS_OPERATOR)).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await from('127.0.0.1', wrong)).status).toBe(401);
    expect(waits).toHaveLength(5);
    // A success resets the count (it waits too: from the fifth failure on, every attempt does).
    expect((await from('127.0.0.1', AS_OPERATOR)).status).toBe(200);
    expect(waits).toEqual([250, 500, 1000, 2000, 2000, 250]);
    for (let i = 0; i < 5; i++) expect((await from('127.0.0.1', wrong)).status).toBe(401);
    expect(waits).toHaveLength(6);
  });

  it('a burst of guesses in parallel gets no more than the lockout allows', async () => {
    await start({ loginThrottle: { sleep: async () => undefined } });
    const wrong = (i: number) => basicAuth(OPERATOR.username, `guess-${i}`);
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        send('/api/stats', { localAddress: '127.0.0.4', headers: { authorization: wrong(i) } }),
      ),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 401)).toHaveLength(9);
    expect(statuses.filter((s) => s === 429)).toHaveLength(31);
    expect(
      (await send('/api/stats', { localAddress: '127.0.0.4', headers: { authorization: AS_VIEWER } })).status,
    ).toBe(429);
  });
});
