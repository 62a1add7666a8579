/**
 * Delivery benchmark: user-sync against a raw BullMQ baseline, in one run, on the same Redis
 * and the same local HTTP receiver.
 *
 *   npm run bench:delivery                       # N=5000 events, concurrency 16
 *   BENCH_EVENTS=2000 BENCH_CONCURRENCY=8 npm run bench:delivery
 *
 * What is measured, for each side:
 * - publish/s: N events published with bounded parallelism (BENCH_PUBLISH_PARALLELISM, 32 in
 *   flight), from the first publish call to the last one resolving; the workers run meanwhile.
 * - delivered/s: N divided by the time from the first publish call to the moment the N-th
 *   delivery job finished (user-sync: delivered + superseded, as its stats count them; the
 *   stats are checked to say N completed afterwards).
 * - p50 / p99 ms: publish call → request received, measured at the receiver for every request
 *   it got (the body's `event_id` looks up the publish time). Superseded deliveries never
 *   reach the receiver, so user-sync's percentiles cover the requests actually sent.
 *
 * The baseline is what the same job costs on BullMQ alone: one `queue.add` per event (same
 * parallelism, same deterministic job id, attempts, backoff and retention options) and a plain
 * `Worker` (same concurrency) whose processor POSTs a JSON body of the same shape and size
 * with got (keep-alive agent, no retries). It has none of user-sync's guarantees, so the gap
 * between the two rows is what those guarantees cost:
 * - publish: input validation, the backlog cap check (job counts of the target queue), the
 *   dedupe record and versioned ledger write (one Lua script), the jobs added through a
 *   FlowProducer MULTI (all-or-nothing across targets), and the commit that marks the event
 *   enqueued and counts its tasks (a second Lua script);
 * - delivery: job data validation, the per-(target, user) lock with the watermark and ledger
 *   read (one Lua script), coalescing to the ledger's latest snapshot, Standard Webhooks
 *   signing, and the finish script that raises the watermark, counts the outcome in the stats
 *   and releases the lock.
 *
 * Events: N events over BENCH_USERS users (default N/10), user ids round-robin, so each user
 * gets about ten versions (a create, then updates). Because publishing outruns delivery,
 * user-sync coalesces: a delivery sends the ledger's latest snapshot and the user's older
 * deliveries complete as superseded without an HTTP call. Set BENCH_USERS=N for one event per
 * user (every delivery is an HTTP call).
 *
 * Everything runs in this one Node process (publisher, workers, receiver), so both sides
 * share one event loop. A short warm-up of each side (BENCH_WARMUP events, default
 * min(500, N/10)) runs first and is not reported. Every run uses its own key prefix
 * (`{us-bench-<random>}`) and deletes its keys when done. The whole run is bounded by
 * BENCH_TIMEOUT_MS (default 120 s).
 *
 * It also counts the Redis round trips and commands per event of each side (every ioredis
 * client of the process, from the first publish to the last delivery); BENCH_TRACE=1 breaks
 * them down by command and Lua script.
 */
import { envInt, quietly as quietlyWithin, serveLocally, startDeadline } from './common.js';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { Queue, Worker, type JobsOptions } from 'bullmq';
import got from 'got';
import { Redis } from 'ioredis';
import { UserSyncService, createLogger, type UserSnapshot } from '../src/index.js';
import { SCRIPT_NAMES } from '../src/jobs/scripts.js';
import { newEventId } from '../src/producers/event-id.js';
import { redactUrl } from '../src/redact.js';
import { TEST_REDIS_URL, deletePrefix, uniquePrefix } from '../test/helpers/redis.js';

// ---------------------------------------------------------------------------------------------
// Settings

const N = envInt('BENCH_EVENTS', 5000);
const USERS = Math.min(N, envInt('BENCH_USERS', Math.max(1, Math.ceil(N / 10))));
const CONCURRENCY = envInt('BENCH_CONCURRENCY', 16);
const PUBLISH_PARALLELISM = envInt('BENCH_PUBLISH_PARALLELISM', 32);
const WARMUP = envInt('BENCH_WARMUP', Math.min(500, Math.ceil(N / 10)), 0);
const TIMEOUT_MS = envInt('BENCH_TIMEOUT_MS', 120_000);
const REDIS_URL = TEST_REDIS_URL;
/** Per-request timeout of both sides; the receiver answers at once, so this only catches a hang. */
const REQUEST_TIMEOUT_MS = 10_000;
const SERVICE = 'receiver';
const SOURCE = 'bench';
/** BENCH_TRACE=1: also print the Redis commands per event, by command or script name. */
const TRACE = process.env.BENCH_TRACE === '1';

