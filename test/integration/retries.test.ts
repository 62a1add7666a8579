import { afterEach, describe, expect, it } from '@jest/globals';
import type { UserSnapshot } from '../../src/index.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { waitFor } from '../helpers/redis.js';

const grace: UserSnapshot = { id: 'u-7', username: 'grace', email: 'grace@example.com', status: 'active' };

/** A harness with one HTTP target and nothing else, so figures are easy to check. */
function oneTarget(config: Parameters<typeof startHarness>[0] = {}) {
  return startHarness({ httpTargets: 1, redisTarget: false, handlerTarget: false, ...config });
}

describe('retries and dead letters', () => {
  let h: Harness;
  afterEach(async () => h?.close());

  it('dead-letters a 4xx after one attempt, with status, excerpt and attempt count', async () => {
    h = await oneTarget();
    const server = h.http[0]!;
    server.respond = (_req, res) => {
      res.statusCode = 422;
      res.end(JSON.stringify({ error: 'email already taken', detail: 'x'.repeat(5000) }));
    };
    const { eventId } = await h.service.createPublisher('accounts').publishUserCreated(grace);
    const dead = await waitFor(async () => (await h.service.listDeadLetters()).records[0], {
      what: 'a dead letter',
    });
    expect(server.requests).toHaveLength(1);
    expect(dead).toMatchObject({
      id: `${eventId}.http-a`,
      service: 'http-a',
      jobId: `${eventId}.http-a`,
      eventId,
      userId: 'u-7',
      reason: 'non_retryable',
      code: 'http_422',
      status: 422,
      attempts: 1,
    });
    expect(dead.excerpt).toContain('email already taken');
    expect(Buffer.byteLength(dead.excerpt ?? '')).toBeLessThanOrEqual(1024);
    const stats = await h.service.getStats();
    expect(stats).toMatchObject({ total_tasks: 1, completed_tasks: 0, failed_tasks: 1, retry_tasks: 0 });
    expect(stats.by_target['http-a']).toEqual({
      delivered: 0,
      superseded: 0,
      retried: 0,
      dead: 1,
      replayed: 0,
      trimmed: 0,
    });
    // The worker lives on and still delivers.
    server.respond = (_req, res) => void res.end('ok');
    await h.service.createPublisher('accounts').publishUserUpdated({ ...grace, role: 'x' });
    await waitFor(async () => (await h.service.getStats()).completed_tasks === 1, { what: 'next delivery' });
  });

  it('retries a 5xx with backoff, then delivers; the webhook-id stays the same', async () => {
    h = await oneTarget();
    const server = h.http[0]!;
    server.respond = (_req, res, i) => {
      res.statusCode = i < 2 ? 503 : 200;
      res.end(i < 2 ? 'busy' : 'ok');
    };
    const { eventId } = await h.service.createPublisher('accounts').publishUserCreated(grace);
    await waitFor(async () => (await h.service.getStats()).completed_tasks === 1, {
      what: 'delivery after retries',
    });
    expect(server.requests).toHaveLength(3);
    expect(new Set(server.requests.map((r) => r.headers['webhook-id']))).toEqual(
      new Set([`${eventId}.http-a`]),
    );
    const stats = await h.service.getStats();
    expect(stats).toMatchObject({ total_tasks: 1, completed_tasks: 1, failed_tasks: 0, retry_tasks: 2 });
    expect(stats.by_target['http-a']).toEqual({
      delivered: 1,
      superseded: 0,
      retried: 2,
      dead: 0,
      replayed: 0,
      trimmed: 0,
    });
    // Backoff: each retry waited at least half of retryInterval * 2^(n-1) (equal jitter).
    const gaps = server.requests.slice(1).map((r, i) => r.at - server.requests[i]!.at);
    expect(gaps[0]).toBeGreaterThanOrEqual(25);
    expect(gaps[1]).toBeGreaterThanOrEqual(50);
  });

  it('retries a timeout and dead-letters once retries are exhausted', async () => {
    h = await oneTarget({ config: { maxRetries: 2 }, targetOverrides: { 'http-a': { timeoutMs: 150 } } });
    const server = h.http[0]!;
    server.respond = () => undefined; // never answers
    const { eventId } = await h.service.createPublisher('accounts').publishUserCreated(grace);
    const dead = await waitFor(async () => (await h.service.listDeadLetters()).records[0], {
      what: 'a dead letter',
    });
    expect(server.requests).toHaveLength(3);
    expect(dead).toMatchObject({
      id: `${eventId}.http-a`,
      reason: 'retries_exhausted',
      code: 'timeout',
      attempts: 3,
    });
    expect(dead.history).toHaveLength(2);
    const stats = await h.service.getStats();
    expect(stats).toMatchObject({ total_tasks: 1, completed_tasks: 0, failed_tasks: 1, retry_tasks: 2 });
  });

  it('honours Retry-After instead of the backoff', async () => {
    // The backoff would wait 5 to 10 minutes: only Retry-After (1 s) lets the delivery happen
    // within the wait below, however slow the machine.
    h = await oneTarget({ config: { retryInterval: 600_000, maxRetryInterval: 600_000 } });
    const server = h.http[0]!;
    server.respond = (_req, res, i) => {
      if (i === 0) {
        res.statusCode = 429;
        res.setHeader('retry-after', '1');
        res.end('slow down');
      } else res.end('ok');
    };
    await h.service.createPublisher('accounts').publishUserCreated(grace);
    await waitFor(async () => (await h.service.getStats()).completed_tasks === 1, {
      timeoutMs: 20_000,
      what: 'delivery after Retry-After',
    });
    // ...and not before it: the target's wait was honoured.
    const gap = server.requests[1]!.at - server.requests[0]!.at;
    expect(gap).toBeGreaterThanOrEqual(950);
  });

  it('caps Retry-After at retryAfterMax', async () => {
    h = await oneTarget({ config: { retryInterval: 30_000, retryAfterMax: 300 } });
    const server = h.http[0]!;
    server.respond = (_req, res, i) => {
      if (i === 0) {
        res.statusCode = 503;
        res.setHeader('retry-after', '3600');
        res.end('maintenance');
      } else res.end('ok');
    };
    await h.service.createPublisher('accounts').publishUserCreated(grace);
    await waitFor(async () => (await h.service.getStats()).completed_tasks === 1, {
      timeoutMs: 8_000,
      what: 'delivery',
    });
    expect(server.requests[1]!.at - server.requests[0]!.at).toBeGreaterThanOrEqual(290);
  });

  it('retries connection errors while a target is down, and delivers when it is back', async () => {
    h = await oneTarget({ config: { maxRetries: 20 } });
    const server = h.http[0]!;
    let up = false;
    server.respond = (_req, res) => {
      if (!up) res.socket?.destroy();
      else res.end('ok');
    };
    await h.service.createPublisher('accounts').publishUserCreated(grace);
    await waitFor(async () => (await h.service.getStats()).retry_tasks >= 2, { what: 'two retries' });
    up = true;
    await waitFor(async () => (await h.service.getStats()).completed_tasks === 1, {
      what: 'delivery once up',
    });
    expect((await h.service.getStats()).failed_tasks).toBe(0);
  });
});
