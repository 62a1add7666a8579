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
 * A delivery job's data as a worker reads it. It names its target by `service` only: the URL,
 * method, headers and secrets always come from the worker's own configuration, never from job
 * data.
 */
export interface DeliveryJobData {
  /**
   * The format it was stored in: 1, every field in the job's data; 2 (compact, what user-sync
   * writes), the event id, the target and the type are the job's id, queue and name.
   */
  v: 1 | 2;
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

/**
 * A delivery job's data as user-sync stores it (format 2): what the job's id (`<eventId>.<target>`),
 * queue and name (the event type) do not already say. A queued delivery is one BullMQ hash; every
 * byte of its data is kept once per target until it is delivered.
 */
export type StoredDeliveryData = Omit<DeliveryJobData, 'v' | 'eventId' | 'service' | 'type'> & { v: 2 };

/** The stored form of a delivery's data. */
export function storedDeliveryData(data: Omit<DeliveryJobData, 'v'> & { v?: unknown }): StoredDeliveryData {
  const { v: _format, eventId: _id, service: _target, type: _type, ...rest } = data;
  return { v: 2, ...rest };
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
  v: z.union([z.literal(1), z.literal(2)]),
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

/** What of a BullMQ job a delivery is read from. */
export interface DeliveryJobLike {
  id?: string | undefined;
  name: string;
  data: unknown;
}

/**
 * Reads a delivery job of the queue of `expectedService`: its data in either format, checked,
 * under its deterministic id (`<eventId>.<service>`). Returns the data, or a one-line reason
 * why it cannot be delivered.
 */
export function parseDeliveryJob(
  job: DeliveryJobLike,
  expectedService: string,
): { ok: true; data: DeliveryJobData } | { ok: false; reason: string } {
  const jobId = job.id ?? '';
  const suffix = `.${expectedService}`;
  let data = job.data;
  if (typeof data === 'object' && data !== null && (data as { v?: unknown }).v === 2) {
    // Compact: the event id, the target and the type are the job's.
    if (!jobId.endsWith(suffix))
      return { ok: false, reason: `malformed job: id "${jobId}" is not "<eventId>${suffix}"` };
    const own = ['eventId', 'service', 'type'].find((field) => field in (data as object));
    if (own)
      return {
        ok: false,
        reason: `malformed job data: ${own}: format 2 takes it from the job, not its data`,
      };
    data = { ...data, eventId: jobId.slice(0, -suffix.length), service: expectedService, type: job.name };
  }
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
  const expected = `${parsed.data.eventId}${suffix}`;
  if (jobId !== expected) {
    return { ok: false, reason: `malformed job: id "${jobId}" is not "<eventId>.<service>" (${expected})` };
  }
  return { ok: true, data: parsed.data };
}

/** What can be told of a delivery job, well formed or not (for dead letters and lookups). */
export interface JobFacts {
  eventId?: string;
  type?: string;
  userId?: string | number;
  version?: number;
  repair?: boolean;
}

/**
 * The facts a job's data (either format) and id give, each only if it has the right type: for
 * describing jobs that may be malformed, never for deciding a delivery (that is parseDeliveryJob).
 */
export function jobFacts(job: DeliveryJobLike, target: string): JobFacts {
  const data = (typeof job.data === 'object' && job.data !== null ? job.data : {}) as Record<string, unknown>;
  const pick = <T>(key: string, type: string): T | undefined =>
    typeof data[key] === type ? (data[key] as T) : undefined;
  const jobId = job.id ?? '';
  const suffix = `.${target}`;
  // Compact job data (format 2) leaves the event id and type to the job's id and name.
  const eventId =
    pick<string>('eventId', 'string') ??
    (jobId.endsWith(suffix) ? jobId.slice(0, -suffix.length) : undefined);
  const type = pick<string>('type', 'string') ?? (data.v === 2 ? job.name : undefined);
  const userId = pick<string>('userId', 'string') ?? pick<number>('userId', 'number');
  const version = pick<number>('version', 'number');
  return {
    ...(eventId !== undefined ? { eventId } : {}),
    ...(type !== undefined ? { type } : {}),
    ...(userId !== undefined ? { userId } : {}),
    ...(version !== undefined ? { version } : {}),
    ...(data.repair === true ? { repair: true } : {}),
  };
}
