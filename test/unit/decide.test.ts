import { describe, expect, it } from '@jest/globals';
import { EVENT_TYPES, type EventType } from '../../src/events.js';
import type { LedgerEntry } from '../../src/jobs/delivery-steps.js';
import { decideDelivery, ledgerObjection, type DecisionInput } from '../../src/workers/decide.js';
import { FIXTURE_EVENT_ID, jobData, ledgerEntry } from '../helpers/fixtures.js';

const JOB_ID = `${FIXTURE_EVENT_ID}.orders`;
const all = () => true;
/** The ledger as the job's own publish left it: version 7 under the job's event id. */
const own = (overrides: Partial<LedgerEntry> = {}) =>
  ledgerEntry({ version: 7, eventId: FIXTURE_EVENT_ID, snapshot: undefined, ...overrides });

function input(overrides: Partial<DecisionInput> = {}): DecisionInput {
  return {
    data: jobData(),
    jobId: JOB_ID,
    attempt: 1,
    watermark: 0,
    ledger: own(),
    coalesce: true,
    accepts: all,
    ...overrides,
  };
}

describe('decideDelivery', () => {
  describe('the ledger vouches for the job first', () => {
    it('a user the ledger does not know is not sent', () => {
      expect(decideDelivery(input({ ledger: undefined }))).toEqual({
        action: 'not-in-ledger',
        why: 'the ledger holds no version of user "1"',
      });
    });

    it.each([8, 1_000_000])('a version above the ledger (job 7, forged as %i) is not sent', (version) => {
      const data = jobData({ version });
      expect(decideDelivery(input({ data }))).toEqual({
        action: 'not-in-ledger',
        why: `version ${version} is above the ledger's 7 for user "1"`,
      });
      // Not even as a repair, and whatever the watermark.
      expect(decideDelivery(input({ data: { ...data, repair: true }, watermark: 10 ** 9 })).action).toBe(
        'not-in-ledger',
      );
    });

    it("another event under the ledger's own version is not sent", () => {
      const decision = decideDelivery(input({ data: jobData({ eventId: 'forged-1' }) }));
      expect(decision).toEqual({
        action: 'not-in-ledger',
        why: `version 7 of user "1" was published as event ${FIXTURE_EVENT_ID}, not forged-1`,
      });
    });

    it('a repair under the ledger version carries its own id and is vouched for', () => {
      const data = jobData({ eventId: 'repair-v7-1', repair: true });
      expect(ledgerObjection(data, own())).toBeUndefined();
    });

    it('an older event than the ledger is vouched for (the ledger keeps only the latest)', () => {
      expect(ledgerObjection(jobData({ version: 3, eventId: 'older' }), own())).toBeUndefined();
    });
  });

  describe('the watermark', () => {
    it.each([
      ['below', 8],
      ['equal to', 7],
    ])('a delivery %s the watermark is superseded', (_how, watermark) => {
      for (const ledger of [own(), ledgerEntry(), ledgerEntry({ deleted: true })]) {
        expect(decideDelivery(input({ watermark, ledger }))).toEqual({ action: 'superseded', watermark });
      }
    });

    it.each([0, 6])('a delivery above the watermark (%i) is sent', (watermark) => {
      expect(decideDelivery(input({ watermark })).action).toBe('send-event');
    });

    it.each([7, 8, 1_000])('a repair is sent even at or below the watermark (%i)', (watermark) => {
      const data = jobData({ eventId: 'repair-v7-1', repair: true });
      expect(
        decideDelivery(input({ data, watermark, ledger: own({ snapshot: '{"id":1,"v":7}' }) })).action,
      ).toBe('send-ledger');
      expect(decideDelivery(input({ data, watermark, ledger: ledgerEntry() })).action).toBe('send-ledger');
    });
  });

  describe('what is sent', () => {
    it('the event itself when the ledger holds its own version', () => {
      const decision = decideDelivery(input({ attempt: 3 }));
      expect(decision).toEqual({
        action: 'send-event',
        task: { ...jobData(), taskId: JOB_ID, attempt: 3, coalesced: false },
      });
    });

    it('the ledger snapshot, its type and version, under the job own ids, when the ledger is newer', () => {
      const ledger = ledgerEntry({ version: 12, type: 'user.status_changed' });
      const decision = decideDelivery(input({ ledger, attempt: 2 }));
      expect(decision.action).toBe('send-ledger');
      if (decision.action !== 'send-ledger') return;
      expect(decision.task).toMatchObject({
        type: 'user.status_changed',
        version: 12,
        user: JSON.parse(ledger.snapshot as string) as unknown,
        eventId: FIXTURE_EVENT_ID,
        taskId: JOB_ID,
        attempt: 2,
        coalesced: true,
      });
      expect(decision.task).not.toHaveProperty('changes');
    });

    it('the event itself when the target does not coalesce, however new the ledger', () => {
      expect(decideDelivery(input({ ledger: ledgerEntry({ version: 12 }), coalesce: false })).action).toBe(
        'send-event',
      );
    });

    it("a repair always sends the ledger's snapshot, never the job's own (which anyone could write)", () => {
      const forged = jobData({
        eventId: 'repair-v7-1',
        repair: true,
        user: { id: 1, email: 'attacker@example.com' },
      });
      const ledger = own({ snapshot: JSON.stringify({ id: 1, email: 'real@example.com' }) });
      const decision = decideDelivery(input({ data: forged, ledger, coalesce: false }));
      expect(decision.action === 'send-ledger' && decision.task.user).toEqual({
        id: 1,
        email: 'real@example.com',
      });
    });

    it('a delete when the newer ledger entry is deleted', () => {
      const decision = decideDelivery(
        input({ ledger: ledgerEntry({ deleted: true, type: 'user.updated' }) }),
      );
      expect(decision.action === 'send-ledger' && decision.task.type).toBe('user.deleted');
    });

    it("the event itself when the target's filter does not take the ledger's latest type", () => {
      for (const type of EVENT_TYPES) {
        const accepts = (t: EventType) => t !== type;
        const ledger: LedgerEntry = ledgerEntry({ type, deleted: type === 'user.deleted' });
        expect(decideDelivery(input({ ledger, accepts })).action).toBe('send-event');
        expect(decideDelivery(input({ ledger, accepts: all })).action).toBe('send-ledger');
      }
    });

    it.each(['{broken', '[1]', 'null', '{"id":2}', '{"name":"no id"}'])(
      'the event itself when the ledger snapshot %s is not this user',
      (snapshot) => {
        expect(decideDelivery(input({ ledger: ledgerEntry({ snapshot }) })).action).toBe('send-event');
      },
    );

    it.each(['', 'user.renamed'])('the event itself when the ledger type %j is unknown', (type) => {
      expect(decideDelivery(input({ ledger: ledgerEntry({ type }) })).action).toBe('send-event');
    });
  });

  it('covers every combination of ledger, watermark, repair and coalescing with one action', () => {
    const ledgers = [undefined, own(), ledgerEntry({ version: 5 }), ledgerEntry({ version: 9 })];
    for (const ledger of ledgers)
      for (const watermark of [0, 6, 7, 8])
        for (const repair of [false, true])
          for (const coalesce of [false, true]) {
            const data = jobData(repair ? { repair: true, eventId: 'repair-v7-1' } : {});
            const decision = decideDelivery(input({ data, watermark, ledger, coalesce }));
            const expected =
              !ledger || data.version > ledger.version
                ? 'not-in-ledger'
                : data.version <= watermark && !repair
                  ? 'superseded'
                  : (coalesce && ledger.version > data.version) || (repair && ledger.version >= data.version)
                    ? ledger.snapshot === undefined
                      ? 'send-event'
                      : 'send-ledger'
                    : 'send-event';
            expect({ ledger: ledger?.version, watermark, repair, coalesce, action: decision.action }).toEqual(
              {
                ledger: ledger?.version,
                watermark,
                repair,
                coalesce,
                action: expected,
              },
            );
          }
  });

  describe('a job that keeps its snapshot in the ledger (format 3)', () => {
    const { user: _user, timestamp: _timestamp, ...rest } = jobData();
    const byReference = { ...rest, v: 3 as const };
    const snapshot = { id: 1, username: 'testuser', email: 'ledger@example.com' };
    const head = (overrides: Partial<LedgerEntry> = {}) =>
      own({ snapshot: JSON.stringify(snapshot), timestamp: '2025-09-19T22:00:00.000Z', ...overrides });

    it("sends the ledger's snapshot and timestamp as its own while its event is the latest", () => {
      for (const coalesce of [true, false]) {
        expect(decideDelivery(input({ data: byReference, ledger: head(), coalesce, attempt: 2 }))).toEqual({
          action: 'send-event',
          task: {
            ...byReference,
            user: snapshot,
            timestamp: '2025-09-19T22:00:00.000Z',
            taskId: JOB_ID,
            attempt: 2,
            coalesced: false,
          },
        });
      }
    });

    it.each([
      ['not JSON', '{broken', /is not one a publish would take/],
      ['not an object', '[1]', /is not one a publish would take/],
      ['without an id', '{"name":"x"}', /user\.id/],
      [
        'reaching for a prototype',
        '{"id":1,"__proto__":{"admin":true}}',
        /user\.__proto__: is not an allowed key/,
      ],
      ['with control characters', '{"id":1,"name":"a\\u0000b"}', /user\.name/],
      ["another user's", '{"id":2}', /is another user's/],
    ])(
      'dead-letters it (not in the ledger) when the ledger snapshot is %s: nothing else could be sent',
      (_what, bad, why) => {
        const decision = decideDelivery(input({ data: byReference, ledger: head({ snapshot: bad }) }));
        expect(decision.action).toBe('not-in-ledger');
        if (decision.action === 'not-in-ledger') expect(decision.why).toMatch(why);
      },
    );

    it("sends the ledger's latest in its place when its event left the ledger without it, coalescing or not", () => {
      const ledger = ledgerEntry({
        version: 12,
        type: 'user.status_changed',
        snapshot: JSON.stringify(snapshot),
      });
      for (const coalesce of [true, false]) {
        const decision = decideDelivery(input({ data: byReference, ledger, coalesce }));
        expect(decision.action).toBe('send-ledger');
        if (decision.action === 'send-ledger')
          expect(decision.task).toMatchObject({
            version: 12,
            type: 'user.status_changed',
            user: snapshot,
            coalesced: true,
          });
      }
    });

    it('completes it as superseded when that latest is of a type the target does not take', () => {
      const ledger = ledgerEntry({
        version: 12,
        type: 'user.status_changed',
        snapshot: JSON.stringify(snapshot),
      });
      const accepts = (type: EventType) => type !== 'user.status_changed';
      expect(decideDelivery(input({ data: byReference, ledger, accepts, watermark: 3 }))).toEqual({
        action: 'superseded',
        watermark: 3,
      });
    });

    it('is vouched for by the ledger like any job: another event under its version is not sent', () => {
      const decision = decideDelivery(
        input({ data: { ...byReference, eventId: 'forged-1' }, ledger: head() }),
      );
      expect(decision.action).toBe('not-in-ledger');
    });
  });
});
