/**
 * What one attempt of a delivery does, decided before anything is sent: a pure function of the
 * job, the target's watermark and the ledger's entry for the user. Every branch is covered by
 * unit tests without Redis (test/unit/decide.test.ts).
 */
import { EventType, isEventType, type UserSnapshot } from '../events.js';
import type { DeliveryJobData, DeliveryJobRead, DeliveryTask } from '../jobs/delivery-job.js';
import { firstIssue } from '../errors.js';
import { snapshotSchema } from '../jobs/event-fields.js';
import type { LedgerEntry } from '../jobs/delivery-steps.js';
import { withFields } from '../with-fields.js';

/** What an attempt does. */
export type DeliveryDecision =
  /**
   * The ledger, the record of what was published, does not vouch for this job (a version above
   * its own, another event under its version, a user it does not know): never sent, never
   * raising a watermark; dead-lettered as `not_in_ledger`.
   */
  | { action: 'not-in-ledger'; why: string }
  /** The target already got this version or a newer one: complete without calling it. */
  | { action: 'superseded'; watermark: number }
  /** Send the event the job holds. */
  | { action: 'send-event'; task: DeliveryTask }
  /** Send the ledger's snapshot in its place (coalescing, repairs). */
  | { action: 'send-ledger'; task: DeliveryTask };

export interface DecisionInput {
  /** The job's data; without a snapshot (format 3), the ledger's is the event's own. */
  data: DeliveryJobRead;
  /** The job id: `<eventId>.<target>`, the task id. */
  jobId: string;
  /** 1 for the first attempt. */
  attempt: number;
  /** The highest version the target has been sent for this user (0 for none). */
  watermark: number;
  /**
   * The ledger's entry for the user (its snapshot when it may be sent); undefined when it holds
   * none; 'foreign' when its key holds something user-sync did not write.
   */
  ledger: LedgerEntry | 'foreign' | undefined;
  /** Whether the target takes the ledger's newer snapshot in place of an older event (`coalesce`). */
  coalesce: boolean;
  /** Whether the target takes events of this type (its `events` filter). */
  accepts: (type: EventType) => boolean;
}

/** Why the ledger does not vouch for a job, or undefined when it does. */
export function ledgerObjection(
  data: DeliveryJobRead,
  ledger: LedgerEntry | 'foreign' | undefined,
): string | undefined {
  const user = JSON.stringify(String(data.userId));
  if (!ledger) return `the ledger holds no version of user ${user}`;
  if (ledger === 'foreign')
    return `the ledger key of user ${user} holds something user-sync did not write: no version can be trusted`;
  if (data.version > ledger.version)
    return `version ${data.version} is above the ledger's ${ledger.version} for user ${user}`;
  if (data.version === ledger.version && !data.repair && data.eventId !== ledger.eventId)
    return `version ${data.version} of user ${user} was published as event ${ledger.eventId}, not ${data.eventId}`;
  return undefined;
}

/**
 * Decides an attempt. First the ledger must vouch for the job. Then a delivery not above the
 * watermark is superseded — unless it is a repair, sent because the target lost what the
 * watermark says it got. Otherwise the ledger's snapshot is sent when it is newer and the target
 * coalesces (or, for a repair, whenever it is at least the repair's version), as long as the
 * target takes its type; else the event itself.
 */
export function decideDelivery(input: DecisionInput): DeliveryDecision {
  const { data, watermark, ledger } = input;
  const why = ledgerObjection(data, ledger);
  if (why || ledger === 'foreign' || ledger === undefined) return { action: 'not-in-ledger', why: why ?? '' };
  if (data.version <= watermark && !data.repair) return { action: 'superseded', watermark };
  if (!holdsSnapshot(data)) return fromLedger(input, data, ledger);
  const task = buildTask(taskInput(input, data, ledger));
  return { action: task.coalesced ? 'send-ledger' : 'send-event', task };
}

