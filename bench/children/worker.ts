/**
 * A worker process of the delivery benchmarks: user-sync's workers (`UserSyncService`) or the
 * raw baseline (one BullMQ `Worker` per target whose processor POSTs the job's body with got,
 * or does nothing), started and stopped by the measuring process. It reports completions as
 * they happen (`progress`: count and the time of the last one), and on `snapshot` its CPU time
 * and Redis round trips since `mark`.
 */
import http from 'node:http';
import { Worker } from 'bullmq';
import got from 'got';
import { Redis } from 'ioredis';
import { UserEventSubscriber, UserSyncService, createLogger, parseConfig } from '../../src/index.js';
import { deliveryRetention } from '../../src/jobs/queues.js';
import { nowAbs, push, serve } from '../harness/ipc.js';
import { redisTally } from '../harness/redis-tally.js';
import { rawQueue, userSyncConfig, type TargetKind } from '../harness/workload.js';

export interface WorkerSpec {
  side: 'user-sync' | 'bullmq';
  kind: TargetKind;
  /** The single Redis; or, user-sync only, `clusterNodes` (`host:port,…`) of a Redis Cluster. */
  redisUrl?: string;
  clusterNodes?: string;
  /** user-sync's `partitions` (default 1); every process delivers every partition. */
  partitions?: number;
  prefix: string;
  targets: string[];
  url?: string;
  /** Per target, in this process (user-sync's `workers`; the baseline Worker's `concurrency`). */
  concurrency: number;
}

export interface WorkerSnapshot {
  completed: number;
  /** nowAbs() of the last completion. */
  lastAt: number;
  cpuMs: number;
  roundTrips: number;
  commands: number;
  failures: number;
}

const tally = redisTally();
let completed = 0;
let failures = 0;
let lastAt = 0;
let cpuStart = process.cpuUsage();
let flush: NodeJS.Timeout | undefined;
let close: (() => Promise<void>) | undefined;

function done(): void {
  completed++;
  lastAt = nowAbs();
  // At most one message per 5 ms: the parent needs the count, not every completion.
  flush ??= setTimeout(() => {
    flush = undefined;
    push('progress', { completed, lastAt });
  }, 5);
}

function failed(message: string): void {
  failures++;
  push('failure', message);
}

async function startUserSync(spec: WorkerSpec): Promise<() => Promise<void>> {
  const subscriber = new UserEventSubscriber().registerHandler('*', () => undefined);
  // With clusterNodes (and no redisUrl) the service connects through a Cluster of its own.
  const service = new UserSyncService(userSyncConfig({ ...spec, kind: spec.kind }), spec.redisUrl, {
    logger: createLogger({ silent: true }),
    subscriber,
    onOutcome: (outcome) => {
      if (outcome === 'delivered' || outcome === 'superseded') done();
      else if (outcome === 'dead') failed('a delivery was dead-lettered');
      else if (outcome === 'retry') failed('a delivery was retried');
    },
  });
  await service.start();
  return () => service.close();
}

async function startRaw(spec: WorkerSpec): Promise<() => Promise<void>> {
  if (spec.redisUrl === undefined) throw new Error('the raw baseline runs on a single Redis (redisUrl)');
  const redis = new Redis(spec.redisUrl, { maxRetriesPerRequest: null });
  const agent = new http.Agent({ keepAlive: true });
  const client = got.extend({
    agent: { http: agent },
    retry: { limit: 0 },
    throwHttpErrors: false,
    followRedirect: false,
  });
  const retention = deliveryRetention(parseConfig(userSyncConfig({ ...spec })));
  const url = spec.url ?? '';
  const workers = spec.targets.map((service) => {
    const worker = new Worker(
      rawQueue(service),
      spec.kind === 'noop'
        ? async () => undefined
        : async (job) => {
            const response = await client(url, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify(job.data),
              responseType: 'buffer',
              timeout: { request: 10_000 },
            });
            if (response.statusCode < 200 || response.statusCode >= 300) {
              throw new Error(`HTTP ${response.statusCode}`);
            }
            return { status: response.statusCode };
          },
      { connection: redis, prefix: spec.prefix, concurrency: spec.concurrency, ...retention },
    );
    worker.on('completed', done);
    worker.on('failed', (job, error) => failed(`job ${job?.id ?? '?'}: ${error.message}`));
    worker.on('error', () => undefined);
    return worker;
  });
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  return async () => {
    await Promise.all(workers.map((w) => w.close()));
    agent.destroy();
    await redis.quit();
  };
}

serve({
  start: async (spec: WorkerSpec) => {
    if (close) throw new Error('already started');
    close = await (spec.side === 'user-sync' ? startUserSync(spec) : startRaw(spec));
  },
  /** Counting starts here. */
  mark: () => {
    completed = 0;
    failures = 0;
    lastAt = 0;
    tally.take();
    cpuStart = process.cpuUsage();
  },
  snapshot: (): WorkerSnapshot => {
    const cpu = process.cpuUsage(cpuStart);
    const redis = tally.take();
    return {
      completed,
      lastAt,
      cpuMs: (cpu.user + cpu.system) / 1000,
      roundTrips: redis.roundTrips,
      commands: redis.commands,
      failures,
    };
  },
  stop: async () => {
    const closing = close;
    close = undefined;
    await closing?.();
  },
  exit: async () => {
    await close?.();
  },
});
