import type { TargetConfig } from '../config/schema.js';
import type { EventType, UserEvent } from '../events.js';
import type { DeliveryTask } from '../jobs/delivery-job.js';
import type { DeliveryResult, ExecutionContext, Executor } from './executor.js';

/** What a handler receives: the event, plus the delivery it came in. */
export interface HandledEvent extends UserEvent {
  taskId: string;
  attempt: number;
  /** The target (handler service) this delivery is for. */
  service: string;
}

export type EventHandler = (event: HandledEvent, ctx: ExecutionContext) => Promise<void> | void;

/**
 * In-process handlers for `handler` targets. A handler that throws is retried with backoff;
 * throw a DeliveryError with `retryable: false` to dead-letter at once.
 *
 * ```ts
 * const subscriber = new UserEventSubscriber();
 * subscriber.registerHandler(EventType.UserCreated, async (event) => { ... });
 * const service = new UserSyncService(config, redis, { subscriber });
 * ```
 */
export class UserEventSubscriber implements Executor {
  private readonly handlers = new Map<EventType | '*', EventHandler[]>();

  /** Adds a handler for one event type, or `'*'` for every type. Handlers run in order of registration. */
  registerHandler(type: EventType | '*', handler: EventHandler): this {
    const list = this.handlers.get(type) ?? [];
    list.push(handler);
    this.handlers.set(type, list);
    return this;
  }

  /** Whether any handler would see this type. */
  handles(type: EventType): boolean {
    return (this.handlers.get(type)?.length ?? 0) + (this.handlers.get('*')?.length ?? 0) > 0;
  }

  async execute(task: DeliveryTask, _target: TargetConfig, ctx: ExecutionContext): Promise<DeliveryResult> {
    const event: HandledEvent = {
      id: task.eventId,
      type: task.type,
      userId: task.userId,
      version: task.version,
      user: task.user,
      ...(task.changes !== undefined ? { changes: task.changes } : {}),
      timestamp: task.timestamp,
      source: task.source,
      taskId: task.taskId,
      attempt: task.attempt,
      service: task.service,
    };
    const handlers = [...(this.handlers.get(task.type) ?? []), ...(this.handlers.get('*') ?? [])];
    for (const handler of handlers) await handler(event, ctx);
    return {};
  }
}
