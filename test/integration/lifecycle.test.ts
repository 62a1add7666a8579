import { afterEach, describe, expect, it } from '@jest/globals';
import {
  registerExecutor,
  unregisterExecutor,
  type DeliveryTask,
  type ExecutionContext,
} from '../../src/index.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { waitFor } from '../helpers/redis.js';

describe('start() that fails half way', () => {
  let h: Harness;
  afterEach(async () => h?.close());

  it('closes the workers it started and rejects: none is left taking jobs', async () => {
    h = await startHarness({ start: false, redisTarget: false, config: { consistencyCheck: true } });
    // The sweep scheduler is synced after the delivery workers have started; a key of the wrong
    // type where BullMQ keeps job schedulers makes that step fail (WRONGTYPE).
    await h.redis.set(`${h.prefix}:maintenance:repeat`, 'not a sorted set');
    await expect(h.service.start()).rejects.toThrow(/WRONGTYPE/);
    expect(h.service.isRunning).toBe(false);
    for (const target of ['http-a', 'http-b', 'audit']) {
      expect(await h.service.deployment.queues.delivery(target).getWorkersCount()).toBe(0);
    }
    expect(await h.service.deployment.queues.maintenance.getWorkersCount()).toBe(0);
    expect((await h.service.getQueueStatus()).processes).toBe(0);

    // Once the cause is gone, a new start works and delivers what waited.
    await h.redis.del(`${h.prefix}:maintenance:repeat`);
    await h.service.createPublisher('accounts').publishUserCreated({ id: 1 });
    await h.service.start();
    await waitFor(async () => (await h.service.getStats()).completed_tasks === 3, {
      what: 'three deliveries',
    });
    expect(await h.service.deployment.queues.delivery('http-a').getWorkersCount()).toBe(1);
  });
});

describe('the deadline of an attempt', () => {
  let h: Harness;
  afterEach(async () => {
    await h?.close();
    unregisterExecutor('slow-kind');
  });

  it('aborts the executor signal at the target timeout and keeps the user locked until the call settles', async () => {
    /** Every call, in the order things happened to it. */
    const log: string[] = [];
    const finishFirst: Array<() => void> = [];
    registerExecutor('slow-kind', {
      async execute(task: DeliveryTask, _target, ctx: ExecutionContext) {
        log.push(`start v${task.version}`);
        ctx.signal.addEventListener('abort', () => log.push(`aborted v${task.version}`));
        // Version 1 ignores its signal and only ends when the test says so.
        if (task.version === 1 && task.attempt === 1)
          await new Promise<void>((resolve) => finishFirst.push(resolve));
        log.push(`applied v${task.version}`);
      },
    });
    h = await startHarness({
      httpTargets: 0,
      redisTarget: false,
      handlerTarget: false,
      config: {
        lockDuration: 20_000,
        targets: [{ service: 'slow', kind: 'slow-kind', timeoutMs: 300 }],
      },
    });
    const publisher = h.service.createPublisher('accounts');
    await publisher.publishUserCreated({ id: 7 }, { version: 1 });
    await waitFor(() => log.includes('aborted v1'), { what: 'the first call aborted at its deadline' });
    await waitFor(async () => (await h.service.getStats()).retry_tasks === 1, {
      what: 'the timeout counted',
    });

    // A newer version arrives while the first call still runs: it must wait for it.
    await publisher.publishUserUpdated({ id: 7, username: 'new' }, undefined, { version: 2 });
    await waitFor(async () => (await h.redis.zcard(`${h.prefix}:deliver.slow:delayed`)) > 0, {
      what: 'version 2 waiting for the lock',
    });
    expect(log).not.toContain('start v2');

    finishFirst.forEach((finish) => finish());
    await waitFor(() => log.includes('applied v2'), { what: 'version 2 applied' });
    expect(log.indexOf('applied v1')).toBeLessThan(log.indexOf('start v2'));
    await waitFor(async () => (await h.service.getStats()).completed_tasks === 2, {
      what: 'the retried first delivery superseded',
    });
    // The retry of version 1 may run again before version 2 (at least once), never after it.
    const applied = log.filter((l) => l.startsWith('applied'));
    expect(applied[applied.length - 1]).toBe('applied v2');
    expect(log.slice(log.indexOf('start v2')).filter((l) => l === 'applied v1')).toEqual([]);
  });
});