// ---------------------------------------------------------------------------------------------
// Time bound: one deadline for the whole run; Ctrl-C stops the same way.

const deadline = startDeadline(TIMEOUT_MS);
const abort = { signal: deadline.signal };
const { bounded } = deadline;
/** Cleanup steps get 10 s each here. */
const quietly = (what: string, step: () => Promise<unknown>) => quietlyWithin(what, step, 10_000);

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

// ---------------------------------------------------------------------------------------------
// Redis round trips: every command any ioredis client in this process sends is counted, by
// command or Lua script name (user-sync's scripts by their export name, BullMQ's by the name
// it defined them under). A command sent alone is one round trip; a pipeline or MULTI, one.

interface RedisTally {
  roundTrips: number;
  commands: number;
  byName: Map<string, number>;
}

function newRedisTally(): RedisTally {
  return { roundTrips: 0, commands: 0, byName: new Map() };
}

let redisTally = newRedisTally();
const scriptNames = new Map<string, string>(SCRIPT_NAMES);
const pipelinesSeen = new WeakSet<object>();

function scriptName(client: unknown, sha: string): string {
  let name = scriptNames.get(sha);
  if (name === undefined) {
    const defined = (client as { scriptsSet?: Record<string, { sha?: string }> }).scriptsSet ?? {};
    for (const [defName, script] of Object.entries(defined)) {
      if (script.sha) scriptNames.set(script.sha, defName.replace(/-\d+$/, ''));
    }
    name = scriptNames.get(sha) ?? `script ${sha.slice(0, 8)}`;
  }
  return name;
}

// Wrapped, then called with the client as `this`: an unbound method on purpose.
// eslint-disable-next-line @typescript-eslint/unbound-method
const originalSendCommand = Redis.prototype.sendCommand;
Redis.prototype.sendCommand = function (this: Redis, ...args: Parameters<Redis['sendCommand']>) {
  const [command, stream] = args;
  const pipeline = (stream as { isPipeline?: boolean } | undefined)?.isPipeline
    ? (stream as object)
    : undefined;
  if (!pipeline) redisTally.roundTrips++;
  else if (!pipelinesSeen.has(pipeline)) {
    pipelinesSeen.add(pipeline);
    redisTally.roundTrips++;
  }
  let name = command.name.toLowerCase();
  if (name === 'evalsha') name = scriptName(this, String(command.args[0]));
  if (name !== 'multi' && name !== 'exec') redisTally.commands++;
  redisTally.byName.set(name, (redisTally.byName.get(name) ?? 0) + 1);
  return originalSendCommand.apply(this, args);
};

// ---------------------------------------------------------------------------------------------
// The receiver: counts requests and notes when each event arrived. Nothing else.

interface Tally {
  /** performance.now() at each event's publish call, by event id. */
  sentAt: Map<string, number>;
  latencies: number[];
  received: number;
  unparsable: number;
}

function newTally(): Tally {
  return { sentAt: new Map(), latencies: [], received: 0, unparsable: 0 };
}

interface Receiver {
  url: string;
  /** Where requests are counted now (one run at a time). */
  tally: Tally;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const at = performance.now();
      const tally = receiver.tally;
      tally.received++;
      try {
        const { event_id } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { event_id?: unknown };
        const sent = typeof event_id === 'string' ? tally.sentAt.get(event_id) : undefined;
        if (sent === undefined) tally.unparsable++;
        else tally.latencies.push(at - sent);
      } catch {
        tally.unparsable++;
      }
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
      res.end('ok');
    });
  });
  const { origin, close } = await serveLocally(server);
  const receiver: Receiver = { url: `${origin}/webhooks/users`, tally: newTally(), close };
  return receiver;
}

// ---------------------------------------------------------------------------------------------
// The workload: the same events for both sides.

