import { describe, expect, it } from '@jest/globals';
import {
  DEAD_LETTER_QUEUE,
  MAINTENANCE_QUEUE,
  deliveryQueueName,
  keys,
  taskId,
} from '../../src/jobs/names.js';

describe('names', () => {
  it('builds task ids <eventId>.<service>', () => {
    expect(taskId('evt_1', 'orders')).toBe('evt_1.orders');
    expect(taskId('0190f5b8-3f1e-7c2a-9b4d-1234567890ab', 'billing-v2')).toBe(
      '0190f5b8-3f1e-7c2a-9b4d-1234567890ab.billing-v2',
    );
  });

  it('builds queue names deliver.<service>', () => {
    expect(deliveryQueueName('orders')).toBe('deliver.orders');
    expect(deliveryQueueName('a_b-C9')).toBe('deliver.a_b-C9');
  });

  it('names the dead-letter and maintenance queues', () => {
    expect(DEAD_LETTER_QUEUE).toBe('dead-letter');
    expect(MAINTENANCE_QUEUE).toBe('maintenance');
  });

  it('never puts ":" in a queue name (BullMQ refuses it) for a valid service', () => {
    for (const name of [DEAD_LETTER_QUEUE, MAINTENANCE_QUEUE, deliveryQueueName('a_b-C9')]) {
      expect(name).not.toContain(':');
    }
  });

  it('keeps delivery queues apart from the dead-letter and maintenance queues', () => {
    expect(deliveryQueueName('dead-letter')).not.toBe(DEAD_LETTER_QUEUE);
    expect(deliveryQueueName('maintenance')).not.toBe(MAINTENANCE_QUEUE);
  });

  describe.each(['{user-sync}', '{my-app}', 'plain'])('keys(%s)', (prefix) => {
    const k = keys(prefix);

    it('has the documented names', () => {
      expect(k.ledger('42')).toBe(`${prefix}:ledger:42`);
      expect(k.users).toBe(`${prefix}:users`);
      expect(k.event('evt_1')).toBe(`${prefix}:event:evt_1`);
      expect(k.watermark('orders')).toBe(`${prefix}:wm:orders`);
      expect(k.lock('orders', '42')).toBe(`${prefix}:lock:orders:42`);
      expect(k.stats).toBe(`${prefix}:stats`);
      expect(k.targetStats('orders')).toBe(`${prefix}:stats:orders`);
      expect(k.workers).toBe(`${prefix}:workers`);
      expect(k.latency('orders')).toBe(`${prefix}:latency:orders`);
      expect(k.targets).toBe(`${prefix}:targets`);
      // BullMQ's own job hash: `<prefix>:<queue>:<jobId>`.
      expect(k.job('deliver.orders', 'e1.orders')).toBe(`${prefix}:deliver.orders:e1.orders`);
    });

    it('starts every key with the prefix', () => {
      const all = Object.values(k).map((value) => (typeof value === 'string' ? value : value('a', 'b')));
      expect(all).toHaveLength(20);
      for (const key of all) expect(key.startsWith(`${prefix}:`)).toBe(true);
    });

    it('gives every kind of key a distinct name', () => {
      const all = [
        k.ledger('x'),
        k.users,
        k.event('x'),
        k.watermark('x'),
        k.lock('x', 'x'),
        k.stats,
        k.targetStats('x'),
        k.workers,
      ];
      expect(new Set(all).size).toBe(all.length);
    });
  });
});
