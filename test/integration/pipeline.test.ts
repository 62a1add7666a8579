import { afterEach, describe, expect, it } from '@jest/globals';
import { Webhook } from 'standardwebhooks';
import { EventType, type UserSnapshot } from '../../src/index.js';
import { readLatency } from '../../src/jobs/stats.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { waitFor } from '../helpers/redis.js';

const ada: UserSnapshot = {
  id: 1,
  username: 'ada',
  email: 'ada@example.com',
  role: 'admin',
  status: 'active',
};

describe('publish → deliver to every target kind', () => {
  let h: Harness;
  afterEach(async () => h?.close());

  it('delivers each event type to two HTTP services, a Redis cache and a handler, signed as DESIGN.md says', async () => {
    h = await startHarness();
    const publisher = h.service.createPublisher('accounts');
    const created = await publisher.publishUserCreated(ada);
    expect(created.version).toBe(1);
    expect(created.tasks).toEqual([
      `${created.eventId}.http-a`,
      `${created.eventId}.http-b`,
      `${created.eventId}.cache`,
      `${created.eventId}.audit`,
    ]);

    // Each event waits for the previous one to land everywhere, so every target sees all four.
    const steps: Array<[EventType, () => Promise<{ eventId: string; version: number }>]> = [
      [EventType.UserCreated, async () => created],
      [
        EventType.UserUpdated,
        () => publisher.publishUserUpdated({ ...ada, role: 'owner' }, { role: 'owner' }),
      ],
      [
        EventType.UserStatusChanged,
        () => publisher.publishUserStatusChanged({ ...ada, role: 'owner', status: 'suspended' }, 'active'),
      ],
      [EventType.UserDeleted, () => publisher.publishUserDeleted({ id: 1, username: 'ada' })],
    ];
    for (const [index, [type, publish]] of steps.entries()) {
      const { eventId, version } = await publish();
      expect(version).toBe(index + 1);
      for (const [i, server] of h.http.entries()) {
        const service = i === 0 ? 'http-a' : 'http-b';
        const request = await waitFor(() => server.requests[index], { what: `${type} at ${service}` });
        const taskId = `${eventId}.${service}`;
        const body = JSON.parse(request.body) as Record<string, unknown>;
        expect(Object.keys(body)).toEqual([
          'task_id',
          'event_id',
          'user_id',
          'username',
          'event_type',
          'version',
          'data',
          'timestamp',
          'source',
        ]);
        expect(body).toMatchObject({
          task_id: taskId,
          event_id: eventId,
          user_id: 1,
          username: 'ada',
          event_type: type,
          version,
          source: 'accounts',
        });
        expect(request.method).toBe('POST');
        expect(request.headers['content-type']).toBe('application/json');
        expect(request.headers['webhook-id']).toBe(taskId);
        expect(request.headers['idempotency-key']).toBe(taskId);
        expect(request.headers['user-agent']).toMatch(/^user-sync\/\d+\.\d+\.\d+/);
        // An independent Standard Webhooks verifier accepts the signature.
        const verified = new Webhook(h.secrets[i] as string).verify(request.body, {
          'webhook-id': String(request.headers['webhook-id']),
          'webhook-timestamp': String(request.headers['webhook-timestamp']),
          'webhook-signature': String(request.headers['webhook-signature']),
        });
        expect(verified).toEqual(body);
      }
      await waitFor(() => h.handled.length > index, { what: `${type} at the handler` });
      expect(h.handled[index]).toMatchObject({ id: eventId, type, version, userId: 1, service: 'audit' });
      if (type === EventType.UserDeleted) {
        await waitFor(async () => (await h.redis.exists(h.cacheKey(1))) === 0, {
          what: 'cache entry deleted',
        });
      } else {
        const cached = await waitFor(
          async () => {
            const raw = await h.redis.get(h.cacheKey(1));
            return raw && (JSON.parse(raw) as { version: number }).version === version ? raw : undefined;
          },
          { what: `cache at version ${version}` },
        );
        expect((JSON.parse(cached) as { user: { id: unknown } }).user.id).toBe(1);
      }
    }
    const updateBody = JSON.parse(h.http[0]!.requests[1]!.body) as {
      data: { user: UserSnapshot; changes: unknown };
    };
    expect(updateBody.data).toEqual({ user: { ...ada, role: 'owner' }, changes: { role: 'owner' } });
    const statusBody = JSON.parse(h.http[0]!.requests[2]!.body) as { data: { changes: unknown } };
    expect(statusBody.data.changes).toEqual({ status: { from: 'active', to: 'suspended' } });

    await waitFor(async () => (await h.service.getStats()).completed_tasks === 16, {
      what: '16 completed tasks',
    });
    const stats = await h.service.getStats();
    expect(stats).toMatchObject({ total_tasks: 16, completed_tasks: 16, failed_tasks: 0, retry_tasks: 0 });
    for (const service of ['http-a', 'http-b', 'cache', 'audit']) {
      expect(stats.by_target[service]).toEqual({
        delivered: 4,
        superseded: 0,
        retried: 0,
        dead: 0,
        replayed: 0,
        trimmed: 0,
      });
    }
    // Every delivery is in its target's latency histogram (publish to delivered).
    const latency = await readLatency(h.redis, h.service.deployment.keyspace, [
      'http-a',
      'http-b',
      'cache',
      'audit',
    ]);
    for (const histogram of Object.values(latency)) {
      expect(histogram.count).toBe(4);
      expect(histogram.buckets.at(-1)).toEqual([Infinity, 4]);
      expect(histogram.sumMs).toBeGreaterThanOrEqual(0);
    }
    const status = await h.service.getQueueStatus();
    expect(status).toMatchObject({
      queue_length: 0,
      queue_cap: 10_000,
      is_running: true,
      enabled: true,
      processes: 1,
      workers: 5,
    });
  });
});
