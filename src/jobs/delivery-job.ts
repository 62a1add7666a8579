import { z } from 'zod';
import { EVENT_TYPES, type EventType, type UserId, type UserSnapshot } from '../events.js';
import {
  ID_MESSAGE,
  ID_RE,
  changesSchema,
  snapshotSchema,
  sourceSchema,
  timestampSchema,
  userIdSchema,
  versionSchema,
} from './event-fields.js';

/**
 * What a delivery job holds. It names its target by `service` only: the URL, method, headers
 * and secrets always come from the worker's own configuration, never from job data.
 */
export interface DeliveryJobData {
  /** Job data format version. */
  v: 1;
  eventId: string;
  service: string;
  type: EventType;
  userId: UserId;
  version: number;
  user: UserSnapshot;
  changes?: Record<string, unknown>;
  timestamp: string;
  source: string;
  /** Set on deliveries enqueued by the consistency sweep. */
  repair?: boolean;
}

/** One delivery as an executor sees it. */
export interface DeliveryTask extends DeliveryJobData {
  /** `<eventId>.<service>`: the job id, `task_id` and `webhook-id`. */
  taskId: string;
  /** 1 for the first attempt. */
  attempt: number;
  /** True when the ledger held a newer snapshot than the event and that one is being sent. */
  coalesced: boolean;
}

/**
 * Checks job data written by anything (another version, a person, a bug) before it is trusted:
 * the same field rules as a publish (src/jobs/event-fields.ts), but for the publisher's own
 * choices (its status list, its clock).
 */
export const deliveryJobDataSchema = z.object({
  v: z.literal(1),
  eventId: z.string().regex(ID_RE, ID_MESSAGE),
  service: z.string().min(1),
  type: z.enum(EVENT_TYPES as [EventType, ...EventType[]]),
  userId: userIdSchema,
  version: versionSchema,
  user: snapshotSchema,
  changes: changesSchema.optional(),
  timestamp: timestampSchema,
  source: sourceSchema,
  repair: z.boolean().optional(),
});

/** Returns the job data, or a one-line reason why it cannot be delivered. */
export function parseDeliveryJobData(
  data: unknown,
  expectedService: string,
): { ok: true; data: DeliveryJobData } | { ok: false; reason: string } {
  const parsed = deliveryJobDataSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? issue.path.join('.') : '(data)';
    return { ok: false, reason: `malformed job data: ${where}: ${issue?.message ?? 'invalid'}` };
  }
  if (parsed.data.service !== expectedService) {
    return {
      ok: false,
      reason: `malformed job data: service: names "${parsed.data.service}" but sits in the queue of "${expectedService}"`,
    };
  }
  if (String(parsed.data.user.id) !== String(parsed.data.userId)) {
    return { ok: false, reason: 'malformed job data: user.id: differs from userId' };
  }
  return { ok: true, data: parsed.data };
}
