/** The pure parts of a user lookup: the id it accepts, what a snapshot shows, what a watermark says. */
import { describe, expect, it } from '@jest/globals';
import { parseConfig } from '../../src/config/parse.js';
import type { TargetConfig } from '../../src/config/schema.js';
import { userIdNeedles } from '../../src/jobs/user-jobs-script.js';
import { REDACTED, maskValue, summarizeSnapshot } from '../../src/ops/snapshot-summary.js';
import { parseUserId, watermarkSync } from '../../src/ops/user-lookup.js';

const target = (extra: Record<string, unknown> = {}): TargetConfig =>
  parseConfig({ targets: [{ service: 't', kind: 'handler', ...extra }] }).targets[0] as TargetConfig;

describe('parseUserId', () => {
  it.each(['42', 'user_1', 'A-b_9', 'x'.repeat(128)])('accepts %s', (id) => {
    expect(parseUserId(id)).toBe(id);
  });

  it.each([
    ['empty', ''],
    ['too long', 'x'.repeat(129)],
    ['a glob', 'a*'],
    ['a glob alone', '*'],
    ['a character class', 'user[0-9]'],
    ['a question mark', 'user?'],
    ['a path', '../../etc/passwd'],
    ['a slash', 'a/b'],
    ['a hash tag', '{user-sync}'],
    ['a colon (key separator)', 'a:b'],
    ['a space', 'a b'],
    ['a NUL', 'a\u0000b'],
    ['a line feed', 'a\nb'],
    ['unicode letters', 'jürgen'],
    ['an emoji', 'user😀'],
    ['a fullwidth digit', '４２'],
    ['a quote (would break a needle)', 'a"b'],
    ['a JSON fragment', '1,"x":2'],
    ['a number', 42],
    ['undefined', undefined],
  ])('refuses %s, naming id', (_what, id) => {
    expect(() => parseUserId(id)).toThrow(/^id: must be 1-128 letters, digits/);
  });
});

describe('userIdNeedles', () => {
  it('matches the id as a JSON string or a whole JSON number, not a longer number', () => {
    const needles = userIdNeedles('7');
    const holds = (json: string) => needles.some((n) => json.includes(n));
    expect(holds(JSON.stringify({ v: 1, userId: 7, user: { id: 7 } }))).toBe(true);
    expect(holds(JSON.stringify({ v: 1, userId: '7' }))).toBe(true);
    expect(holds(JSON.stringify({ userId: 7 }))).toBe(true);
    expect(holds(JSON.stringify({ v: 1, userId: 77, user: { id: 77 } }))).toBe(false);
    expect(holds(JSON.stringify({ v: 1, userId: '77' }))).toBe(false);
    expect(holds(JSON.stringify({ v: 1, userId: 17 }))).toBe(false);
  });
});

describe('summarizeSnapshot', () => {
  const snapshot = JSON.stringify({
    id: 42,
    username: 'ada',
    email: 'ada.lovelace@example.com',
    phone: '+44 20 7946 0958',
    first_name: 'Ada',
    last_name: 'Lovelace',
    address: { street: '12 St James Sq', city: 'London' },
    birthday: '1815-12-10',
    age: 36,
    status: 'active',
    role: 'admin',
    roles: ['admin', 'billing'],
    updated_at: '2025-09-19T21:51:28Z',
  });

  it('masks every personal value and keeps the non-personal ones', () => {
    const summary = summarizeSnapshot(snapshot, false);
    expect(summary.redacted).toBe(true);
    expect(summary.fields).toEqual(Object.keys(JSON.parse(snapshot) as object));
    expect(summary.values).toEqual({
      id: 42,
      username: REDACTED,
      email: 'a***@example.com',
      phone: '***58',
      first_name: REDACTED,
      last_name: REDACTED,
      address: REDACTED,
      birthday: REDACTED,
      age: REDACTED,
      status: 'active',
      role: 'admin',
      roles: ['admin', 'billing'],
      updated_at: '2025-09-19T21:51:28Z',
    });
    const shown = JSON.stringify(summary);
    for (const secret of ['lovelace', 'Lovelace', '7946', 'James', 'London', '1815', 'ada@', '"ada"'])
      expect(shown).not.toContain(secret);
  });

  it('shows the values as they are when revealed', () => {
    const summary = summarizeSnapshot(snapshot, true);
    expect(summary.redacted).toBe(false);
    expect(summary.values).toEqual(JSON.parse(snapshot));
  });

  it('masks an allow-listed field that holds something other than a plain value', () => {
    const summary = summarizeSnapshot(
      JSON.stringify({ id: 1, status: { note: 'call ada@example.com' }, role: 'x'.repeat(200) }),
      false,
    );
    expect(summary.values).toEqual({ id: 1, status: REDACTED, role: REDACTED });
  });

  it('shows nothing of a snapshot that is not a JSON object', () => {
    for (const raw of [undefined, '', 'not json', '[1,2]', '"ada@example.com"', 'null'])
      expect(summarizeSnapshot(raw, false)).toEqual({ fields: [], values: {}, redacted: true });
  });

  it('lists at most 200 fields and counts the rest', () => {
    const big = Object.fromEntries(Array.from({ length: 250 }, (_, i) => [`f${i}`, i]));
    const summary = summarizeSnapshot(JSON.stringify(big), false);
    expect(summary.fields).toHaveLength(200);
    expect(summary.moreFields).toBe(50);
  });

  it('masks values by their shape', () => {
    expect(maskValue('b@x.org')).toBe('b***@x.org');
    expect(maskValue('+1 (555) 010-9999', 'mobile_phone')).toBe('***99');
    expect(maskValue('+1 (555) 010-9999', 'note')).toBe(REDACTED);
    expect(maskValue('123', 'phone')).toBe(REDACTED);
    expect(maskValue('Ada')).toBe(REDACTED);
    expect(maskValue(12)).toBe(REDACTED);
    expect(maskValue(null)).toBe(REDACTED);
  });
});

describe('watermarkSync', () => {
  const live = { version: 5, deleted: false, type: 'user.updated' };
  const deleted = { version: 5, deleted: true, type: 'user.deleted' };

  it('says in_sync, stale or missing for a live user', () => {
    expect(watermarkSync(live, 5, target())).toBe('in_sync');
    expect(watermarkSync(live, 7, target())).toBe('in_sync');
    expect(watermarkSync(live, 4, target())).toBe('stale');
    expect(watermarkSync(live, 0, target())).toBe('missing');
  });

  it('for a deleted user, in sync means the target holds nothing: delete delivered, or nothing ever sent', () => {
    expect(watermarkSync(deleted, 5, target())).toBe('in_sync');
    expect(watermarkSync(deleted, 0, target())).toBe('in_sync');
    expect(watermarkSync(deleted, 3, target())).toBe('extra');
  });

  it('says filtered when the target does not take the latest event type', () => {
    expect(watermarkSync(deleted, 3, target({ events: ['user.created', 'user.updated'] }))).toBe('filtered');
    expect(watermarkSync(live, 0, target({ events: ['user.deleted'] }))).toBe('filtered');
    // A status change is the latest event's own type; a target that takes it is compared.
    expect(
      watermarkSync({ ...live, type: 'user.status_changed' }, 0, target({ events: ['user.status_changed'] })),
    ).toBe('missing');
  });
});
