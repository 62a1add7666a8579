import { z } from 'zod';
import { firstIssue } from '../errors.js';
import { withFields } from '../with-fields.js';
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
 * A delivery as it is sent: the job's data with the event's snapshot and timestamp. It names its
 * target by `service` only: the URL, method, headers and secrets always come from the worker's
 * own configuration, never from job data.
 */
export interface DeliveryJobData {
  /**
   * The format its job was stored in: 1, every field in the job's data; 2, the event id, the
   * target and the type are the job's id, queue and name; 3 (what a publish writes), as 2 and
   * the snapshot and timestamp are the ledger's (see {@link referenceData}).
   */
  v: 1 | 2 | 3;
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
 * A delivery job's data as read from its job: without the snapshot and timestamp when it is in
 * format 3 (they are the ledger's).
 */
export type DeliveryJobRead = Omit<DeliveryJobData, 'user' | 'timestamp'> &
  Partial<Pick<DeliveryJobData, 'user' | 'timestamp'>>;

/**
 * A delivery job's data in format 2: what the job's id (`<eventId>.<target>`), queue and name
 * (the event type) do not already say. Self-contained: what repairs, and publishes the ledger
 * does not take (an older version), are stored as; format 3 jobs become it when their event
 * leaves the ledger (see {@link referenceData}).
 */
export type StoredDeliveryData = Omit<DeliveryJobData, 'v' | 'eventId' | 'service' | 'type'> & { v: 2 };

/** The stored form of a delivery's data (format 2). */
export function storedDeliveryData(data: Omit<DeliveryJobData, 'v'> & { v?: unknown }): StoredDeliveryData {
  const { v: _format, eventId: _id, service: _target, type: _type, ...rest } = data;
  return { v: 2, ...rest };
}

/**
 * Format 3, as JSON without the version (the publish script puts it first): format 2 without
 * the snapshot and the timestamp, which are the ledger's while this event is the user's latest.
 * A queued delivery is one BullMQ hash kept once per target until it is delivered: without the
 * snapshot its data stays under the 64 bytes Redis keeps in a hash's compact encoding, and the
 * snapshot is stored once per event, in the ledger, instead of once per target. When a newer
 * version replaces the event in the ledger, the same publish script writes the snapshot and
 * timestamp into the event's unfinished jobs, making them format 2
 * ({@link FORMAT3_TO_FORMAT2_LUA}); a publish the ledger does not take is stored as format 2.
 */
export function referenceData(data: StoredDeliveryData): string {
  const { v: _format, version: _version, user: _user, timestamp: _timestamp, ...rest } = data;
  return JSON.stringify({ v: 3, ...rest });
}

/**
 * Lua: `format3_to_format2(data, snapshot, timestamp)` returns a format 3 job's data (as the
 * publish script stores it, `{"version":N,"v":3,...}`) as format 2, with the snapshot and
 * timestamp given; nil for data in any other form (left as it is).
 */
export const FORMAT3_TO_FORMAT2_LUA = `
local function format3_to_format2(data, snapshot, ts)
  local head, rest = string.match(data, '^({"version":%d+,"v":)3(,.*)}$')
  if not head then return nil end
  return head .. '2' .. rest .. ',"user":' .. snapshot .. ',"timestamp":"' .. ts .. '"}'
end
`;

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
  v: z.union([z.literal(1), z.literal(2), z.literal(3)]),
  eventId: z.string().regex(ID_RE, ID_MESSAGE),
  service: z.string().min(1),
  type: z.enum(EVENT_TYPES as [EventType, ...EventType[]]),
  userId: userIdSchema,
  version: versionSchema,
  user: snapshotSchema.optional(),
  changes: changesSchema.optional(),
  timestamp: timestampSchema.optional(),
  source: sourceSchema,
  repair: z.boolean().optional(),
});

/** What of a BullMQ job a delivery is read from. */
export interface DeliveryJobLike {
  id?: string | undefined;
  name: string;
  data: unknown;
}

