/** `user-sync publish <type>`: publishes one user event and prints the result. */
import { InvalidArgumentError } from 'commander';
import { EVENT_TYPES, type EventType, type UserEventInput, type UserSnapshot } from '../events.js';
import type { PublishResult } from '../producers/publisher.js';
import { parseJsonObject, withDeployment, type CommonOptions } from './common.js';

/** Options of `user-sync publish`. */
export interface PublishCommandOptions extends CommonOptions {
  /** The user snapshot, as JSON. */
  user: string;
  /** Changed fields, as JSON. */
  changes?: string;
  /** The source row's version; assigned in Redis when left out. */
  version?: number;
  /** Event id; generated when left out. */
  id?: string;
  /** Publishing deployment. */
  source: string;
}

/** Short names of the event types: `created`, `updated`, `deleted`, `status_changed`. */
export const SHORT_TYPES = EVENT_TYPES.map((t) => t.slice('user.'.length));

/** Commander parser of `<type>`: `created` or `user.created` (and so on). */
export function parseEventType(value: string): EventType {
  const full = value.startsWith('user.') ? value : `user.${value.replace(/-/g, '_')}`;
  const type = EVENT_TYPES.find((t) => t === full);
  if (!type) {
    throw new InvalidArgumentError(`must be one of ${SHORT_TYPES.join(', ')} (or user.created, …).`);
  }
  return type;
}

/** Publishes the event and prints the PublishResult as JSON. */
export async function runPublish(type: EventType, options: PublishCommandOptions): Promise<PublishResult> {
  const user = parseJsonObject('--user', options.user) as UserSnapshot;
  const changes = options.changes !== undefined ? parseJsonObject('--changes', options.changes) : undefined;
  const input: UserEventInput = {
    type,
    user,
    ...(changes ? { changes } : {}),
    ...(options.version !== undefined ? { version: options.version } : {}),
    ...(options.id !== undefined ? { id: options.id } : {}),
  };
  const result = await withDeployment(options, (deployment) =>
    deployment.createPublisher(options.source).publish(input),
  );
  console.log(JSON.stringify(result, null, 2));
  return result;
}
