/**
 * "Where is user 101?" on a real deployment: real HTTP targets (one answering 503 for a user, one
 * refusing another with 422), a Redis target whose queue is paused, real workers. The lookup must
 * show each target's watermark and sync, the user's pending, retrying (with its last error) and
 * dead deliveries, mask personal values unless an operator reveals them, refuse hostile ids
 * before anything reaches Redis, and say what it scanned.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  startDashboard,
  type DashboardServer,
  type PublishResult,
  type UserLookup,
} from '../../src/index.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { httpRequest } from '../helpers/http-request.js';
import { requireBuild, runCli } from '../helpers/cli.js';
import { TEST_REDIS_URL, waitFor } from '../helpers/redis.js';

const OPERATOR = `opt_${randomBytes(16).toString('hex')}`;
const VIEWER = `vwt_${randomBytes(16).toString('hex')}`;

const person = (id: number) => ({
  id,
  username: `user${id}`,
  email: `person${id}@example.com`,
  phone: '+44 20 7946 0958',
  status: 'active',
  role: 'member',
});

describe('user lookup', () => {
  let h: Harness;
  let dashboard: DashboardServer;
  let dir: string;
  let configFile: string;
  const published = new Map<number, PublishResult[]>();

  const lookup = (id: string, options: { reveal?: boolean; scanLimit?: number } = {}) =>
    h.service.deployment.lookupUser(id, options);
  const targetOf = (l: UserLookup, service: string) => {
    const t = l.targets.find((x) => x.service === service);
    if (!t) throw new Error(`no target ${service} in the lookup`);
    return t;
  };
  const api = async (pathAndQuery: string, token = OPERATOR) => {
    const res = await httpRequest(`${dashboard.url}${pathAndQuery}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    return { status: res.status, body: JSON.parse(res.body) as Record<string, unknown> };
  };

  beforeAll(async () => {
    requireBuild();
    h = await startHarness({
      httpTargets: 2,
      handlerTarget: false,
      start: false,
      config: { retryInterval: '1m', maxRetryInterval: '1m', maxRetries: 2 },
    });
    const b = h.http[1]!;
    b.respond = (req, res) => {
      const userId = (JSON.parse(req.body) as { user_id: number }).user_id;
      if (userId === 101) return void ((res.statusCode = 503), res.end('try later'));
      if (userId === 102) return void ((res.statusCode = 422), res.end('person102@example.com is refused'));
      res.end('ok');
    };
    // The cache target's queue is paused: its deliveries wait.
    await h.service.deployment.queues.delivery('cache').pause();
    await h.service.start();
    const publisher = h.service.createPublisher('accounts');
    for (const id of [101, 102, 103, 7, 77])
      published.set(id, [await publisher.publishUserCreated(person(id))]);
    await waitFor(async () => (await h.service.deployment.getStats()).by_target['http-a']?.delivered === 5, {
      what: 'http-a has every user',
    });
    await waitFor(
      async () => (await lookup('103')).targets.every((t) => t.service === 'cache' || t.watermark === 1),
      {
        what: 'user 103 delivered to both http targets',
      },
    );
    published.get(103)!.push(await publisher.publishUserDeleted({ id: 103 }));
    await waitFor(
      async () =>
        (await lookup('103')).targets.filter((t) => t.service !== 'cache').every((t) => t.watermark === 2),
      { what: 'the delete of 103 delivered' },
    );
    await waitFor(async () => targetOf(await lookup('101'), 'http-b').retrying.length === 1, {
      what: "101's delivery to http-b retrying",
    });
    await waitFor(async () => (await h.service.listDeadLetters()).total === 1, { what: "102's dead letter" });

    dashboard = await startDashboard({
      deployment: h.service.deployment,
      auth: {
        tokens: [
          { token: OPERATOR, role: 'operator' },
          { token: VIEWER, role: 'viewer' },
        ],
      },
      host: '127.0.0.1',
      port: 0,
    });
    dir = mkdtempSync(path.join(tmpdir(), 'user-lookup-'));
    configFile = path.join(dir, 'user-sync.config.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        prefix: h.prefix,
        targets: [
          { service: 'http-a', url: h.http[0]!.url, secrets: [h.secrets[0]] },
          { service: 'http-b', url: h.http[1]!.url, secrets: [h.secrets[1]] },
          { service: 'cache', url: TEST_REDIS_URL, keyTemplate: h.cacheTemplate },
        ],
      }),
    );
  }, 60_000);

  afterAll(async () => {
    await dashboard?.close();
    await h?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('shows the ledger, each target in or out of sync, a retrying delivery with its last error and a pending one', async () => {
    const l = await lookup('101');
    expect(l.partition).toBe(0);
    expect(l.ledger).toMatchObject({
      version: 1,
      deleted: false,
      type: 'user.created',
      eventId: published.get(101)![0]!.eventId,
    });
    const a = targetOf(l, 'http-a');
    expect(a).toMatchObject({
      watermark: 1,
      sync: 'in_sync',
      inSync: true,
      pending: [],
      retrying: [],
      dead: [],
    });
    const b = targetOf(l, 'http-b');
    expect(b).toMatchObject({ watermark: 0, sync: 'missing', inSync: false, pending: [], dead: [] });
    expect(b.retrying).toHaveLength(1);
    const retry = b.retrying[0]!;
    expect(retry).toMatchObject({
      jobId: `${published.get(101)![0]!.eventId}.http-b`,
      state: 'delayed',
      attemptsMade: 1,
      version: 1,
    });
    expect(retry.lastError).toMatch(/503/);
    expect(Date.parse(retry.nextAttemptAt!)).toBeGreaterThan(Date.now());
    const cache = targetOf(l, 'cache');
    expect(cache).toMatchObject({ watermark: 0, sync: 'missing', inSync: false, retrying: [], dead: [] });
    expect(cache.pending.map((d) => d.jobId)).toEqual([`${published.get(101)![0]!.eventId}.cache`]);
    expect(l.truncated).toBe(false);
    expect(b.scanned.lists.map((x) => x.list)).toEqual(
      expect.arrayContaining([expect.stringMatching(/deliver\.http-b:delayed$/)]),
    );
    expect(b.scanned.byId).toContain(`${published.get(101)![0]!.eventId}.http-b`);
  });

  it('shows a dead delivery with its reason and code; the target echo only when revealed', async () => {
    const l = await lookup('102');
    const b = targetOf(l, 'http-b');
    expect(b.sync).toBe('missing');
    expect(b.dead).toHaveLength(1);
    expect(b.dead[0]).toMatchObject({
      id: `${published.get(102)![0]!.eventId}.http-b`,
      reason: 'non_retryable',
      code: 'http_422',
      status: 422,
    });
    expect(b.dead[0]!.excerpt).toBeUndefined();
    expect(JSON.stringify(l)).not.toContain('person102@');
    const revealed = targetOf(await lookup('102', { reveal: true }), 'http-b');
    expect(revealed.dead[0]!.excerpt).toContain('person102@example.com');
  });

  it('says a deleted user is in sync where the delete arrived and where nothing was ever sent', async () => {
    const l = await lookup('103');
    expect(l.ledger).toMatchObject({ version: 2, deleted: true, type: 'user.deleted' });
    expect(targetOf(l, 'http-a')).toMatchObject({ watermark: 2, sync: 'in_sync', inSync: true });
    const cache = targetOf(l, 'cache');
    expect(cache).toMatchObject({ watermark: 0, sync: 'in_sync', inSync: true });
    // Both of its deliveries still wait in the paused queue.
    expect(cache.pending.map((d) => d.type).sort()).toEqual(['user.created', 'user.deleted']);
  });

  it("finds only this user's jobs: user 7's answer holds nothing of user 77", async () => {
    // A job of user 77 whose data also holds `"userId":7` deeper down: text matches, the job does not.
    await h.service.deployment.queues
      .delivery('cache')
      .add('forged', { userId: 77, manager: { userId: 7 }, note: '"userId":7,' }, { jobId: 'forged-77' });
    const l = await lookup('7');
    const ids = l.targets.flatMap((t) => [...t.pending, ...t.retrying, ...t.active].map((d) => d.jobId));
    expect(ids).toEqual([`${published.get(7)![0]!.eventId}.cache`]);
    expect(JSON.stringify(l)).not.toContain(published.get(77)![0]!.eventId);
  });

  it('masks personal values unless revealed', async () => {
    const masked = (await lookup('101')).ledger!.snapshot;
    expect(masked.redacted).toBe(true);
    expect([...masked.fields].sort()).toEqual(['email', 'id', 'phone', 'role', 'status', 'username']);
    expect(masked.values).toEqual({
      id: 101,
      username: '[redacted]',
      email: 'p***@example.com',
      phone: '***58',
      status: 'active',
      role: 'member',
    });
    const shown = (await lookup('101', { reveal: true })).ledger!.snapshot;
    expect(shown.values).toEqual(person(101));
  });

  it('says so when the ledger key holds something user-sync did not write', async () => {
    await h.redis.set(`${h.prefix}:ledger:zz`, 'not|a|ledger');
    const l = await lookup('zz');
    expect(l).toMatchObject({ ledger: null, foreign: 'a string that is not a ledger entry' });
    expect(l.targets.every((t) => t.sync === 'no_ledger')).toBe(true);
  });

  it('answers for a user the ledger does not know, and bounds the scan, saying so', async () => {
    const unknown = await lookup('999');
    expect(unknown.ledger).toBeNull();
    expect(
      unknown.targets.every((t) => t.sync === 'no_ledger' && t.inSync === null && t.pending.length === 0),
    ).toBe(true);
    // Five deliveries wait in the cache queue: reading one entry per list cannot see them all.
    const bounded = await lookup('7', { scanLimit: 1 });
    expect(bounded.truncated).toBe(true);
    const wait = targetOf(bounded, 'cache').scanned.lists.find((x) => x.list.endsWith(':wait'))!;
    expect(wait).toMatchObject({ scanned: 1, truncated: true });
    expect(wait.size).toBeGreaterThanOrEqual(5);
    // Its latest event's job is still found: by id.
    expect(targetOf(bounded, 'cache').pending).toHaveLength(1);
  });

  it('GET /api/users/:id masks for everyone, reveals for operators, refuses reveal to viewers', async () => {
    const viewer = await api('/api/users/101', VIEWER);
    expect(viewer.status).toBe(200);
    expect(JSON.stringify(viewer.body)).not.toContain('person101@');
    expect(await api('/api/users/101?reveal=1', VIEWER)).toEqual({
      status: 403,
      body: { error: 'forbidden: reveal shows personal data and needs the operator role' },
    });
    expect((await api('/api/users/101?reveal=true', VIEWER)).status).toBe(403);
    const operator = await api('/api/users/101?reveal=1', OPERATOR);
    expect(operator.status).toBe(200);
    expect(JSON.stringify(operator.body)).toContain('person101@example.com');
    expect((await api('/api/users/101?reveal=0', OPERATOR)).body).toMatchObject({
      ledger: { snapshot: { redacted: true } },
    });
  });

  it('GET /api/users/:id refuses hostile ids and parameters with a 400 naming them', async () => {
    const hostile = [
      'a*',
      '*',
      '..%2F..%2Fstats',
      'x'.repeat(129),
      '%E2%98%83',
      'j%C3%BCrgen',
      'a%00b',
      'a%0Ab',
      '%7Buser-sync%7D',
      'a%20b',
      'a:b',
      'user%5B0-9%5D',
      '1%2C%22x%22%3A2',
      '%22',
    ];
    for (const id of hostile) {
      const res = await api(`/api/users/${id}`);
      expect([id, res.status]).toEqual([id, 400]);
      expect(res.body.error).toMatch(/^id: must be 1-128 letters, digits/);
    }
    expect((await api('/api/users/101?reveal=yes')).body).toEqual({
      error: 'reveal: must be 1 (or true) to reveal, 0 (or false)',
    });
    expect((await api('/api/users/101?reveal=1&reveal=1')).status).toBe(400);
    expect((await api('/api/users/101?scan=all')).body).toEqual({ error: 'scan: not a known parameter' });
    // Paths that are not one segment below /api/users never reach the route.
    expect((await api('/api/users/a/b')).status).toBe(404);
    expect((await api('/api/users/%2E%2E')).status).toBe(404);
    await expect(lookup('a*')).rejects.toThrow(/^id: must be 1-128/);
  });

  it('user-sync user <id> prints the lookup, JSON with --json, and refuses a hostile id', async () => {
    const env = { REDIS_URL: TEST_REDIS_URL, LOG_LEVEL: 'error' };
    const json = await runCli(['user', '101', '--json', '--config', configFile], { env });
    expect(json.code).toBe(0);
    const l = JSON.parse(json.stdout) as UserLookup;
    expect(targetOf(l, 'http-b').retrying[0]!.lastError).toMatch(/503/);
    expect(json.stdout).not.toContain('person101@');
    const text = await runCli(['user', '101', '--config', configFile], { env });
    expect(text.stdout).toMatch(/Ledger: version 1, live/);
    expect(text.stdout).toMatch(/retrying .*\.http-b .*last error: .*503/);
    expect(text.stdout).toContain('personal values masked');
    const revealed = await runCli(['user', '101', '--reveal', '--json', '--config', configFile], { env });
    expect(revealed.stdout).toContain('person101@example.com');
    for (const bad of ['a*', 'jürgen']) {
      const res = await runCli(['user', bad, '--config', configFile], { env });
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(/^user-sync: id: must be 1-128 letters, digits/);
    }
  });
});
