import { describe, expect, it } from '@jest/globals';
import { UsageError, integer, parseJsonObject, parseSince } from '../../src/cli/common.js';
import { deadLetterFilter } from '../../src/cli/dlq.js';
import { table } from '../../src/cli/format.js';
import { parseEventType } from '../../src/cli/publish.js';
import { DemoUsers } from '../../src/demo/generator.js';
import { DEFAULT_STATUSES, validateEvent } from '../../src/producers/validation.js';

/** A deterministic random source (mulberry32). */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('CLI argument parsing', () => {
  it('parseEventType takes short and full names', () => {
    expect(parseEventType('created')).toBe('user.created');
    expect(parseEventType('status_changed')).toBe('user.status_changed');
    expect(parseEventType('status-changed')).toBe('user.status_changed');
    expect(parseEventType('user.deleted')).toBe('user.deleted');
    expect(() => parseEventType('renamed')).toThrow(
      /must be one of created, updated, deleted, status_changed/,
    );
  });

  it('parseSince takes ISO dates and durations back from now', () => {
    const now = Date.parse('2025-06-01T12:00:00Z');
    expect(parseSince('1h', now).toISOString()).toBe('2025-06-01T11:00:00.000Z');
    expect(parseSince('30m', now).toISOString()).toBe('2025-06-01T11:30:00.000Z');
    expect(parseSince('2025-05-31T00:00:00Z', now).toISOString()).toBe('2025-05-31T00:00:00.000Z');
    expect(() => parseSince('yesterday', now)).toThrow(UsageError);
    expect(() => parseSince('3600', now)).toThrow(/ISO date .* or a duration like 1h/);
  });

  it('integer bounds its value', () => {
    expect(integer(1, 10)('7')).toBe(7);
    expect(() => integer(1, 10)('0')).toThrow(/from 1 to 10/);
    expect(() => integer(1)('1.5')).toThrow(/whole number/);
  });

  it('parseJsonObject names the option', () => {
    expect(parseJsonObject('--user', '{"id":1}')).toEqual({ id: 1 });
    expect(() => parseJsonObject('--user', '{id:1}')).toThrow(/^--user: is not valid JSON/);
    expect(() => parseJsonObject('--user', '[1]')).toThrow(/^--user: must be a JSON object/);
  });

  it('deadLetterFilter keeps only the filters given', () => {
    expect(deadLetterFilter({})).toEqual({});
    const now = Date.parse('2025-06-01T12:00:00Z');
    expect(deadLetterFilter({ target: 'billing', id: ['a.billing'], since: '1h' }, now)).toEqual({
      service: 'billing',
      ids: ['a.billing'],
      since: new Date('2025-06-01T11:00:00Z'),
    });
  });

  it('table aligns columns, numbers to the right', () => {
    expect(
      table(
        ['TARGET', 'DELIVERED'],
        [
          ['orders', 1200],
          ['cache', 7],
        ],
      ),
    ).toBe('TARGET  DELIVERED\norders       1200\ncache           7');
  });
});

describe('demo users', () => {
  it('produce valid events of every type, deleting users and bringing them back', () => {
    const users = new DemoUsers(20, seeded(42));
    const types = new Map<string, number>();
    const versions = new Map<string | number, string[]>();
    for (let i = 0; i < 2_000; i++) {
      const event = users.next();
      validateEvent(event, {
        maxSnapshotBytes: 65_536,
        maxTimestampAheadMs: 86_400_000,
        statuses: DEFAULT_STATUSES,
        source: 'demo',
      });
      types.set(event.type, (types.get(event.type) ?? 0) + 1);
      versions.set(event.user.id, [...(versions.get(event.user.id) ?? []), event.type]);
    }
    expect([...types.keys()].sort()).toEqual([
      'user.created',
      'user.deleted',
      'user.status_changed',
      'user.updated',
    ]);
    expect(users.liveCount + users.deletedCount).toBe(20);
    // Every user's history starts with a create, and each delete is followed by a create if anything.
    for (const history of versions.values()) {
      expect(history[0]).toBe('user.created');
      history.forEach((type, i) => {
        if (type === 'user.deleted' && i + 1 < history.length) expect(history[i + 1]).toBe('user.created');
      });
    }
  });
});
