import { describe, expect, it } from '@jest/globals';
import { EVENT_TYPES, type EventType } from '../../src/events.js';
import type { LedgerEntry } from '../../src/jobs/scripts.js';
import { decideDelivery, type DecisionInput } from '../../src/workers/decide.js';
import { FIXTURE_EVENT_ID, jobData, ledgerEntry } from '../helpers/fixtures.js';

const JOB_ID = `${FIXTURE_EVENT_ID}.orders`;
const all = () => true;

function input(overrides: Partial<DecisionInput> = {}): DecisionInput {
  return {
    data: jobData(),
    jobId: JOB_ID,
    attempt: 1,
    watermark: 0,
    ledger: undefined,
    accepts: all,
    ...overrides,
  };
}

describe('decideDelivery', () => {
  describe('the watermark', () => {
    it.each([
      ['below', 8],
      ['equal to', 7],
    ])('a delivery %s the watermark is superseded, whatever the ledger holds', (_how, watermark) => {
      for (const ledger of [undefined, ledgerEntry(), ledgerEntry({ deleted: true })]) {
        expect(decideDelivery(input({ watermark, ledger }))).toEqual({ action: 'superseded', watermark });
      }
    });

    it.each([0, 6])('a delivery above the watermark (%i) is sent', (watermark) => {
      expect(decideDelivery(input({ watermark })).action).toBe('send-event');
    });

    it.each([7, 8, 1_000])('a repair is sent even at or below the watermark (%i)', (watermark) => {
      const data = jobData({ repair: true });
      expect(decideDelivery(input({ data, watermark })).action).toBe('send-event');
      expect(decideDelivery(input({ data, watermark, ledger: ledgerEntry() })).action).toBe('send-ledger');
    });
  });

  describe('what is sent', () => {
    it('the event itself when there is no newer ledger entry', () => {
      const decision = decideDelivery(input({ attempt: 3 }));
      expect(decision).toEqual({
        action: 'send-event',
        task: { ...jobData(), taskId: JOB_ID, attempt: 3, coalesced: false },
      });
    });

    it.each([1, 6, 7])('the event itself when the ledger is not newer (version %i)', (version) => {
      expect(decideDelivery(input({ ledger: ledgerEntry({ version }) })).action).toBe('send-event');
    });

    it('the ledger snapshot, its type and version, under the job own ids, when the ledger is newer', () => {
      const ledger = ledgerEntry({ version: 12, type: 'user.status_changed' });
      const decision = decideDelivery(input({ ledger, attempt: 2 }));
      expect(decision.action).toBe('send-ledger');
      if (decision.action !== 'send-ledger') return;
      expect(decision.task).toMatchObject({
        type: 'user.status_changed',
        version: 12,
        user: JSON.parse(ledger.snapshot) as unknown,
        eventId: FIXTURE_EVENT_ID,
        taskId: JOB_ID,
        attempt: 2,
        coalesced: true,
      });
      expect(decision.task).not.toHaveProperty('changes');
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

  it('covers every combination of watermark, repair and ledger with one of the three actions', () => {
    const ledgers = [undefined, ledgerEntry({ version: 5 }), ledgerEntry({ version: 9 })];
    for (const watermark of [0, 6, 7, 8])
      for (const repair of [false, true])
        for (const ledger of ledgers) {
          const data = jobData(repair ? { repair: true } : {});
          const decision = decideDelivery(input({ data, watermark, ledger }));
          const expected =
            data.version <= watermark && !repair
              ? 'superseded'
              : ledger && ledger.version > data.version
                ? 'send-ledger'
                : 'send-event';
          expect(decision.action).toBe(expected);
        }
  });
});
