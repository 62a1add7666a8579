import { z } from 'zod';
import { formatDuration } from '../duration.js';
import { ValidationError } from '../errors.js';
import { EVENT_TYPES, EventType, type UserEvent } from '../events.js';
import {
  ID_MESSAGE,
  ID_RE,
  changesSchema,
  safeJson,
  sourceSchema,
  timestampSchema,
  userIdSchema,
  versionSchema,
} from '../jobs/event-fields.js';

/** Statuses accepted by default; the publisher's `statuses` option replaces the list. */
export const DEFAULT_STATUSES = [
  'active',
  'inactive',
  'pending',
  'suspended',
  'banned',
  'locked',
  'disabled',
] as const;

export interface ValidationOptions {
  /** Largest snapshot (plus changes), in bytes of JSON. */
  maxSnapshotBytes: number;
  statuses: readonly string[];
  /** Publishing service, used when the event names none. */
  source: string;
  /** How far in the future an event's timestamp may be, in ms (clocks drift; a day does not). */
  maxTimestampAheadMs: number;
}

// eslint-disable-next-line no-control-regex -- rejecting control characters is the point
const NO_CONTROL = /^[^\u0000-\u001f\u007f]*$/;

function userSchema(statuses: readonly string[]) {
  return safeJson(
    z.looseObject({
      id: userIdSchema,
      username: z
        .string()
        .min(1, 'must not be empty')
        .max(256, 'is longer than 256 characters')
        .regex(NO_CONTROL, 'contains control characters')
        .optional(),
      email: z
        .string()
        .max(254, 'is longer than 254 characters')
        .regex(/^[^\s@]{1,64}@[^\s@.]+(\.[^\s@.]+)+$/, 'is not an email address')
        .optional(),
      role: z
        .string()
        .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1-64 letters, digits or "_.:-"')
        .optional(),
      status: z
        .string()
        .refine((s) => statuses.includes(s), `must be one of ${statuses.join(', ')}`)
        .optional(),
      phone: z
        .string()
        .regex(/^\+?[0-9][0-9 ().-]{2,31}$/, 'is not a phone number')
        .optional(),
    }),
  );
}

function buildEventSchema(statuses: readonly string[]) {
  return z.strictObject({
    id: z
      .string()
      .regex(ID_RE, ID_MESSAGE)
      .refine((s) => !/^\d+$/.test(s), 'must not be all digits')
      .optional(),
    type: z.enum(EVENT_TYPES as [EventType, ...EventType[]], {
      error: `must be one of ${EVENT_TYPES.join(', ')}`,
    }),
    user: userSchema(statuses),
    version: versionSchema.optional(),
    changes: changesSchema.optional(),
    timestamp: timestampSchema.optional(),
    source: sourceSchema.optional(),
  });
}

const schemas = new Map<string, ReturnType<typeof buildEventSchema>>();

/** The schema for a list of statuses, built once: building a zod schema costs more than using it. */
function eventSchema(statuses: readonly string[]): ReturnType<typeof buildEventSchema> {
  const key = statuses.join('\n');
  let schema = schemas.get(key);
  if (!schema) {
    schema = buildEventSchema(statuses);
    schemas.set(key, schema);
  }
  return schema;
}

function jsonBytes(value: unknown, field: string): number {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new ValidationError(field, `cannot be serialised as JSON (${(error as Error).message})`);
  }
  return text === undefined ? 0 : Buffer.byteLength(text);
}

/**
 * Validates an event as a caller handed it and settles id-independent defaults. The version
 * may still be undefined (assigned in Redis at publish). Throws a ValidationError naming the field.
 */
export function validateEvent(
  input: unknown,
  options: ValidationOptions,
  now: () => number = Date.now,
): Omit<UserEvent, 'id' | 'version'> & { id?: string; version?: number } {
  const schema = eventSchema(options.statuses);
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path.length ? issue.path.map(String).join('.') : 'event';
    if (issue?.code === 'unrecognized_keys') {
      throw new ValidationError(
        path === 'event' ? (issue.keys ?? []).join(', ') : path,
        'is not a known field',
      );
    }
    const message = issue?.message ?? 'is invalid';
    throw new ValidationError(path, /received undefined/.test(message) ? 'is required' : message);
  }
  const event = parsed.data;
  if (event.type === EventType.UserStatusChanged && typeof event.user.status !== 'string') {
    throw new ValidationError('user.status', 'is required for user.status_changed');
  }
  if (event.timestamp !== undefined && Date.parse(event.timestamp) > now() + options.maxTimestampAheadMs) {
    throw new ValidationError(
      'timestamp',
      `is more than ${formatDuration(options.maxTimestampAheadMs)} in the future (maxTimestampAhead)`,
    );
  }
  const bytes =
    jsonBytes(event.user, 'user') + (event.changes === undefined ? 0 : jsonBytes(event.changes, 'changes'));
  if (bytes > options.maxSnapshotBytes) {
    throw new ValidationError(
      'user',
      `snapshot is ${bytes} bytes, over the limit of ${options.maxSnapshotBytes}`,
    );
  }
  return {
    ...(event.id !== undefined ? { id: event.id } : {}),
    type: event.type,
    userId: event.user.id,
    ...(event.version !== undefined ? { version: event.version } : {}),
    user: event.user,
    ...(event.changes !== undefined ? { changes: event.changes } : {}),
    timestamp: event.timestamp ?? new Date(now()).toISOString(),
    source: event.source ?? options.source,
  };
}
