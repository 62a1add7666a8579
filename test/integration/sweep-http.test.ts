import { afterEach, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import type { SyncConfigInput, TargetConfigInput } from '../../src/config/schema.js';
import { isLedgerRecord, parseLedger } from '../../src/jobs/ledger.js';
import { createLogger } from '../../src/logger.js';
import { UserSyncService } from '../../src/service.js';
import { emptyFigures, type TargetSweepFigures } from '../../src/sweep/classify.js';
import { deletePrefix, testRedis, uniquePrefix, waitFor } from '../helpers/redis.js';
import {
  startStateReceiver as startReceiver,
  type StateReceiver as Receiver,
} from '../helpers/state-receiver.js';

const silent = createLogger({ silent: true });

/** A target reading its state in bulk (small batches: several POSTs per chunk). */
const bulkTarget = (service: string, r: Receiver): TargetConfigInput => ({
  service,
  url: r.webhookUrl,
  state: { bulkUrl: r.bulkUrl, batchSize: 5 },
});
/** A target reading its state one GET per user. */
const singleTarget = (service: string, r: Receiver): TargetConfigInput => ({
  service,
  url: r.webhookUrl,
  state: { url: r.singleUrl, concurrency: 4 },
});

const figures = (partial: Partial<TargetSweepFigures>): TargetSweepFigures => ({
  ...emptyFigures(),
  ...partial,
});

interface Setup {
  redis: Redis;
  prefix: string;
  receivers: Receiver[];
  services: UserSyncService[];
}

let s: Setup | undefined;

function setup(): Setup {
  s = { redis: testRedis(), prefix: uniquePrefix('sweep-http'), receivers: [], services: [] };
  return s;
}

afterEach(async () => {
  if (!s) return;
  const { redis, prefix, receivers, services } = s;
  s = undefined;
  for (const service of services) await service.close().catch(() => undefined);
  await Promise.all(receivers.map((r) => r.close()));
  await deletePrefix(redis, prefix);
  await redis.quit();
});

async function receiver(setup: Setup): Promise<Receiver> {
  const r = await startReceiver();
  setup.receivers.push(r);
  return r;
}

function service(setup: Setup, targets: TargetConfigInput[], overrides: Partial<SyncConfigInput> = {}) {
  const created = new UserSyncService(
    { prefix: setup.prefix, retryInterval: 50, autoRepair: true, targets, ...overrides },
    setup.redis,
    { logger: silent },
  );
  setup.services.push(created);
  return created;
}

/** The ledger's version and deleted flag of users 1..n. */
async function ledger(setup: Setup, n: number): Promise<Map<string, { v: number; deleted: boolean }>> {
  const out = new Map<string, { v: number; deleted: boolean }>();
  for (let id = 1; id <= n; id++) {
    const entry = parseLedger((await setup.redis.get(`${setup.prefix}:ledger:${id}`)) ?? '');
    out.set(
      String(id),
      isLedgerRecord(entry) ? { v: entry.version, deleted: entry.deleted } : { v: 0, deleted: false },
    );
  }
  return out;
}

/** Where a receiver differs from the ledger: [] when it holds every live user at its version and no deleted one. */
async function differences(setup: Setup, r: Receiver, n: number): Promise<string[]> {
  const out: string[] = [];
  for (const [id, entry] of await ledger(setup, n)) {
    const held = r.users.get(id)?.version ?? null;
    const want = entry.deleted ? null : entry.v;
    if (held !== want) out.push(`user ${id}: holds ${held}, ledger ${want}`);
  }
  return out;
}

/** Waits until every queue is empty and each receiver matches the ledger. */
async function settled(setup: Setup, svc: UserSyncService, n: number, what: string): Promise<void> {
  await waitFor(
    async () => {
      if ((await svc.getQueueStatus()).queue_length !== 0) return false;
      for (const r of setup.receivers) if ((await differences(setup, r, n)).length > 0) return false;
      return true;
    },
    { timeoutMs: 15_000, what },
  );
}

/** The ids of the repair jobs in a target's queue, in any state. */
async function repairJobs(svc: UserSyncService, target: string): Promise<string[]> {
  const jobs = await svc.deployment.queues
    .delivery(target)
    .getJobs(['waiting', 'delayed', 'prioritized', 'active', 'completed', 'failed']);
  return jobs
    .map((job) => job.id ?? '')
    .filter((id) => id.startsWith('repair-'))
    .sort();
}

describe('consistency sweep against HTTP services with state', () => {
  it('finds each kind of drift per target and repairs it; a second sweep is all in sync; a target without state is unchecked, never in sync', async () => {
    const t = setup();
    const bulk = await receiver(t);
    const single = await receiver(t);
    const blind = await receiver(t); // a service with no state endpoint
    const svc = service(t, [
      bulkTarget('bulk', bulk),
      singleTarget('single', single),
      { service: 'blind', url: blind.webhookUrl },
    ]);
    await svc.start();
    const publisher = svc.createPublisher('accounts');
    const USERS = 12;
    for (let id = 1; id <= USERS; id++) await publisher.publishUserCreated({ id, username: `u${id}` });
    for (const id of [3, 7, 8]) await publisher.publishUserUpdated({ id, username: `u${id}`, role: 'admin' });
    for (const id of [4, 9]) await publisher.publishUserDeleted({ id });
    await settled(t, svc, USERS, 'every receiver holds the ledger');

    // Drift, injected in the receivers behind user-sync's back.
    bulk.users.delete('1'); // lost users
    bulk.users.delete('2');
    bulk.users.set('3', { version: 1, user: { id: 3 } }); // an older version (ledger: v2)
    bulk.tombstones.delete('4');
    bulk.users.set('4', { version: 1, user: { id: 4 } }); // holds a user the ledger deleted
    single.users.delete('6');
    single.users.set('7', { version: 1, user: { id: 7 } });
    single.users.set('8', { version: 1, user: { id: 8 } });
    single.tombstones.delete('9');
    single.users.set('9', { version: 1, user: { id: 9 } });
    // A delete every service misses: published while no worker runs.
    await svc.stop();
    await publisher.publishUserDeleted({ id: 5 });

    const statesBefore = [bulk.stateRequests, single.stateRequests, blind.stateRequests];
    const run = await svc.runSweep();
    expect(run).toBeDefined();
    expect(run).toMatchObject({ usersChecked: USERS, passCompleted: true, stoppedBy: 'end', chunks: 1 });
    expect(run!.targets).toEqual({
      bulk: figures({ in_sync: 7, missing: 2, stale: 1, extra: 2, repairs: 5 }),
      single: figures({ in_sync: 7, missing: 1, stale: 2, extra: 2, repairs: 5 }),
      // No state: never counted in sync, never repaired.
      blind: figures({ unchecked: USERS }),
    });
    expect(run!.repairsEnqueued).toBe(10);
    // Batched reads: 12 ids in bulk batches of 5 are 3 POSTs; the single reader GETs each user.
    expect(bulk.stateRequests - (statesBefore[0] as number)).toBe(3);
    expect(single.stateRequests - (statesBefore[1] as number)).toBe(USERS);
    expect(blind.stateRequests).toBe(0);

    // One repair per mismatch, carrying the ledger's version.
    expect(await repairJobs(svc, 'bulk')).toEqual(
      ['repair-v1-1', 'repair-v1-2', 'repair-v2-3', 'repair-v2-4', 'repair-v2-5'].map((id) => `${id}.bulk`),
    );
    expect(await repairJobs(svc, 'single')).toEqual(
      ['repair-v1-6', 'repair-v2-5', 'repair-v2-7', 'repair-v2-8', 'repair-v2-9'].map((id) => `${id}.single`),
    );
    expect(await repairJobs(svc, 'blind')).toEqual([]);

    await svc.start();
    await settled(t, svc, USERS, 'repairs delivered: every receiver holds the ledger');
    expect(await differences(t, bulk, USERS)).toEqual([]);
    expect(await differences(t, single, USERS)).toEqual([]);
    expect(bulk.users.get('3')?.user).toMatchObject({ id: 3, role: 'admin' }); // the ledger's snapshot

    const again = await svc.runSweep();
    expect(again!.targets).toEqual({
      bulk: figures({ in_sync: USERS }),
      single: figures({ in_sync: USERS }),
      blind: figures({ unchecked: USERS }),
    });
    expect(again!.repairsEnqueued).toBe(0);
    expect((await svc.getSweepRuns()).map((r) => r.id)).toEqual([again!.id, run!.id]);
  });

  it.each([
    ['bulk', 'single'],
    ['single', 'bulk'],
  ] as const)(
    'a %s state endpoint answering 500: its target is unreachable and gets no repairs, the other is repaired',
    async (failing, healthy) => {
      const t = setup();
      const down = await receiver(t);
      const up = await receiver(t);
      const targetOf = (kind: 'bulk' | 'single', r: Receiver) =>
        kind === 'bulk' ? bulkTarget('down', r) : singleTarget('down', r);
      const svc = service(t, [targetOf(failing, down), { ...targetOf(healthy, up), service: 'up' }]);
      await svc.start();
      const publisher = svc.createPublisher('accounts');
      const USERS = 6;
      for (let id = 1; id <= USERS; id++) await publisher.publishUserCreated({ id, username: `u${id}` });
      await settled(t, svc, USERS, 'every receiver holds the ledger');

      down.users.delete('1');
      down.users.delete('2');
      up.users.delete('3');
      up.users.set('4', { version: 0, user: { id: 4 } });
      down.stateFails = true;

      const run = await svc.runSweep();
      expect(run!.targets).toEqual({
        down: figures({ unreachable: USERS }),
        up: figures({ in_sync: 4, missing: 1, stale: 1, repairs: 2 }),
      });
      expect(run!.repairsEnqueued).toBe(2);
      expect(run!.stoppedBy).toBe('end');
      expect(down.stateRequests).toBeGreaterThan(0);
      expect(await repairJobs(svc, 'down')).toEqual([]);
      expect(await repairJobs(svc, 'up')).toEqual(['repair-v1-3.up', 'repair-v1-4.up']);

      // The healthy one is repaired; the one that could not answer got nothing sent blindly.
      const webhooksBefore = down.webhooks;
      await waitFor(async () => (await differences(t, up, USERS)).length === 0, { what: 'up repaired' });
      await waitFor(async () => (await svc.getQueueStatus()).queue_length === 0, { what: 'drained' });
      expect(down.webhooks).toBe(webhooksBefore);
      expect(await differences(t, down, USERS)).toEqual([
        'user 1: holds null, ledger 1',
        'user 2: holds null, ledger 1',
      ]);

      // Once it answers again, the next sweep finds its drift and repairs it.
      down.stateFails = false;
      const next = await svc.runSweep();
      expect(next!.targets).toEqual({
        down: figures({ in_sync: 4, missing: 2, repairs: 2 }),
        up: figures({ in_sync: USERS }),
      });
      await settled(t, svc, USERS, 'down repaired once it answers');
    },
  );
});
