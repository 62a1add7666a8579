/**
 * What one attempt of a delivery does, decided before anything is sent: a pure function of the
 * job, the target's watermark and the ledger's entry for the user. Every branch is covered by
 * unit tests without Redis (test/unit/decide.test.ts).
 */
import { EventType, isEventType, type UserSnapshot } from '../events.js';
import type { DeliveryJobData, DeliveryTask } from '../jobs/delivery-job.js';
import type { LedgerEntry } from '../jobs/scripts.js';

/** What an attempt does. */
export type DeliveryDecision =
  /** The target already got this version or a newer one: complete without calling it. */
  | { action: 'superseded'; watermark: number }
  /** Send the event the job holds. */
  | { action: 'send-event'; task: DeliveryTask }
  /** Send the ledger's newer snapshot in its place (coalescing, repairs). */
  | { action: 'send-ledger'; task: DeliveryTask };

export interface DecisionInput {
  data: DeliveryJobData;
  /** The job id: `<eventId>.<target>`, the task id. */
  jobId: string;
  /** 1 for the first attempt. */
  attempt: number;
  /** The highest version the target has been sent for this user (0 for none). */
  watermark: number;
  /** The ledger's entry, when it holds a newer version than the job and the target coalesces. */
  ledger: LedgerEntry | undefined;
  /** Whether the target takes events of this type (its `events` filter). */
  accepts: (type: EventType) => boolean;
}

/**
 * Decides an attempt: a delivery not above the watermark is superseded — unless it is a repair,
 * sent because the target lost what the watermark says it got; otherwise the ledger's newer
 * snapshot is sent when there is one the target takes, else the event itself.
 */
export function decideDelivery(input: DecisionInput): DeliveryDecision {
  const { data, watermark } = input;
  if (data.version <= watermark && !data.repair) return { action: 'superseded', watermark };
  const task = buildTask(input);
  return { action: task.coalesced ? 'send-ledger' : 'send-event', task };
}

/** The task an executor sees: the event itself, or the ledger's newer snapshot when coalescing. */
export function buildTask(
  input: Pick<DecisionInput, 'data' | 'jobId' | 'attempt'> &
    Partial<Pick<DecisionInput, 'ledger' | 'accepts'>>,
): DeliveryTask {
  const { data, jobId, attempt, ledger } = input;
  const accepts = input.accepts ?? (() => true);
  const latestType = ledger?.deleted ? EventType.UserDeleted : ledger?.type;
  // A target's event filter holds for coalesced deliveries too: a target that does not take
  // the latest event's type gets its own event, not a snapshot it did not ask for.
  if (ledger && ledger.version > data.version && isEventType(latestType) && accepts(latestType)) {
    const user = parseSnapshot(ledger.snapshot);
    // A ledger entry is used only if it really is this user's snapshot.
    if (user && String(user.id) === String(data.userId)) {
      const { changes: _dropped, ...rest } = data;
      return {
        ...rest,
        type: latestType,
        version: ledger.version,
        user,
        taskId: jobId,
        attempt,
        coalesced: true,
      };
    }
  }
  return { ...data, taskId: jobId, attempt, coalesced: false };
}

function parseSnapshot(snapshot: string): UserSnapshot | undefined {
  let user: unknown;
  try {
    user = JSON.parse(snapshot);
  } catch {
    return undefined;
  }
  return typeof user === 'object' && user !== null && !Array.isArray(user)
    ? (user as UserSnapshot)
    : undefined;
}
