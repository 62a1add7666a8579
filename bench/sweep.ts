/**
 * Consistency sweep benchmark: users checked per second by user-sync's sweep, against a Redis
 * target and against an HTTP target with bulk state, beside the raw cost of the same Redis
 * reads done directly, in one run on the same Redis and the same keys.
 *
 *   npm run bench:sweep                 # N=100,000 users
 *   BENCH_USERS=20000 npm run bench:sweep
 *
 * The ledger is written directly (not published): for each user the hash
 * `<prefix>:ledger:<id>` with the fields PUBLISH_RESERVE writes (v, type, eid, snap, del, ts)
 * and its member in `<prefix>:users`, with pipelines. Versions are 1..3; 2% of the users are
 * deleted. The Redis target (on the same Redis, keys `<prefix>:cache:user:{id}`) holds every
 * live user at the ledger's version as `{"version","user","updatedAt"}` JSON, the way the redis
 * executor writes it. 1% of the users drift, in equal parts: missing from the target, an older
 * version there, or held there although the ledger deleted them. The HTTP target is a
 * node:http server on 127.0.0.1 answering `POST {"ids"}` with `{"versions"}` from an
 * in-memory Map of the same versions.
 *
 * Rows, each over the whole ledger:
 * - user-sync (redis target): `service.runSweep()`, autoRepair off, one run covering every
 *   user (maxUsersPerRun > N, maxRunTime long), chunks of 500;
 * - user-sync (http bulk state): the same with the HTTP target (bulk batches of 500);
 * - raw pipelined reads: the same Redis reads without user-sync: ZRANGEBYLEX of the users
 *   sorted set in chunks of 500, then per chunk one pipeline of HMGET v, del, type of the
 *   ledger hashes and one pipeline of GET of the target keys. Reads only: it does not parse
 *   the target's JSON, compare, count, or save a cursor, which the sweep does.
 * users/s is users divided by the wall time of the run; "ratio" is the row's rate over the raw
 * one. The figures of every sweep are checked against the drift injected.
 *
 * Memory: process.memoryUsage() is sampled every 100 ms during each row (and when it ends);
 * the table shows heapUsed at the start (after a full GC), its peak and the growth (garbage
 * included: the peak depends on when V8 chooses to collect), what is still live once the row
 * is done (after a full GC), and peak RSS. Then each row runs once more, untimed, with a full
 * GC each time another quarter of the users has been checked: the live heap at those points
 * is what the walk holds, and stays flat when at most a chunk is held. The whole thing runs
 * again on a ledger of N/4 users to compare.
 * Everything (HTTP receiver included) runs in this one process.
 *
 * Each pass is preceded by a short untimed warm-up of each row. Every run uses its own key
 * prefixes (`{us-bench-sweep-<random>}`) and deletes its keys when done. The whole run is
 * bounded by BENCH_TIMEOUT_MS (default 180 s).
 */
import { envInt, quietly, serveLocally, startDeadline } from './common.js';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Redis } from 'ioredis';
import {
  EventType,
  UserSyncService,
  createLogger,
  type SweepRun,
  type SyncConfigInput,
} from '../src/index.js';
import { partitionKeys as keysOf, type Keys } from '../src/jobs/names.js';
import { redactUrl } from '../src/redact.js';
import { TEST_REDIS_URL, deletePrefix, uniquePrefix } from '../test/helpers/redis.js';

// ---------------------------------------------------------------------------------------------
// Settings

const N = envInt('BENCH_USERS', 100_000, 100);
const TIMEOUT_MS = envInt('BENCH_TIMEOUT_MS', 180_000);
const CHUNK = 500;
/** Users per pipeline while writing the data. */
const WRITE_BATCH = 1_000;
const WRITE_PIPELINES_IN_FLIGHT = 4;
const SAMPLE_MS = 100;
const REDIS_URL = TEST_REDIS_URL;
const SERVICE = 'cache';
const MB = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Time bound: one deadline for the whole run; Ctrl-C stops the same way.

const deadline = startDeadline(TIMEOUT_MS);
const abort = { signal: deadline.signal };
const { bounded } = deadline;

/** A full GC before each row, so that "heap at start" is what is live; none if V8 refuses. */
const forcedGc: (() => void) | undefined = (() => {
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc: unknown = vm.runInNewContext('gc');
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    return undefined; // no forced GC: the start figure then includes garbage
  }
})();

// ---------------------------------------------------------------------------------------------
// The data: a ledger of n users, a Redis target and an HTTP target's versions, with drift.

type Drift = 'missing' | 'stale' | 'extra';

