import type { UserSnapshot } from '../events.js';
import type { Redis } from '../redis.js';
import { UserEventPublisher, type PublishResult, type PublisherOptions } from './publisher.js';

/** Go passes empty strings for unknown fields; they are left out of the snapshot. */
function snapshot(userId: number | string, fields: Record<string, string | undefined>): UserSnapshot {
  const user: UserSnapshot = { id: userId };
  for (const [key, value] of Object.entries(fields))
    if (value !== undefined && value !== '') user[key] = value;
  return user;
}

/**
 * The Go package's integration hooks, with its argument lists, for services moving over.
 *
 * ```ts
 * const sync = new UserSyncIntegration(redis, 'accounts'); // targets from the config, else the registry
 * await sync.onUserCreated(1, 'testuser', 'test@example.com', 'guest', 'active', '+15550100');
 * ```
 */
export class UserSyncIntegration {
  readonly publisher: UserEventPublisher;

  /** A publisher of your own, or a connection and this service's name (options as a publisher's). */
  constructor(publisher: UserEventPublisher);
  constructor(redis: Redis, source: string, options?: PublisherOptions);
  constructor(publisherOrRedis: UserEventPublisher | Redis, source?: string, options: PublisherOptions = {}) {
    // A missing source is the publisher's ValidationError (field `source`), as for any bad name.
    this.publisher =
      publisherOrRedis instanceof UserEventPublisher
        ? publisherOrRedis
        : new UserEventPublisher(publisherOrRedis, source ?? '', options);
  }

  onUserCreated(
    userId: number | string,
    username: string,
    email: string,
    role: string,
    status: string,
    phone?: string,
  ): Promise<PublishResult> {
    return this.publisher.publishUserCreated(snapshot(userId, { username, email, role, status, phone }));
  }

  onUserUpdated(
    userId: number | string,
    username: string,
    email: string,
    role: string,
    status: string,
    phone?: string,
    changes?: Record<string, unknown>,
  ): Promise<PublishResult> {
    return this.publisher.publishUserUpdated(
      snapshot(userId, { username, email, role, status, phone }),
      changes,
    );
  }

  onUserDeleted(userId: number | string, username?: string, email?: string): Promise<PublishResult> {
    return this.publisher.publishUserDeleted(snapshot(userId, { username, email }));
  }

  onUserStatusChanged(
    userId: number | string,
    username: string,
    oldStatus: string,
    newStatus: string,
  ): Promise<PublishResult> {
    return this.publisher.publishUserStatusChanged(
      snapshot(userId, { username, status: newStatus }),
      oldStatus || undefined,
    );
  }
}