interface BenchEvent {
  id: string;
  created: boolean;
  user: UserSnapshot;
  changes?: Record<string, unknown>;
  /** The version user-sync will assign (the baseline carries it as is). */
  version: number;
}

function workload(n: number, users: number): BenchEvent[] {
  return Array.from({ length: n }, (_, i) => {
    const id = (i % users) + 1;
    const round = Math.floor(i / users);
    const user: UserSnapshot = {
      id,
      username: round === 0 ? `user${id}` : `user${id}_${round}`,
      email: `user${id}@example.com`,
      role: 'member',
      status: 'active',
    };
    return {
      id: newEventId(),
      created: round === 0,
      user,
      ...(round === 0 ? {} : { changes: { username: user.username } }),
      version: round + 1,
    };
  });
}

/** Runs `work(i)` for i in [0, n) with at most `parallelism` calls in flight. */
async function inParallel(n: number, parallelism: number, work: (i: number) => Promise<unknown>) {
  let next = 0;
  const lane = async () => {
    while (next < n) {
      if (abort.signal.aborted) throw abort.signal.reason as Error;
      await work(next++);
    }
  };
  await bounded(Promise.all(Array.from({ length: Math.min(n, parallelism) }, lane)));
}

interface RunResult {
  publishPerSec: number;
  deliveredPerSec: number;
  p50: number;
  p99: number;
  received: number;
  /** Events of the run. */
  n: number;
  notes: string;
  /** Redis traffic from the first publish to the last delivery, all connections of this process. */
  redis: RedisTally;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

function summarize(
  n: number,
  started: number,
  published: number,
  finished: number,
  tally: Tally,
  notes: string,
  redis: RedisTally,
): RunResult {
  const latencies = [...tally.latencies].sort((a, b) => a - b);
  return {
    publishPerSec: n / ((published - started) / 1000),
    deliveredPerSec: n / ((finished - started) / 1000),
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    received: tally.received,
    n,
    notes: tally.unparsable ? `${notes}, ${tally.unparsable} requests without a known event_id` : notes,
    redis,
  };
}

/** Every prefix used, so that an aborted run still deletes its keys. */
const prefixes = new Set<string>();

// ---------------------------------------------------------------------------------------------
// user-sync

async function runUserSync(receiver: Receiver, events: readonly BenchEvent[]): Promise<RunResult> {
  const n = events.length;
  const prefix = uniquePrefix('bench');
  prefixes.add(prefix);
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 20 });
  const tally = newTally();
  receiver.tally = tally;
  const done = deferred<number>();
  let completed = 0;
  let retried = 0;
  const service = new UserSyncService(
    {
      prefix,
      workers: CONCURRENCY,
      queueSize: Math.max(10_000, n + 1),
      timeout: REQUEST_TIMEOUT_MS,
      targets: [
        {
          service: SERVICE,
          kind: 'http',
          url: receiver.url,
          secrets: [`whsec_${randomBytes(32).toString('base64')}`],
        },
      ],
    },
    redis,
    {
      logger: createLogger({ silent: true }),
      onOutcome: (outcome) => {
        if (outcome === 'delivered' || outcome === 'superseded') {
          if (++completed === n) done.resolve(performance.now());
        } else if (outcome === 'retry') retried++;
        else if (outcome === 'dead') done.reject(new Error('user-sync: a delivery was dead-lettered'));
      },
    },
  );
  try {
    await bounded(service.start());
    const publisher = service.createPublisher(SOURCE);
    redisTally = newRedisTally();
    const started = performance.now();
    await inParallel(n, PUBLISH_PARALLELISM, async (i) => {
      const event = events[i] as BenchEvent;
      tally.sentAt.set(event.id, performance.now());
      await (event.created
        ? publisher.publishUserCreated(event.user, { id: event.id })
        : publisher.publishUserUpdated(event.user, event.changes, { id: event.id }));
    });
    const published = performance.now();
    const finished = await bounded(done.promise);
    const redisUsed = redisTally;
    redisTally = newRedisTally();

    const stats = await bounded(service.getStats());
    const target = stats.by_target[SERVICE];
    if (stats.total_tasks !== n || stats.completed_tasks !== n || !target) {
      throw new Error(`user-sync: stats do not show ${n} completed: ${JSON.stringify(stats)}`);
    }
    if (target.delivered !== tally.received) {
      throw new Error(`user-sync: ${target.delivered} delivered but ${tally.received} requests received`);
    }
    return summarize(
      n,
      started,
      published,
      finished,
      tally,
      `${target.delivered} sent over HTTP, ${target.superseded} superseded (coalesced)` +
        (retried ? `, ${retried} retries` : ''),
      redisUsed,
    );
  } finally {
    await quietly('user-sync service close', () => service.close());
    await quietly('user-sync redis quit', () => redis.quit());
  }
}