interface Expected {
  in_sync: number;
  missing: number;
  stale: number;
  extra: number;
}

interface Dataset {
  n: number;
  prefix: string;
  keys: Keys;
  keyTemplate: string;
  /** What the HTTP target holds: user id → version (absent: holds nothing). */
  held: Map<string, number>;
  expected: Expected;
}

/** User i's ledger entry and what the targets hold of it. Deterministic. */
function userAt(i: number): { v: number; deleted: boolean; held: number | null; drift?: Drift } {
  if (i % 100 === 0) {
    // 1% drift, in equal parts.
    const drift = (['missing', 'stale', 'extra'] as const)[(i / 100) % 3] as Drift;
    if (drift === 'missing') return { v: 1 + (i % 3), deleted: false, held: null, drift };
    if (drift === 'stale') return { v: 3, deleted: false, held: 2, drift };
    return { v: 2, deleted: true, held: 1, drift }; // holds a user the ledger deleted
  }
  const v = 1 + (i % 3);
  if (i % 50 === 7) return { v, deleted: true, held: null }; // deleted, and gone from the target
  return { v, deleted: false, held: v };
}

function snapshot(i: number, v: number) {
  return {
    id: i,
    username: v === 1 ? `user${i}` : `user${i}_${v}`,
    email: `user${i}@example.com`,
    role: 'member',
    status: 'active',
  };
}

async function buildDataset(redis: Redis, n: number, prefixes: Set<string>): Promise<Dataset> {
  const prefix = uniquePrefix('bench-sweep');
  prefixes.add(prefix);
  const keys = keysOf(prefix);
  const keyTemplate = `${prefix}:cache:user:{id}`;
  const held = new Map<string, number>();
  const expected: Expected = { in_sync: 0, missing: 0, stale: 0, extra: 0 };
  const now = new Date().toISOString();
  let next = 1;
  const writeBatch = async () => {
    while (next <= n) {
      if (abort.signal.aborted) throw abort.signal.reason as Error;
      const from = next;
      const to = Math.min(n, from + WRITE_BATCH - 1);
      next = to + 1;
      const pipeline = redis.pipeline();
      const members: Array<number | string> = [];
      for (let i = from; i <= to; i++) {
        const id = String(i);
        const user = userAt(i);
        const type = user.deleted
          ? EventType.UserDeleted
          : user.v === 1
            ? EventType.UserCreated
            : EventType.UserUpdated;
        pipeline.hset(keys.ledger(id), {
          v: String(user.v),
          type,
          eid: `bench-${i}-v${user.v}`,
          snap: JSON.stringify(user.deleted ? { id: i } : snapshot(i, user.v)),
          del: user.deleted ? '1' : '0',
          ts: now,
        });
        members.push(0, id);
        if (user.held !== null) {
          pipeline.set(
            keyTemplate.replace('{id}', id),
            JSON.stringify({ version: user.held, user: snapshot(i, user.held), updatedAt: now }),
          );
          held.set(id, user.held);
        }
        expected[user.drift ?? 'in_sync']++;
      }
      pipeline.zadd(keys.users, ...members);
      const replies = (await pipeline.exec()) ?? [];
      const failed = replies.find(([error]) => error);
      if (failed) throw failed[0] as Error;
    }
  };
  await bounded(Promise.all(Array.from({ length: WRITE_PIPELINES_IN_FLIGHT }, writeBatch)));
  return { n, prefix, keys, keyTemplate, held, expected };
}

// ---------------------------------------------------------------------------------------------
// The HTTP target: bulk state from an in-memory Map.

interface StateServer {
  origin: string;
  /** The versions answered now (one dataset at a time). */
  held: Map<string, number>;
  requests: number;
  close(): Promise<void>;
}

async function startStateServer(): Promise<StateServer> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/state/bulk') {
        res.writeHead(404).end();
        return;
      }
      state.requests++;
      let ids: unknown;
      try {
        ids = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { ids?: unknown }).ids;
      } catch {
        ids = undefined;
      }
      if (!Array.isArray(ids)) {
        res.writeHead(400).end();
        return;
      }
      const versions: Record<string, number | null> = {};
      for (const id of ids) versions[String(id)] = state.held.get(String(id)) ?? null;
      const body = JSON.stringify({ versions });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  const { origin, close } = await serveLocally(server);
  const state: StateServer = { origin, held: new Map(), requests: 0, close };
  return state;
}

// ---------------------------------------------------------------------------------------------
// Measuring