/**
 * A job that keeps its snapshot in the ledger (format 3). While its event is the ledger's
 * latest, the ledger's snapshot and timestamp are its own. A newer event made its jobs format 2
 * when it replaced it in the ledger; one left behind (a target list changed between the two
 * publishes, a dead letter queued again from its record) has lost its snapshot, and the ledger's
 * latest is sent in its place, as a coalescing target gets it — or nothing, when the target
 * does not take the latest event's type (its own delivery of that event already was, or will be,
 * decided by that event's job).
 */
function fromLedger(input: DecisionInput, data: DeliveryJobRead, ledger: LedgerEntry): DeliveryDecision {
  const user = ledgerSnapshot(ledger, data.userId);
  if (typeof user === 'string') return { action: 'not-in-ledger', why: user };
  const { timestamp } = ledger;
  if (ledger.version === data.version) {
    const task = withFields(data, {
      user,
      timestamp,
      taskId: input.jobId,
      attempt: input.attempt,
      coalesced: false,
    });
    return { action: 'send-event', task };
  }
  const task = buildTask(taskInput(input, withFields(data, { user, timestamp }), ledger, true));
  if (!task.coalesced) return { action: 'superseded', watermark: input.watermark };
  return { action: 'send-ledger', task };
}

/**
 * The ledger's snapshot as it may be sent, checked as a published snapshot is (it is read from
 * Redis: anything could have written it) and for being this user's; or why it may not be.
 */
export function ledgerSnapshot(
  ledger: LedgerEntry,
  userId: DeliveryJobData['userId'],
): UserSnapshot | string {
  const user = JSON.stringify(String(userId));
  const parsed = snapshotSchema.safeParse(parseJson(ledger.snapshot));
  if (!parsed.success) {
    const { path, message } = firstIssue(parsed.error);
    return `the ledger's snapshot of user ${user} is not one a publish would take: ${path ? `user.${path}` : 'user'}: ${message}`;
  }
  if (String(parsed.data.id) !== String(userId))
    return `the ledger's snapshot of user ${user} is another user's`;
  return parsed.data;
}

/**
 * The task an executor sees: the event itself, or the ledger's snapshot when it is to be sent
 * (newer and coalescing; at least as new for a repair) and really is this user's.
 */
export function buildTask(
  input: Pick<DecisionInput, 'jobId' | 'attempt'> &
    Partial<Pick<DecisionInput, 'accepts' | 'coalesce'>> & {
      data: DeliveryJobData;
      ledger?: LedgerEntry | undefined;
    },
): DeliveryTask {
  const { data, jobId, attempt, ledger } = input;
  const accepts = input.accepts ?? (() => true);
  const coalesce = input.coalesce ?? true;
  const latestType = ledger?.deleted ? EventType.UserDeleted : ledger?.type;
  const wanted =
    ledger !== undefined &&
    ((coalesce && ledger.version > data.version) || (data.repair === true && ledger.version >= data.version));
  // A target's event filter holds for coalesced deliveries too: a target that does not take
  // the latest event's type gets its own event, not a snapshot it did not ask for.
  if (wanted && isEventType(latestType) && accepts(latestType)) {
    const user = ledgerSnapshot(ledger, data.userId);
    // A ledger entry is used only if it is a valid snapshot and really this user's.
    if (typeof user !== 'string') {
      const { changes: _dropped, ...rest } = data;
      return withFields(rest, {
        type: latestType,
        version: ledger.version,
        user,
        taskId: jobId,
        attempt,
        coalesced: true,
      });
    }
  }
  return withFields(data, { taskId: jobId, attempt, coalesced: false });
}

/** Whether job data holds its own snapshot and timestamp (formats 1 and 2). */
function holdsSnapshot(data: DeliveryJobRead): data is DeliveryJobData {
  return data.user !== undefined && data.timestamp !== undefined;
}

/** What buildTask takes: the decision's input with the event's data whole (with a snapshot). */
function taskInput(
  input: DecisionInput,
  data: DeliveryJobData,
  ledger: LedgerEntry,
  coalesce = input.coalesce,
) {
  return { jobId: input.jobId, attempt: input.attempt, accepts: input.accepts, coalesce, data, ledger };
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
