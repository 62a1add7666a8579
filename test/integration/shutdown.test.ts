import { afterEach, describe, expect, it } from '@jest/globals';
import { startHarness, type Harness } from '../helpers/harness.js';
import { waitFor } from '../helpers/redis.js';

describe('graceful stop', () => {
  let h: Harness;
  afterEach(async () => h?.close());

  it('finishes active deliveries that end within shutdownTimeout', async () => {
    h = await startHarness({
      httpTargets: 1,
      redisTarget: false,
      handlerTarget: false,
      config: { workers: 4, shutdownTimeout: 5_000 },
    });
    const server = h.http[0]!;
    server.respond = (_req, res) => void setTimeout(() => res.end('ok'), 300);
    const publisher = h.service.createPublisher('accounts');
    for (let i = 1; i <= 4; i++) await publisher.publishUserCreated({ id: i });
    await waitFor(() => server.requests.length === 4, { what: 'four requests in flight' });
    await h.service.stop();
    const stats = await h.service.getStats();
    expect(stats).toMatchObject({ completed_tasks: 4, retry_tasks: 0, failed_tasks: 0 });
    expect(await h.service.getQueueStatus()).toMatchObject({
      queue_length: 0,
      is_running: false,
      processes: 0,
    });
  });

  it('releases deliveries still running at the timeout; after a restart every event arrives, nothing spent or lost', async () => {
    h = await startHarness({
      httpTargets: 1,
      redisTarget: false,
      handlerTarget: false,
      config: { workers: 4, shutdownTimeout: 300 },
    });
    const server = h.http[0]!;
    let slow = true;
    server.respond = (_req, res) => (slow ? undefined : res.end('ok')); // hang while slow
    const publisher = h.service.createPublisher('accounts');
    const events = [];
    for (let i = 1; i <= 10; i++) events.push(await publisher.publishUserCreated({ id: i }));
    await waitFor(() => server.requests.length === 4, { what: 'four requests in flight' });
    // The requests never end while `slow`: stop() returns only by releasing them at the timeout.
    // Had it waited for them to time out instead (the target's 2 s), they would have been
    // counted as retries.
    await h.service.stop();
    // Nothing was failed or counted as a retry: released jobs wait for the next worker.
    expect(await h.service.getStats()).toMatchObject({ completed_tasks: 0, retry_tasks: 0, failed_tasks: 0 });
    expect(await h.service.getQueueStatus()).toMatchObject({ queue_length: 10, is_running: false });
    slow = false;
    await h.service.start();
    await waitFor(async () => (await h.service.getStats()).completed_tasks === 10, {
      what: 'all ten delivered',
    });
    const stats = await h.service.getStats();
    expect(stats).toMatchObject({ total_tasks: 10, completed_tasks: 10, failed_tasks: 0, retry_tasks: 0 });
    const delivered = new Set(server.requests.slice(4).map((r) => String(r.headers['webhook-id'])));
    expect(delivered).toEqual(new Set(events.map((e) => `${e.eventId}.http-a`)));
  });
});