interface Memory {
  heapStart: number;
  heapPeak: number;
  rssPeak: number;
  /**
   * heapUsed when each further quarter of the users had been checked: in a `live` run, right
   * after a full GC there (what the walk holds at that point), else as it is.
   */
  heapByQuarter: number[];
  /** heapUsed once the row is done, after a full GC: what it left live. */
  heapAfter: number;
}

/** How a row runs: timed over the whole ledger, or over its first `limit` users (warm-up), or untimed with a full GC at each quarter (`live`). */
interface RunMode {
  limit?: number;
  live?: boolean;
}

/** Samples the process's memory every SAMPLE_MS until stopped. */
function memoryProbe(n: number, live = false) {
  forcedGc?.();
  const start = process.memoryUsage();
  const memory: Memory = {
    heapStart: start.heapUsed,
    heapPeak: start.heapUsed,
    rssPeak: start.rss,
    heapByQuarter: [],
    heapAfter: Number.NaN,
  };
  const sample = () => {
    const now = process.memoryUsage();
    memory.heapPeak = Math.max(memory.heapPeak, now.heapUsed);
    memory.rssPeak = Math.max(memory.rssPeak, now.rss);
    return now;
  };
  const timer = setInterval(sample, SAMPLE_MS);
  return {
    memory,
    /** Notes the heap when `checked` crosses the next quarter of n. */
    progress(checked: number): void {
      while (memory.heapByQuarter.length < 4 && checked >= (n * (memory.heapByQuarter.length + 1)) / 4) {
        if (live) forcedGc?.();
        memory.heapByQuarter.push(sample().heapUsed);
      }
    },
    stop(): Memory {
      clearInterval(timer);
      sample();
      forcedGc?.();
      memory.heapAfter = process.memoryUsage().heapUsed;
      return memory;
    },
  };
}

interface RowResult {
  users: number;
  seconds: number;
  perSec: number;
  memory: Memory;
  notes: string;
}

function sweepService(data: Dataset, target: SyncConfigInput['targets'], maxUsers: number): UserSyncService {
  return new UserSyncService(
    {
      prefix: data.prefix,
      autoRepair: false,
      timeout: 30_000,
      sweep: { chunkSize: CHUNK, maxUsersPerRun: maxUsers, maxRunTime: TIMEOUT_MS },
      targets: target,
    },
    REDIS_URL,
    { logger: createLogger({ silent: true }) },
  );
}

function checkFigures(label: string, run: SweepRun, data: Dataset): void {
  const figures = run.targets[SERVICE];
  const problems: string[] = [];
  if (run.stoppedBy !== 'end' || !run.passCompleted) problems.push(`stopped by ${run.stoppedBy}`);
  if (run.usersChecked !== data.n) problems.push(`${run.usersChecked} users checked, not ${data.n}`);
  if (!figures) problems.push('no figures for the target');
  else {
    for (const [name, value] of Object.entries(data.expected) as Array<[keyof Expected, number]>) {
      if (figures[name] !== value) problems.push(`${name} ${figures[name]}, injected ${value}`);
    }
    if (figures.unreachable || figures.unchecked || figures.filtered || figures.repairs) {
      problems.push(`unexpected figures ${JSON.stringify(figures)}`);
    }
  }
  if (run.error) problems.push(run.error);
  if (problems.length > 0) throw new Error(`${label}: the sweep's figures are wrong: ${problems.join('; ')}`);
}

/**
 * One sweep through user-sync: over the whole ledger (maxUsersPerRun above N, so that the run
 * ends at the end of the ledger), or over the first `mode.limit` users (warm-up).
 */
