/** user-sync's public API. */
export { loadConfig, defaultConfigPath, ENV_OVERRIDES, type LoadConfigOptions } from './config/load.js';
export { parseConfig } from './config/parse.js';
export {
  DEFAULTS,
  type SyncConfig,
  type SyncConfigInput,
  type TargetConfig,
  type TargetConfigInput,
} from './config/schema.js';
export {
  UserSyncError,
  ConfigError,
  ValidationError,
  QueueFullError,
  DeliveryError,
  ReplicationError,
  ForeignValueError,
  toError,
  type ErrorCode,
  type DeliveryErrorDetails,
} from './errors.js';
export {
  EventType,
  EVENT_TYPES,
  type UserId,
  type UserSnapshot,
  type UserEvent,
  type UserEventInput,
} from './events.js';
export { UserSyncService, type UserSyncServiceOptions } from './service.js';
export { Deployment, type DeploymentOptions, type QueueStatus } from './deployment.js';
export {
  UserEventPublisher,
  type PublisherOptions,
  type PublishOptions,
  type PublishResult,
} from './producers/publisher.js';
export { UserSyncIntegration } from './producers/integration.js';
export { UserEventSubscriber, type EventHandler, type HandledEvent } from './executors/handler.js';
export { registerExecutor, unregisterExecutor } from './executors/registry.js';
export {
  loadRegistry,
  type RegistryEntry,
  type RegistryWriteResult,
  type RegistryWriter,
} from './jobs/registry.js';
export type { Executor, ExecutionContext, DeliveryResult, TargetVersions } from './executors/executor.js';
export type { DeliveryTask, DeliveryJobData } from './jobs/delivery-job.js';
export type {
  DeadLetterRecord,
  DeadLetterFilter,
  DeadLetterReason,
  ListOptions,
  Progress,
} from './jobs/dead-letter.js';
export type { SyncStats, TargetStats } from './jobs/stats.js';
export type { DeliveryOutcome, DeliveryJobResult } from './workers/delivery-worker.js';
export { createLogger, redactFormat, type Logger, type LoggerOptions } from './logger.js';
export { redactText, redactUrl } from './redact.js';
export { signWebhook, stateSecret } from './executors/http/signing.js';
export { taskId, deliveryQueueName, DEAD_LETTER_QUEUE, MAINTENANCE_QUEUE } from './jobs/names.js';
export { createDashboardApp, type DashboardAppOptions } from './dashboard/app.js';
export { startDashboard, type StartDashboardOptions, type DashboardServer } from './dashboard/server.js';
export {
  dashboardAuthFromConfig,
  isLoopbackHost,
  type DashboardAuth,
  type DashboardCredentials,
} from './dashboard/auth.js';
export { type SweepOptions } from './sweep/run.js';
export { SWEEP_CLASSES, type SweepClass, type SweepRun, type TargetSweepFigures } from './sweep/classify.js';
export { type BackfillOptions, type BackfillProgress, type BackfillResult } from './ops/backfill.js';
export type { BackfillCounts, BackfillDecision } from './ops/backfill-plan.js';
export {
  type LookupOptions,
  type UserLookup,
  type TargetLookup,
  type WatermarkSync,
} from './ops/user-lookup.js';
export type { DeliveryView, DeadView } from './ops/user-jobs.js';
