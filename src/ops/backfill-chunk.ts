/**
 * One chunk of a backfill: the users' decisions and the deliveries planned for them (through the
 * publisher's fan-out, as the sweep plans its repairs), less those whose job is already queued.
 */
import type { TargetConfig } from '../config/schema.js';
import { readLedger, type LedgerRecord } from '../jobs/ledger.js';
import { taskId, type Keys } from '../jobs/names.js';
import type { QueueSet } from '../jobs/queues.js';
import type { PlannedDelivery } from '../producers/fan-out.js';
import type { Redis } from '../redis.js';
import { planRepair } from '../sweep/repairs.js';
import { countSkip, decideBackfill, type BackfillCounts } from './backfill-plan.js';

/** What planning a chunk needs. */
export interface ChunkDeps {
  redis: Redis;
  queues: QueueSet;
}

/** A delivery planned for one user, and the job of the ledger's latest event to the same target. */
export interface ChunkItem {
  delivery: PlannedDelivery;
  /** `<ledger's event id>.<service>`: the publish's own job, if it is still queued it sends this version. */
  latestJobId: string;
}

/**
 * Decides each user of a chunk (one partition) and plans the deliveries of those that get one,
 * through the publisher's fan-out, as the sweep plans its repairs: the ledger's latest snapshot
 * under the deterministic repair id, marked `repair`.
 */
export async function planChunk(args: {
  deps: ChunkDeps;
  keys: Keys;
  target: TargetConfig;
  ids: readonly string[];
  counts: BackfillCounts;
  ignoreWatermarks: boolean;
  now: () => number;
}): Promise<ChunkItem[]> {
  const { deps, keys, target, ids, counts } = args;
  if (ids.length === 0) return [];
  const [ledger, marks] = await Promise.all([
    readLedger(deps.redis, keys, ids),
    deps.redis.hmget(keys.watermark(target.service), ...ids),
  ]);
  const timestamp = new Date(args.now()).toISOString();
  const planned: ChunkItem[] = [];
  ids.forEach((userId, i) => {
    const entry = ledger.get(userId);
    const decision = decideBackfill(entry, Number(marks[i] ?? 0) || 0, target, args.ignoreWatermarks);
    if (decision !== 'send' && decision !== 'send_delete') return countSkip(counts, decision);
    const record = entry as LedgerRecord;
    const repair = { target, userId, state: record, snapshot: record.snapshot, keys, timestamp };
    for (const delivery of planRepair({ ...repair, source: 'user-sync-backfill' }))
      planned.push({ delivery, latestJobId: taskId(record.eventId, target.service) });
  });
  return planned;
}

/** Job states in which a job has not finished: it will still send its version. */
const UNFINISHED = new Set([
  'waiting',
  'wait',
  'prioritized',
  'delayed',
  'active',
  'waiting-children',
  'paused',
]);

/**
 * The planned deliveries that no job already covers; the others are counted `alreadyQueued`. A
 * user's delivery is covered by a job of the same id (this user, version and target: a backfill
 * or a sweep asked for it before; if it died it is a dead letter — replay it) or by the job of
 * the ledger's latest event (the publish's own, sending the same version) unless that one died.
 * With `restoredEmpty` (the target lost what it held) only an unfinished job covers it: a
 * completed one of the same id is removed so that it runs again, as the sweep does with its
 * repairs.
 */
export async function withoutQueued(
  deps: ChunkDeps,
  keys: Keys,
  items: readonly ChunkItem[],
  counts: BackfillCounts,
  run: { partition: number; dryRun: boolean; restoredEmpty: boolean },
): Promise<PlannedDelivery[]> {
  if (items.length === 0) return [];
  const pipeline = deps.redis.pipeline();
  for (const { delivery: d, latestJobId } of items) {
    pipeline.exists(keys.job(d.queueName, d.jobId));
    pipeline.exists(keys.job(d.queueName, latestJobId));
  }
  const rows = (await pipeline.exec()) ?? [];
  const fresh: PlannedDelivery[] = [];
  for (const [i, { delivery: d, latestJobId }] of items.entries()) {
    const own = rows[2 * i]?.[1] === 1;
    const latest = rows[2 * i + 1]?.[1] === 1;
    let covered = own || latest;
    if (covered) {
      // Rare (a target that already had deliveries): their states decide.
      const queue = deps.queues.delivery(d.service, run.partition);
      const [ownState, latestState] = await Promise.all([
        own ? queue.getJobState(d.jobId) : 'unknown',
        latest ? queue.getJobState(latestJobId) : 'unknown',
      ]);
      if (run.restoredEmpty) {
        covered = UNFINISHED.has(ownState) || UNFINISHED.has(latestState) || ownState === 'failed';
        if (!covered && ownState === 'completed' && !run.dryRun) await queue.remove(d.jobId);
      } else {
        covered = own || UNFINISHED.has(latestState) || latestState === 'completed';
      }
    }
    if (covered) counts.alreadyQueued++;
    else fresh.push(d);
  }
  return fresh;
}
