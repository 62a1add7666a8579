import { describe, expect, it } from '@jest/globals';
import {
  DEAD_LETTER_QUEUE,
  MAINTENANCE_QUEUE,
  Keyspace,
  deliveryQueueName,
  partitionOf,
  partitionPrefix,
  taskId,
} from '../../src/jobs/names.js';
import { keySlot } from '../helpers/redis-cluster.js';

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

  describe.each(['{user-sync}', '{my-app}', 'plain'])(
    'the keys of a deployment of one partition, prefix %s',
    (prefix) => {
      const space = new Keyspace(prefix);
      const k = space.partition(0);
      const d = space.deployment;

      it('has the documented names, the same as before partitions existed', () => {
        expect(k.ledger('42')).toBe(`${prefix}:ledger:42`);
        expect(k.users).toBe(`${prefix}:users`);
        expect(k.event('evt_1')).toBe(`${prefix}:event:evt_1`);
        expect(k.watermark('orders')).toBe(`${prefix}:wm:orders`);
        expect(k.lock('orders', '42')).toBe(`${prefix}:lock:orders:42`);
        expect(k.stats).toBe(`${prefix}:stats`);
        expect(k.targetStats('orders')).toBe(`${prefix}:stats:orders`);
        expect(k.latency('orders')).toBe(`${prefix}:latency:orders`);
        expect(k.deliveryRate('orders', 486_000)).toBe(`${prefix}:rate:orders:486000`);
        expect(d.breaker('orders')).toBe(`${prefix}:breaker:orders`);
        expect(k.sweepCursor).toBe(`${prefix}:sweep:cursor`);
        expect(k.deliveryQueue('orders')).toBe('deliver.orders');
        expect(d.workers).toBe(`${prefix}:workers`);
        expect(d.targets).toBe(`${prefix}:targets`);
        expect(d.sweepLock).toBe(`${prefix}:sweep:lock`);
        expect(d.registry).toBe(`${prefix}:registry`);
        expect(d.backfill('orders')).toBe(`${prefix}:backfill:orders`);
        expect(d.backfillLock('orders')).toBe(`${prefix}:backfill:orders:lock`);
        // BullMQ's own job hash: `<prefix>:<queue>:<jobId>`.
        expect(k.job('deliver.orders', 'e1.orders')).toBe(`${prefix}:deliver.orders:e1.orders`);
        expect(space.forUser(42)).toBe(k);
      });

      it('starts every key with the prefix', () => {
        const names = (keys: object) =>
          Object.entries(keys)
            .filter(([name]) => !['prefix', 'partition', 'deliveryQueue'].includes(name))
            .map(([, value]) =>
              typeof value === 'string' ? value : (value as (a: string, b: string) => string)('a', 'b'),
            );
        const all = [...names(k), ...names(d)];
        expect(all).toHaveLength(28);
        for (const key of all) expect(key.startsWith(`${prefix}:`)).toBe(true);
      });

      it('gives every kind of key a distinct name', () => {
        const all = [
          k.ledger('x'),
          k.users,
          k.event('x'),
          k.watermark('x'),
          k.lock('x', 'x'),
          k.turn('x', 'x'),
          k.stats,
          k.targetStats('x'),
          k.sweepCursor,
          d.workers,
          d.targets,
          d.meta,
          d.sweepLock,
          d.deadLetterIndex,
        ];
        expect(new Set(all).size).toBe(all.length);
      });
    },
  );

  describe('partitions', () => {
    it('hashes a user id with FNV-1a 32-bit, modulo the partitions (stable, documented)', () => {
      // FNV-1a 32 of "42" is 0x87e38583, of "ada" 0x38390dbb (computed apart, in Python).
      expect(partitionOf('42', 2 ** 31)).toBe(0x87e38583 % 2 ** 31);
      expect(partitionOf(42, 16)).toBe(0x87e38583 % 16);
      expect(partitionOf('ada', 7)).toBe(0x38390dbb % 7);
      expect(partitionOf('anything', 1)).toBe(0);
      expect(partitionOf('a', 2 ** 32)).toBe(0xe40c292c); // the published test vector of FNV-1a 32
    });

    it('spreads users evenly', () => {
      const counts = new Array<number>(16).fill(0);
      for (let id = 1; id <= 16_000; id++) counts[partitionOf(id, 16)]! += 1;
      for (const n of counts) expect(n).toBeGreaterThan(800);
      for (const n of counts) expect(n).toBeLessThan(1_200);
    });

    it("gives each partition the deployment's hash tag extended, its slot in the partition's share", () => {
      expect(partitionPrefix('{user-sync}', 3, 16)).toBe('{user-sync-p3}');
      expect(partitionPrefix('{user-sync}', 0, 16)).toBe('{user-sync-p0-22}');
      expect(partitionPrefix('{user-sync}', 0, 1)).toBe('{user-sync}');
      for (const [prefix, partitions] of [
        ['{user-sync}', 16],
        ['app{users}x', 2],
        ['plain', 4],
        ['{u}', 64],
      ] as const) {
        for (let p = 0; p < partitions; p++) {
          const slice = partitionPrefix(prefix, p, partitions);
          const tag = /\{([^}]+)\}/.exec(slice)?.[1] ?? '';
          expect(tag.startsWith(`${/\{([^}]+)\}/.exec(prefix)?.[1] ?? prefix}-p${p}`)).toBe(true);
          const slot = keySlot(slice);
          expect(slot).toBeGreaterThanOrEqual(Math.floor((p * 16_384) / partitions));
          expect(slot).toBeLessThan(Math.floor(((p + 1) * 16_384) / partitions));
          expect(partitionPrefix(prefix, p, partitions)).toBe(slice);
        }
      }
      expect(partitionPrefix('app{users}x', 0, 2)).toMatch(/^app\{users-p0(-\d+)?\}x$/);
      expect(deliveryQueueName('orders', 3, 16)).toBe('deliver.orders.p03');
      expect(deliveryQueueName('orders', 3, 4)).toBe('deliver.orders.p3');
      const space = new Keyspace('{user-sync}', 4);
      expect(space.partition(2).ledger('9')).toBe(`${partitionPrefix('{user-sync}', 2, 4)}:ledger:9`);
      expect(space.partition(2).deliveryQueue('orders')).toBe('deliver.orders.p2');
      expect(space.deployment.workers).toBe('{user-sync}:workers');
      expect(space.forUser('ada')).toBe(space.partition(partitionOf('ada', 4)));
      expect(() => space.partition(4)).toThrow(/no partition 4/);
    });
  });
});
