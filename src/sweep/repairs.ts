/**
 * Repair deliveries: the ledger's latest state of a user sent to one target under a
 * deterministic event id (`repair-v<version>-<user>`), marked `repair`, built by the publisher's
 * own fan-out. The sweep makes them for the drift it finds; a backfill for every user.
 */
import type { SyncConfig, TargetConfig } from '../config/schema.js';
import type { UserSnapshot } from '../events.js';
import { isLedgerRecord, readLedger } from '../jobs/ledger.js';
import type { Keys } from '../jobs/names.js';
import { deliveryJobOptions } from '../jobs/queues.js';
import { planDeliveries, type PlannedDelivery } from '../producers/fan-out.js';
import type { Queue } from 'bullmq';
import type { Redis } from '../redis.js';
import { repairEventId, repairType, type LedgerState } from './classify.js';

/** A mismatch found: which target, which user, what the ledger says. */
export interface Repair {
  target: TargetConfig;
  userId: string;
  state: LedgerState;
}

/** The ledger's snapshot of a user, or `{ id }` when it does not parse as this user's. */
export function ledgerSnapshot(snapshot: string | undefined, userId: string): UserSnapshot {
  try {
    const user = JSON.parse(snapshot ?? '') as UserSnapshot;
    if (typeof user === 'object' && user !== null && String(user.id) === userId) return user;
  } catch {
    // fall through
  }
  return { id: userId };
}

/** The repair deliveries of one user to one target, from its ledger state and snapshot. */
export function planRepair(args: {
  target: TargetConfig;
  userId: string;
  state: Pick<LedgerState, 'version' | 'deleted' | 'type'>;
  snapshot: string | undefined;
  keys: Keys;
  timestamp: string;
  /** Who asked: `user-sync-sweep`, `user-sync-backfill`. */
  source: string;
}): PlannedDelivery[] {
  const { target, userId, state, keys } = args;
  const user = ledgerSnapshot(args.snapshot, userId);
  const event = {
    id: repairEventId(userId, state.version),
    type: repairType(state),
    userId: user.id,
    version: state.version,
    user,
    timestamp: args.timestamp,
    source: args.source,
  };
  return planDeliveries(event, [target], { repair: true, queueName: keys.deliveryQueue });
}

/** The sweep's repairs of a chunk, by target (snapshots read only for the users that get one). */
export async function planRepairs(
  redis: Redis,
  keys: Keys,
  repairs: readonly Repair[],
  timestamp: string,
): Promise<Map<string, PlannedDelivery[]>> {
  const entries = await readLedger(redis, keys, [...new Set(repairs.map((r) => r.userId))]);
  const byTarget = new Map<string, PlannedDelivery[]>();
  for (const { target, userId, state } of repairs) {
    const entry = entries.get(userId);
    const snapshot = isLedgerRecord(entry) ? entry.snapshot : undefined;
    const list = byTarget.get(target.service) ?? [];
    list.push(...planRepair({ target, userId, state, snapshot, keys, timestamp, source: 'user-sync-sweep' }));
    byTarget.set(target.service, list);
  }
  return byTarget;
}

/** Adds planned deliveries to a target's queue, with the delivery job options. */
export async function addDeliveries(
  queue: Queue,
  config: SyncConfig,
  deliveries: readonly PlannedDelivery[],
): Promise<void> {
  if (deliveries.length === 0) return;
  const opts = deliveryJobOptions(config);
  await queue.addBulk(
    deliveries.map((d) => ({ name: d.type, data: d.data, opts: { ...opts, jobId: d.jobId } })),
  );
}

/**
 * Adds a target's repair jobs. Deterministic ids: a repair still pending from an earlier sweep
 * is not added twice; one that already ran (the same drift came back) is removed so that it can
 * run again. Returns how many were added.
 */
export async function enqueueRepairs(
  queue: Queue,
  config: SyncConfig,
  planned: readonly PlannedDelivery[],
): Promise<number> {
  const fresh: PlannedDelivery[] = [];
  for (const delivery of planned) {
    const existing = await queue.getJob(delivery.jobId);
    if (existing) {
      const state = await existing.getState();
      if (state !== 'completed' && state !== 'failed') continue;
      await existing.remove();
    }
    fresh.push(delivery);
  }
  await addDeliveries(queue, config, fresh);
  return fresh.length;
}
