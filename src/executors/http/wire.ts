/**
 * The HTTP wire format of a delivery (README, "HTTP delivery"): the JSON body, byte for
 * byte, and the user agent that names user-sync and its version.
 */
import type { DeliveryTask } from '../../jobs/delivery-job.js';
import { VERSION } from '../../version.js';

/** The `user-agent` of every HTTP delivery, e.g. `user-sync/0.1.0 (+https://github.com/user-sync)`. */
export const USER_AGENT = `user-sync/${VERSION} (+https://github.com/user-sync)`;

/**
 * The JSON body of an HTTP delivery, exactly as signed and sent. Keys come in the documented
 * order: `task_id`, `event_id`, `user_id` (the task's user id as given: a number stays a
 * number), `username` (null when the snapshot has none), `event_type`, `version`,
 * `data: { user, changes }` (`changes` defaults to `{}`), `timestamp`, `source`.
 */
export function buildWebhookBody(task: DeliveryTask): string {
  return JSON.stringify({
    task_id: task.taskId,
    event_id: task.eventId,
    user_id: task.userId,
    username: task.user.username ?? null,
    event_type: task.type,
    version: task.version,
    data: { user: task.user, changes: task.changes ?? {} },
    timestamp: task.timestamp,
    source: task.source,
  });
}
