import type { TargetConfig } from '../config/schema.js';
import { targetAccepts } from '../config/targets.js';
import type { UserEvent } from '../events.js';
import { storedDeliveryData, type StoredDeliveryData } from '../jobs/delivery-job.js';
import type { EventType } from '../events.js';
import { deliveryQueueName, taskId } from '../jobs/names.js';

/** One delivery to enqueue: which queue, which job id and name (the event type), what data. */
export interface PlannedDelivery {
  queueName: string;
  jobId: string;
  service: string;
  type: EventType;
  data: StoredDeliveryData;
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
      type: event.type,
      data: storedDeliveryData({
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
      }),
    }));
}
