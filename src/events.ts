/** Event types, the user snapshot and the event shape shared by producers, jobs and executors. */

export const EventType = {
  UserCreated: 'user.created',
  UserUpdated: 'user.updated',
  UserDeleted: 'user.deleted',
  UserStatusChanged: 'user.status_changed',
} as const;
export type EventType = (typeof EventType)[keyof typeof EventType];
export const EVENT_TYPES: readonly EventType[] = Object.values(EventType);

export function isEventType(value: unknown): value is EventType {
  return typeof value === 'string' && (EVENT_TYPES as readonly string[]).includes(value);
}

/** A user id: a positive integer, or a string of letters, digits, `_` and `-`. */
export type UserId = number | string;

/** The snapshot of a user after a change. Fields beyond these are carried as they are. */
export interface UserSnapshot {
  id: UserId;
  username?: string;
  email?: string;
  role?: string;
  status?: string;
  phone?: string;
  [field: string]: unknown;
}

/** An event as callers hand it to `publish`. */
export interface UserEventInput {
  /** Unique, time-sortable id; generated when left out. Letters, digits, `_`, `-`. */
  id?: string;
  type: EventType;
  user: UserSnapshot;
  /** The source row's version. When left out, the next per-user version is assigned in Redis. */
  version?: number;
  /** Fields that changed (updates), or `{ status: { from, to } }` for status changes. */
  changes?: Record<string, unknown>;
  /** ISO-8601; defaults to now. */
  timestamp?: string;
  /** Publishing service; defaults to the publisher's source. */
  source?: string;
}

/** A validated event with its id, version, timestamp and source settled. */
export interface UserEvent {
  id: string;
  type: EventType;
  userId: UserId;
  version: number;
  user: UserSnapshot;
  changes?: Record<string, unknown>;
  timestamp: string;
  source: string;
}