// ---------------------------------------------------------------------------------------------
// Baseline: raw BullMQ + got

/** user-sync's delivery job options at the default config, with a built-in backoff type. */
const BASELINE_JOB_OPTIONS: JobsOptions = {
  attempts: 4,
  backoff: { type: 'exponential', delay: 5_000 },
  removeOnComplete: { age: 3_600, count: 10_000 },
  removeOnFail: { age: 7 * 86_400 },
};

/** The body user-sync's http executor sends, field for field (see src/workers/wire.ts). */
function baselineBody(event: BenchEvent, timestamp: string) {
  return {
    task_id: `${event.id}.${SERVICE}`,
    event_id: event.id,
    user_id: event.user.id,
    username: event.user.username ?? null,
    event_type: event.created ? 'user.created' : 'user.updated',
    version: event.version,
    data: { user: event.user, changes: event.changes ?? {} },
    timestamp,
    source: SOURCE,
  };
}

async function runBaseline(receiver: Receiver, events: readonly BenchEvent[]): Promise<RunResult> {
  const n = events.length;
  const prefix = uniquePrefix('bench');
  prefixes.add(prefix);
  const queueName = `raw.${SERVICE}`;
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 20 });
  const workerRedis = redis.duplicate({ maxRetriesPerRequest: null });
  const tally = newTally();
  receiver.tally = tally;
  const done = deferred<number>();
  let completed = 0;
  const agent = new http.Agent({ keepAlive: true });
  const client = got.extend({
    agent: { http: agent },
    retry: { limit: 0 },
    throwHttpErrors: false,
    followRedirect: false,
  });
  const queue = new Queue(queueName, { connection: redis, prefix });
  queue.on('error', () => undefined);
  const worker = new Worker(
    queueName,
    async (job) => {
      const response = await client(receiver.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(job.data),
        responseType: 'buffer',
        timeout: { request: REQUEST_TIMEOUT_MS },
      });
      if (response.statusCode < 200 || response.statusCode >= 300) {
        throw new Error(`HTTP ${response.statusCode}`);
      }
      if (++completed === n) done.resolve(performance.now());
      return { status: response.statusCode };
    },
    { connection: workerRedis, prefix, concurrency: CONCURRENCY },
  );
  worker.on('error', () => undefined);
  worker.on('failed', (job, error) =>
    done.reject(new Error(`baseline: job ${job?.id ?? '?'} failed: ${error.message}`)),
  );
  try {
    await bounded(worker.waitUntilReady());
    redisTally = newRedisTally();
    const started = performance.now();
    await inParallel(n, PUBLISH_PARALLELISM, async (i) => {
      const event = events[i] as BenchEvent;
      tally.sentAt.set(event.id, performance.now());
      await queue.add(
        event.created ? 'user.created' : 'user.updated',
        baselineBody(event, new Date().toISOString()),
        {
          ...BASELINE_JOB_OPTIONS,
          jobId: `${event.id}.${SERVICE}`,
        },
      );
    });
    const published = performance.now();
    const finished = await bounded(done.promise);
    const redisUsed = redisTally;
    redisTally = newRedisTally();
    if (tally.received !== n)
      throw new Error(`baseline: ${n} jobs done but ${tally.received} requests received`);
    return summarize(n, started, published, finished, tally, `${tally.received} sent over HTTP`, redisUsed);
  } finally {
    await quietly('baseline worker close', () => worker.close());
    await quietly('baseline queue close', () => queue.close());
    agent.destroy();
    await quietly('baseline redis quit', () => Promise.all([workerRedis.quit(), redis.quit()]));
  }
}

// ---------------------------------------------------------------------------------------------
// Main

function fmt(value: number, digits = 0): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '-';
}