/** The fields a format 3 job leaves to the ledger. */
const LEDGER_FIELDS = ['user', 'timestamp'] as const;

/**
 * Reads a delivery job of the queue of `expectedService`: its data in any format, checked,
 * under its deterministic id (`<eventId>.<service>`). Returns the data (format 3: without the
 * snapshot and timestamp), or a one-line reason why it cannot be delivered.
 */
export function parseDeliveryJob(
  job: DeliveryJobLike,
  expectedService: string,
): { ok: true; data: DeliveryJobRead } | { ok: false; reason: string } {
  const jobId = job.id ?? '';
  const suffix = `.${expectedService}`;
  let data = job.data;
  const format = typeof data === 'object' && data !== null ? (data as { v?: unknown }).v : undefined;
  if (format === 2 || format === 3) {
    // Compact: the event id, the target and the type are the job's.
    if (!jobId.endsWith(suffix))
      return { ok: false, reason: `malformed job: id "${jobId}" is not "<eventId>${suffix}"` };
    const own = ['eventId', 'service', 'type'].find((field) => field in (data as object));
    if (own)
      return {
        ok: false,
        reason: `malformed job data: ${own}: format ${String(format)} takes it from the job, not its data`,
      };
    // Format 3 takes the snapshot and timestamp from the ledger.
    const misplaced = format === 3 && LEDGER_FIELDS.find((field) => field in (data as object));
    if (misplaced)
      return {
        ok: false,
        reason: `malformed job data: ${misplaced}: format 3 takes it from the ledger, not its data`,
      };
    data = withFields(data as object, {
      eventId: jobId.slice(0, -suffix.length),
      service: expectedService,
      type: job.name,
    });
  }
  const parsed = deliveryJobDataSchema.safeParse(data);
  if (!parsed.success) {
    const { path, message } = firstIssue(parsed.error);
    return { ok: false, reason: `malformed job data: ${path || '(data)'}: ${message}` };
  }
  // The other formats hold them.
  const missing = parsed.data.v !== 3 && LEDGER_FIELDS.find((field) => parsed.data[field] === undefined);
  if (missing) return { ok: false, reason: `malformed job data: ${missing}: is required` };
  if (parsed.data.service !== expectedService) {
    return {
      ok: false,
      reason: `malformed job data: service: names "${parsed.data.service}" but sits in the queue of "${expectedService}"`,
    };
  }
  if (parsed.data.user && String(parsed.data.user.id) !== String(parsed.data.userId)) {
    return { ok: false, reason: 'malformed job data: user.id: differs from userId' };
  }
  const expected = `${parsed.data.eventId}${suffix}`;
  if (jobId !== expected) {
    return { ok: false, reason: `malformed job: id "${jobId}" is not "<eventId>.<service>" (${expected})` };
  }
  return { ok: true, data: parsed.data };
}

/**
 * A job's data read again, as stored now (`stored`, its JSON), for a job read before as `was`:
 * a format 3 job whose event a newer publish replaced in the ledger has been given its snapshot
 * back since the worker read it. Checked like any job data, and for being the same delivery.
 */
export function rereadDeliveryJob(
  job: DeliveryJobLike,
  expectedService: string,
  stored: string,
  was: DeliveryJobRead,
): ReturnType<typeof parseDeliveryJob> {
  let data: unknown;
  try {
    data = JSON.parse(stored);
  } catch {
    return { ok: false, reason: 'malformed job data: (data): is not JSON' };
  }
  const read = parseDeliveryJob({ ...job, data }, expectedService);
  if (!read.ok) return read;
  if (read.data.version !== was.version || String(read.data.userId) !== String(was.userId))
    return { ok: false, reason: 'malformed job data: changed its version or user while queued' };
  return read;
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
 * The facts a job's data (any format) and id give, each only if it has the right type: for
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
  const type = pick<string>('type', 'string') ?? (data.v === 2 || data.v === 3 ? job.name : undefined);
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
