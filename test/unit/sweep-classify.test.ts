import { describe, expect, it } from '@jest/globals';
import {
  classify,
  emptyFigures,
  repairEventId,
  repairType,
  SWEEP_CLASSES,
} from '../../src/sweep/classify.js';
import { jobData, parseJobData } from '../helpers/fixtures.js';

describe('classify', () => {
  const live = { version: 5, deleted: false, type: 'user.updated' };
  const gone = { version: 5, deleted: true, type: 'user.deleted' };

  it.each([
    [live, null, 'missing'],
    [live, 4, 'stale'],
    [live, 0, 'stale'],
    [live, 5, 'in_sync'],
    [live, 9, 'in_sync'],
    [gone, null, 'in_sync'],
    [gone, 5, 'extra'],
    [gone, 1, 'extra'],
  ] as const)('ledger %j, target holds %p: %s', (ledger, held, expected) => {
    expect(classify(ledger, held)).toBe(expected);
  });
});

describe('repairType', () => {
  it.each([
    [{ version: 1, deleted: true, type: 'user.updated' }, 'user.deleted'],
    [{ version: 1, deleted: false, type: 'user.status_changed' }, 'user.status_changed'],
    [{ version: 1, deleted: false, type: 'user.deleted' }, 'user.created'],
    [{ version: 1, deleted: false, type: '' }, 'user.created'],
  ])('%j repairs with %s', (ledger, type) => {
    expect(repairType(ledger)).toBe(type);
  });
});

describe('repairEventId', () => {
  it('names the version and the user when that fits', () => {
    expect(repairEventId('42', 7)).toBe('repair-v7-42');
  });

  it.each([100, 115, 116, 127, 128])('stays a valid event id for a user id of %i characters', (length) => {
    const userId = 'a'.repeat(length);
    const eventId = repairEventId(userId, 9_007_199_254_740_991);
    expect(eventId.length).toBeLessThanOrEqual(128);
    expect(parseJobData(jobData({ eventId, userId, user: { id: userId } }), 'orders')).toMatchObject({
      ok: true,
    });
    // Deterministic: the same drift found twice is one job; different users never collide.
    expect(repairEventId(userId, 9_007_199_254_740_991)).toBe(eventId);
    expect(repairEventId(`${userId.slice(1)}b`, 9_007_199_254_740_991)).not.toBe(eventId);
  });
});

describe('emptyFigures', () => {
  it('has every class at zero and no repairs', () => {
    const figures = emptyFigures();
    for (const cls of SWEEP_CLASSES) expect(figures[cls]).toBe(0);
    expect(figures.repairs).toBe(0);
  });
});
