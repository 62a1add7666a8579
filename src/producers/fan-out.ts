import type { TargetConfig } from '../config/schema.js';
import { targetAccepts } from '../config/targets.js';
import type { UserEvent } from '../events.js';
import type { DeliveryJobData } from '../jobs/delivery-job.js';
import { deliveryQueueName, taskId } from '../jobs/names.js';

/** One delivery to enqueue: which queue, which job id, what data. */
export interface PlannedDelivery {
  queueName: string;
  jobId: string;
  service: string;
  data: DeliveryJobData;
}

/** The deliveries an event fans out to: one per enabled target whose filter matches, in config order. */
export function planDeliveries(
  event: UserEvent,
  targets: readonly TargetConfig[],
  options: {
    /** Deliveries enqueued by the consistency sweep. */
    repair?: boolean;
    /** The queue of a target (its partition's, for the event's user). Default `deliver.<target>`. */
    queueName?: (target: string) => string;
  } = {},
): PlannedDelivery[] {
  const repair = options.repair ?? false;
  const queueName = options.queueName ?? ((target: string) => deliveryQueueName(target));
  return targets
    .filter((target) => targetAccepts(target, event))
    .map((target) => ({
      queueName: queueName(target.service),
      jobId: taskId(event.id, target.service),
      service: target.service,
      data: {
        v: 1,
        eventId: event.id,
        service: target.service,
        type: event.type,
        userId: event.userId,
        version: event.version,
        user: event.user,
        ...(event.changes !== undefined ? { changes: event.changes } : {}),
        timestamp: event.timestamp,
        source: event.source,
        ...(repair ? { repair: true } : {}),
      },
    }));
}
