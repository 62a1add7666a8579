/** The backfill's pure decisions: what each user gets, the pace, the estimate. */
import { describe, expect, it } from '@jest/globals';
import { parseConfig } from '../../src/config/parse.js';
import type { TargetConfig } from '../../src/config/schema.js';
import type { LedgerRecord } from '../../src/jobs/ledger.js';
import {
  backfillRate,
  chunkUsers,
  countSkip,
  decideBackfill,
  defaultMaxBacklog,
  emptyCounts,
  estimate,
  paceDelayMs,
  sendsDeletes,
} from '../../src/ops/backfill-plan.js';

const target = (extra: Record<string, unknown> = {}): TargetConfig =>
  parseConfig({ targets: [{ service: 't', url: 'http://127.0.0.1:1/hook', ...extra }] })
    .targets[0] as TargetConfig;
const redisTarget = (): TargetConfig =>
  parseConfig({ targets: [{ service: 'c', url: 'redis://127.0.0.1:6379' }] }).targets[0] as TargetConfig;

const record = (extra: Partial<LedgerRecord> = {}): LedgerRecord => ({
  version: 4,
  deleted: false,
  type: 'user.updated',
  eventId: 'e4',
  timestamp: '2025-01-01T00:00:00Z',
  snapshot: '{"id":1}',
  ...extra,
});
const gone = record({ deleted: true, type: 'user.deleted' });

describe('decideBackfill', () => {
  it('sends a live user the target does not have at the ledger version', () => {
    expect(decideBackfill(record(), 0, target())).toBe('send');
    expect(decideBackfill(record(), 3, target())).toBe('send');
  });

  it('skips a user whose watermark is at or above the ledger version, unless told the target lost it', () => {
    expect(decideBackfill(record(), 4, target())).toBe('in_sync');
    expect(decideBackfill(record(), 9, target())).toBe('in_sync');
    expect(decideBackfill(record(), 4, target(), true)).toBe('send');
  });

  it('sends deleted users as deletes only to targets that keep tombstones or ask for deletes', () => {
    expect(decideBackfill(gone, 0, target())).toBe('delete_skipped');
    expect(decideBackfill(gone, 0, redisTarget())).toBe('send_delete');
    expect(decideBackfill(gone, 0, target({ events: ['user.created', 'user.deleted'] }))).toBe('send_delete');
    expect(decideBackfill(gone, 4, redisTarget())).toBe('in_sync');
    expect(sendsDeletes(target())).toBe(false);
    expect(sendsDeletes(redisTarget())).toBe(true);
  });

  it('leaves out users whose latest event type the target does not take', () => {
    expect(decideBackfill(record(), 0, target({ events: ['user.created'] }))).toBe('filtered');
    expect(decideBackfill(gone, 0, target({ events: ['user.created', 'user.updated'] }))).toBe('filtered');
  });

  it('counts an unreadable ledger entry, never sends it', () => {
    expect(decideBackfill(undefined, 0, target())).toBe('unreadable');
    expect(decideBackfill({ foreign: 'a string that is not a ledger entry' }, 0, target())).toBe(
      'unreadable',
    );
  });

  it('counts each kind of skip', () => {
    const counts = emptyCounts();
    for (const d of ['in_sync', 'in_sync', 'filtered', 'delete_skipped', 'unreadable'] as const)
      countSkip(counts, d);
    expect(counts).toEqual({ ...emptyCounts(), inSync: 2, filtered: 1, deletesSkipped: 1, unreadable: 1 });
  });
});

describe('pace', () => {
  it("takes the rate asked for, else the target's rateLimit, else none", () => {
    expect(backfillRate(target(), 50)).toBe(50);
    expect(backfillRate(target({ rateLimit: { max: 100, duration: '10s' } }))).toBe(10);
    expect(backfillRate(target({ rateLimit: { max: 100, duration: '10s' } }), 3)).toBe(3);
    expect(backfillRate(target())).toBeUndefined();
  });

  it('keeps a quarter of queueSize as the backlog bound by default', () => {
    expect(defaultMaxBacklog({ queueSize: 10_000 })).toBe(2_500);
    expect(defaultMaxBacklog({ queueSize: 2 })).toBe(1);
  });

  it('reads chunks that fit under the bound and, paced, about a second of work', () => {
    expect(chunkUsers(500, 2_500, undefined)).toBe(500);
    expect(chunkUsers(500, 100, undefined)).toBe(100);
    expect(chunkUsers(500, 2_500, 20)).toBe(20);
    expect(chunkUsers(500, 2_500, 0.5)).toBe(1);
  });

  it('waits so that what was sent keeps to the rate', () => {
    expect(paceDelayMs(100, undefined, 0, 0)).toBe(0);
    expect(paceDelayMs(100, 50, 0, 1_000)).toBe(1_000);
    expect(paceDelayMs(100, 50, 0, 2_500)).toBe(0);
    expect(paceDelayMs(0, 50, 0, 0)).toBe(0);
  });

  it('estimates the rate of this session and the time left', () => {
    expect(estimate({ total: 1_000, done: 600, doneAtStart: 400, elapsedMs: 2_000 })).toEqual({
      ratePerSecond: 100,
      etaSeconds: 4,
    });
    expect(estimate({ total: 1_000, done: 400, doneAtStart: 400, elapsedMs: 0 })).toEqual({
      ratePerSecond: 0,
      etaSeconds: undefined,
    });
    expect(estimate({ total: 10, done: 12, doneAtStart: 0, elapsedMs: 1_000 }).etaSeconds).toBe(0);
  });
});