async function runUserSync(
  label: string,
  data: Dataset,
  target: SyncConfigInput['targets'],
  mode: RunMode = {},
): Promise<RowResult> {
  const { limit } = mode;
  const service = sweepService(data, target, limit ?? data.n + CHUNK);
  try {
    await bounded(service.deployment.redis.del(data.keys.sweepCursor));
    const probe = memoryProbe(data.n, mode.live);
    const started = performance.now();
    const run = await bounded(
      service.runSweep({
        signal: abort.signal,
        onProgress: ({ usersChecked }) => probe.progress(usersChecked),
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    probe.progress(run?.usersChecked ?? 0);
    const memory = probe.stop();
    if (!run) throw new Error(`${label}: another sweep holds the lock`);
    if (abort.signal.aborted) throw abort.signal.reason as Error;
    if (limit === undefined) checkFigures(label, run, data);
    return {
      users: run.usersChecked,
      seconds,
      perSec: run.usersChecked / seconds,
      memory,
      notes: `${run.chunks} chunks, ${run.durationMs} ms by the run's own clock`,
    };
  } finally {
    await quietly(`${label} service close`, () => service.close());
  }
}

/** The same Redis reads, done directly: the baseline. */
async function runRaw(redis: Redis, target: Redis, data: Dataset, mode: RunMode = {}): Promise<RowResult> {
  const limit = mode.limit ?? Infinity;
  const probe = memoryProbe(data.n, mode.live);
  const started = performance.now();
  let cursor = '';
  let users = 0;
  let chunks = 0;
  let found = 0;
  for (;;) {
    if (abort.signal.aborted) throw abort.signal.reason as Error;
    const size = Math.min(CHUNK, limit - users);
    if (size <= 0) break;
    const ids = await bounded(
      redis.zrangebylex(data.keys.users, cursor === '' ? '-' : `(${cursor}`, '+', 'LIMIT', 0, size),
    );
    if (ids.length > 0) {
      const ledger = redis.pipeline();
      for (const id of ids) ledger.hmget(data.keys.ledger(id), 'v', 'del', 'type');
      const ledgerRows = (await bounded(ledger.exec())) ?? [];
      const held = target.pipeline();
      for (const id of ids) held.get(data.keyTemplate.replace('{id}', id));
      const heldRows = (await bounded(held.exec())) ?? [];
      if (ledgerRows.length !== ids.length || heldRows.length !== ids.length) {
        throw new Error('raw: a pipeline returned fewer replies than commands');
      }
      for (const [error, value] of heldRows) {
        if (error) throw error;
        if (value !== null) found++;
      }
      users += ids.length;
      chunks++;
      cursor = ids[ids.length - 1] as string;
      probe.progress(users);
    }
    if (ids.length < size) break;
  }
  const seconds = (performance.now() - started) / 1000;
  const memory = probe.stop();
  if (limit === Infinity) {
    if (users !== data.n) throw new Error(`raw: walked ${users} users, not ${data.n}`);
    if (found !== data.held.size) throw new Error(`raw: read ${found} target keys, not ${data.held.size}`);
  }
  return {
    users,
    seconds,
    perSec: users / seconds,
    memory,
    notes: `${chunks} chunks, ${found} target keys read`,
  };
}

interface PassResult {
  data: Dataset;
  redisRow: RowResult;
  httpRow: RowResult;
  rawRow: RowResult;
  /** The same three, untimed, with a full GC at each quarter of the users. */
  live: { redis: Memory; http: Memory; raw: Memory };
  httpRequests: number;
}

async function runPass(
  data: Dataset,
  redis: Redis,
  target: Redis,
  stateServer: StateServer,
): Promise<PassResult> {
  stateServer.held = data.held;
  const redisTarget: SyncConfigInput['targets'] = [
    { service: SERVICE, url: REDIS_URL, keyTemplate: data.keyTemplate, timeoutMs: 30_000 },
  ];
  const httpTarget: SyncConfigInput['targets'] = [
    {
      service: SERVICE,
      url: `${stateServer.origin}/webhooks/users`,
      timeoutMs: 30_000,
      state: { bulkUrl: `${stateServer.origin}/state/bulk`, batchSize: CHUNK },
    },
  ];
  // Warm-up, untimed: a few thousand users through each path.
  const warm = Math.min(data.n, 5_000);
  await runUserSync('warm-up redis', data, redisTarget, { limit: warm });
  await runUserSync('warm-up http', data, httpTarget, { limit: warm });
  await runRaw(redis, target, data, { limit: warm });

  const redisRow = await runUserSync('user-sync (redis target)', data, redisTarget);
  const before = stateServer.requests;
  const httpRow = await runUserSync('user-sync (http bulk state)', data, httpTarget);
  const httpRequests = stateServer.requests - before;
  const rawRow = await runRaw(redis, target, data);

  // What each walk holds live as it goes: untimed runs with a full GC at each quarter.
  const live = forcedGc
    ? {
        redis: (await runUserSync('live heap redis', data, redisTarget, { live: true })).memory,
        http: (await runUserSync('live heap http', data, httpTarget, { live: true })).memory,
        raw: (await runRaw(redis, target, data, { live: true })).memory,
      }
    : { redis: redisRow.memory, http: httpRow.memory, raw: rawRow.memory };
  return { data, redisRow, httpRow, rawRow, live, httpRequests };
}

// ---------------------------------------------------------------------------------------------
// Output

const fmt = (value: number, digits = 0) => (Number.isFinite(value) ? value.toFixed(digits) : '-');
const mb = (bytes: number) => fmt(bytes / MB, 1);

function printPass(pass: PassResult): void {
  const { data } = pass;
  const raw = pass.rawRow.perSec;
  const header = [
    '',
    'users/s',
    'ratio to raw',
    'heap start MB',
    'heap peak MB',
    'growth MB',
    'live after MB',
    'peak RSS MB',
  ];
  const rows: Array<[string, RowResult, Memory]> = [
    ['user-sync (redis target)', pass.redisRow, pass.live.redis],
    ['user-sync (http bulk state)', pass.httpRow, pass.live.http],
    ['raw pipelined reads', pass.rawRow, pass.live.raw],
  ];
  const cells = rows.map(([label, r]) => [
    label,
    fmt(r.perSec),
    fmt(r.perSec / raw, 2),
    mb(r.memory.heapStart),
    mb(r.memory.heapPeak),
    mb(r.memory.heapPeak - r.memory.heapStart),
    mb(r.memory.heapAfter),
    mb(r.memory.rssPeak),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...cells.map((r) => (r[c] as string).length)));
  const line = (row: readonly string[]) =>
    row
      .map((cell, c) => (c === 0 ? cell.padEnd(widths[c] as number) : cell.padStart(widths[c] as number)))
      .join('  ');
  const drifted = data.expected.missing + data.expected.stale + data.expected.extra;
  console.log(
    `\n${data.n.toLocaleString('en-US')} users (${drifted} drifted: ${data.expected.missing} missing, ` +
      `${data.expected.stale} stale, ${data.expected.extra} extra; ${data.expected.in_sync} in sync)`,
  );
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of cells) console.log(line(row));
  console.log('');
  for (const [label, r] of rows) {
    console.log(`${label.padEnd(widths[0] as number)}  ${fmt(r.seconds, 2)} s; ${r.notes}`);
  }
  if (forcedGc) {
    console.log('live heap (after a full GC) at the start and at each quarter of the users, MB:');
    for (const [label, , live] of rows) {
      console.log(
        `  ${label.padEnd(widths[0] as number)}  ${[live.heapStart, ...live.heapByQuarter].map(mb).join(' / ')}`,
      );
    }
  }
  console.log(
    `http state: ${pass.httpRequests} bulk requests of up to ${CHUNK} ids; ` +
      'both sweeps reported exactly the drift injected',
  );
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  console.log('consistency sweep benchmark: user-sync vs the same Redis reads done directly');
  console.log(
    `node ${process.version}, N=${N} users and a second pass of N/4=${Math.floor(N / 4)}, chunks of ${CHUNK}, ` +
      `redis ${redactUrl(REDIS_URL)}, memory sampled every ${SAMPLE_MS} ms` +
      (forcedGc ? ', full GC before each row' : ', no forced GC available'),
  );
  const prefixes = new Set<string>();
  const admin = new Redis(REDIS_URL, { maxRetriesPerRequest: 3, lazyConnect: true });
  // The raw side's target connection is its own, as the redis executor's is.
  const target = new Redis(REDIS_URL, { maxRetriesPerRequest: 3, lazyConnect: true });
  let stateServer: StateServer | undefined;
  let failed = false;
  try {
    await bounded(Promise.all([admin.connect(), target.connect()]));
    stateServer = await startStateServer();
    const passes: PassResult[] = [];
    for (const n of [N, Math.floor(N / 4)]) {
      const built = performance.now();
      const data = await buildDataset(admin, n, prefixes);
      console.log(
        `built a ledger of ${n} users and its targets in ${fmt((performance.now() - built) / 1000, 1)} s`,
      );
      passes.push(await runPass(data, admin, target, stateServer));
      // Done with this ledger: free its keys and the HTTP target's Map before the next pass.
      data.held = new Map();
      stateServer.held = new Map();
      await bounded(deletePrefix(admin, data.prefix));
      prefixes.delete(data.prefix);
    }
    for (const pass of passes) printPass(pass);
    const [full] = passes as [PassResult];
    const ratio = Math.min(full.redisRow.perSec, full.httpRow.perSec) / full.rawRow.perSec;
    console.log(
      `\naim: at least half the raw rate; lowest user-sync ratio at N=${N}: ${fmt(ratio, 2)} ` +
        `(${ratio >= 0.5 ? 'met' : 'NOT met'})`,
    );
  } catch (error) {
    failed = true;
    console.error(`\n${(error as Error).message}`);
  } finally {
    if (stateServer) await quietly('state server close', () => (stateServer as StateServer).close());
    await quietly('delete keys', async () => {
      for (const prefix of prefixes) await deletePrefix(admin, prefix);
    });
    await quietly('redis quit', () => Promise.all([admin.quit(), target.quit()]));
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
