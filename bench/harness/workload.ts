/**
 * What both sides of every benchmark deliver: the events, user-sync's config for them, and the
 * raw BullMQ jobs carrying the same body as user-sync's HTTP delivery (src/executors/http/wire.ts).
 */
import type { JobsOptions } from 'bullmq';
import type { SyncConfigInput, UserSnapshot } from '../../src/index.js';
import { newEventId } from '../../src/producers/event-id.js';

/** The source every benchmark publishes as. */
export const SOURCE = 'bench';
/** A fixed signing secret, so that publisher and worker processes build the same config. */
const SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
/** The queue of a raw BullMQ baseline target. */
export const rawQueue = (service: string) => `raw.${service}`;
/** Target service names: t1, t2, ... */
export const targetNames = (n: number) => Array.from({ length: n }, (_, i) => `t${i + 1}`);

export interface BenchEvent {
  id: string;
  user: UserSnapshot & { sent_at: number };
}

/**
 * `n` `user.created` events, one per user (no coalescing: every delivery is a call), each
 * snapshot about `snapshotBytes` of JSON. `sent_at` is set when the event is published.
 */
export function makeEvents(n: number, snapshotBytes = 200, firstUser = 1): BenchEvent[] {
  return Array.from({ length: n }, (_, i) => {
    const id = firstUser + i;
    const user = {
      id,
      username: `user${id}`,
      email: `user${id}@example.com`,
      role: 'member',
      status: 'active',
      sent_at: 0,
      bio: '',
    };
    user.bio = 'x'.repeat(Math.max(0, snapshotBytes - JSON.stringify(user).length - 14));
    return { id: newEventId(), user };
  });
}

export type TargetKind = 'http' | 'noop';

/** user-sync's config for `targets` targets of one kind (noop: a `handler` target). */
export function userSyncConfig(opts: {
  prefix: string;
  targets: readonly string[];
  kind: TargetKind;
  url?: string;
  concurrency?: number;
  partitions?: number;
  replicaAcks?: number;
  /** A Redis Cluster's nodes (`redisClusterNodes`). */
  clusterNodes?: string;
}): SyncConfigInput {
  return {
    prefix: opts.prefix,
    workers: opts.concurrency ?? 16,
    queueSize: 1_000_000,
    timeout: 10_000,
    ...(opts.partitions ? { partitions: opts.partitions } : {}),
    ...(opts.replicaAcks !== undefined ? { replicaAcks: opts.replicaAcks } : {}),
    ...(opts.clusterNodes ? { redisClusterNodes: opts.clusterNodes } : {}),
    targets: opts.targets.map((service) =>
      opts.kind === 'http'
        ? { service, kind: 'http', url: opts.url ?? 'http://127.0.0.1:9/unused', secrets: [SECRET] }
        : { service, kind: 'handler' },
    ),
  };
}

/**
 * user-sync's delivery job options at the default config (maxRetries 3), with a built-in
 * backoff type; retention is the worker's, as user-sync's.
 */
export const RAW_JOB_OPTIONS: JobsOptions = { attempts: 4, backoff: { type: 'exponential', delay: 5_000 } };

/** The body user-sync's http executor sends, field for field: what a raw job carries. */
export function rawBody(event: BenchEvent, service: string) {
  return {
    task_id: `${event.id}.${service}`,
    event_id: event.id,
    user_id: event.user.id,
    username: event.user.username ?? null,
    event_type: 'user.created',
    version: 1,
    data: { user: event.user, changes: {} },
    timestamp: new Date().toISOString(),
    source: SOURCE,
  };
}

/** One raw job of `event` for `service`, as `Queue.add`/`addBulk`/`FlowProducer` take it. */
export function rawJob(event: BenchEvent, service: string) {
  return {
    name: 'user.created',
    queueName: rawQueue(service),
    data: rawBody(event, service),
    opts: { ...RAW_JOB_OPTIONS, jobId: `${event.id}.${service}` },
  };
}
