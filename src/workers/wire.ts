/**
 * The HTTP wire format of a delivery (DESIGN.md, "HTTP delivery"): the JSON body, byte for
 * byte, and the user agent that names user-sync and its version.
 */
import { readFileSync } from 'node:fs';
import type { DeliveryTask } from '../jobs/delivery-job.js';

/**
 * Reads the package version once. `src/workers/wire.ts` (tests) and `dist/workers/wire.js`
 * (build) both sit two levels below package.json.
 */
function packageVersion(): string {
  try {
    const pkg: unknown = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    if (typeof pkg === 'object' && pkg !== null && 'version' in pkg && typeof pkg.version === 'string') {
      return pkg.version;
    }
  } catch {
    // Packaged without package.json beside it: the user agent still names user-sync.
  }
  return 'unknown';
}

/** The `user-agent` of every HTTP delivery, e.g. `user-sync/0.1.0 (+https://github.com/user-sync)`. */
export const USER_AGENT = `user-sync/${packageVersion()} (+https://github.com/user-sync)`;

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