function printTable(userSync: RunResult, baseline: RunResult): void {
  const header = ['', 'publish/s', 'delivered/s', 'p50 ms', 'p99 ms'];
  const rows = [
    [
      'user-sync',
      fmt(userSync.publishPerSec),
      fmt(userSync.deliveredPerSec),
      fmt(userSync.p50, 1),
      fmt(userSync.p99, 1),
    ],
    [
      'raw BullMQ baseline',
      fmt(baseline.publishPerSec),
      fmt(baseline.deliveredPerSec),
      fmt(baseline.p50, 1),
      fmt(baseline.p99, 1),
    ],
    [
      'ratio user-sync/baseline',
      fmt(userSync.publishPerSec / baseline.publishPerSec, 2),
      fmt(userSync.deliveredPerSec / baseline.deliveredPerSec, 2),
      fmt(userSync.p50 / baseline.p50, 2),
      fmt(userSync.p99 / baseline.p99, 2),
    ],
  ];
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] as string).length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, c) => (c === 0 ? cell.padEnd(widths[c] as number) : cell.padStart(widths[c] as number)))
      .join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
  console.log('');
  console.log(`user-sync: ${userSync.notes}`);
  console.log(`baseline:  ${baseline.notes}`);
  console.log('');
  const perEvent = (r: RunResult, value: number) => fmt(value / r.n, 2);
  console.log(
    `Redis per event (all connections, first publish to last delivery): ` +
      `user-sync ${perEvent(userSync, userSync.redis.roundTrips)} round trips / ` +
      `${perEvent(userSync, userSync.redis.commands)} commands, ` +
      `baseline ${perEvent(baseline, baseline.redis.roundTrips)} / ${perEvent(baseline, baseline.redis.commands)}`,
  );
  if (TRACE) {
    const names = [...new Set([...userSync.redis.byName.keys(), ...baseline.redis.byName.keys()])].sort();
    const width = Math.max(...names.map((name) => name.length));
    console.log(`${'command or script'.padEnd(width)}  user-sync/event  baseline/event`);
    for (const name of names) {
      console.log(
        `${name.padEnd(width)}  ${perEvent(userSync, userSync.redis.byName.get(name) ?? 0).padStart(15)}  ` +
          perEvent(baseline, baseline.redis.byName.get(name) ?? 0).padStart(14),
      );
    }
  }
}

async function main(): Promise<void> {
  console.log('delivery benchmark: user-sync vs raw BullMQ + got');
  console.log(
    `node ${process.version}, N=${N} events, ${USERS} users, concurrency ${CONCURRENCY}, ` +
      `publish parallelism ${PUBLISH_PARALLELISM}, warm-up ${WARMUP} events, redis ${redactUrl(REDIS_URL)}`,
  );
  const admin = new Redis(REDIS_URL, { maxRetriesPerRequest: 3, lazyConnect: true });
  let receiver: Receiver | undefined;
  let failed = false;
  try {
    await bounded(admin.connect());
    receiver = await startReceiver();
    const cleanUp = async () => {
      for (const prefix of prefixes) {
        await deletePrefix(admin, prefix);
        prefixes.delete(prefix);
      }
    };
    if (WARMUP > 0) {
      const warm = workload(WARMUP, Math.max(1, Math.ceil(WARMUP / (N / USERS))));
      await runUserSync(receiver, warm);
      await runBaseline(receiver, warm);
      await bounded(cleanUp());
    }
    const events = workload(N, USERS);
    const userSync = await runUserSync(receiver, events);
    await bounded(cleanUp());
    const baseline = await runBaseline(receiver, events);
    console.log('');
    printTable(userSync, baseline);
  } catch (error) {
    failed = true;
    console.error(`\n${(error as Error).message}`);
  } finally {
    if (receiver) await quietly('receiver close', () => (receiver as Receiver).close());
    await quietly('delete keys', async () => {
      for (const prefix of prefixes) await deletePrefix(admin, prefix);
    });
    await quietly('redis quit', () => admin.quit());
    deadline.clear();
  }
  if (failed) process.exit(1);
}

// A last resort if cleanup itself hangs after the deadline.
setTimeout(() => {
  console.error('benchmark: cleanup did not finish in time; exiting');
  process.exit(1);
}, TIMEOUT_MS + 30_000).unref();

await main();
