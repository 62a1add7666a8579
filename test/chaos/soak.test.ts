/**
 * A bounded soak under faults: a steady stream of user events goes to two HTTP receivers and a
 * Redis cache through three worker processes, while workers are killed (SIGKILL) or stopped
 * (SIGTERM) and replaced, the Redis server is killed and restarted (AOF, appendfsync always),
 * and one receiver fails a share of its requests and goes down for a while. Then everything is
 * healed, the queues drain, and the guarantees are checked: every target holds exactly the
 * ledger's latest version of every user, no receiver ever accepted an older version after a
 * newer one, nothing was dead-lettered without a reason, and the counters add up.
 *
 * `npm run test:chaos`; CHAOS_SECONDS (default 60) sets how long events are published,
 * CHAOS_SEED replays a run (the seed is printed), CHAOS_RATE sets events per second (default
 * 50), CHAOS_KEEP_LOGS=1 keeps the worker logs (JSON, one line per delivery outcome).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import {
  UserEventPublisher,
  UserSyncService,
  ValidationError,
  createLogger,
  deliveryQueueName,
  parseConfig,
  type PublishResult,
  type SyncConfigInput,
  type UserSnapshot,
} from '../../src/index.js';
import { isLedgerRecord, parseLedger } from '../../src/jobs/ledger.js';
import { partitionKeys as keys } from '../../src/jobs/names.js';
import { ROOT, requireBuild, spawnScript, type CliProcess } from '../helpers/cli.js';
import { uniquePrefix, waitFor } from '../helpers/redis.js';
import { startOwnRedis, type OwnRedis } from '../helpers/redis-server.js';
import { VersionedReceiver, type OutageMode } from './receiver.js';

const SECONDS = Number(process.env.CHAOS_SECONDS ?? 60);
const SEED = process.env.CHAOS_SEED ? Number(process.env.CHAOS_SEED) : Math.floor(Math.random() * 2 ** 31);
const RATE = Number(process.env.CHAOS_RATE ?? 50);
const KEEP_LOGS = process.env.CHAOS_KEEP_LOGS === '1';
const USERS = 200;
const WORKERS = 3;
const DRAIN_TIMEOUT_MS = 60_000;
/** How long a publish is retried (same event id) while Redis is down before the soak gives up. */
const PUBLISH_RETRY_MS = 30_000;
const B_FAILURE_RATE = 0.2;
const RECEIVER_LATENCY_MS = 30;
const FIXTURE = path.join(ROOT, 'test/fixtures/soak-worker.mjs');
const SERVICES = ['recv-a', 'recv-b', 'cache'] as const;
const STATUSES = ['active', 'inactive', 'pending', 'suspended'] as const;

const log = (message: string) => process.stderr.write(`[chaos] ${message}\n`);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));
const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** mulberry32: a small seeded PRNG, so that a failing run can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(items: readonly T[], random: () => number): T {
  return items[Math.floor(random() * items.length)] as T;
}

// ---------------------------------------------------------------------------------------------
// Worker processes

interface WorkerProcess {
  id: number;
  proc: CliProcess;
  /** Set before the test ends it on purpose; an exit without it is a crash. */
  expectedExit: boolean;
  ready: boolean;
}

interface UnexpectedExit {
  worker: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** The worker processes: start, kill, stop gracefully; replaces any that dies on its own. */
class WorkerPool {
  live: WorkerProcess[] = [];
  started = 0;
  readonly unexpected: UnexpectedExit[] = [];
  readonly replacementErrors: string[] = [];
  private closing = false;
  private replacing: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly env: Record<string, string>,
    private readonly logDir: string,
  ) {}

  async spawn(): Promise<WorkerProcess> {
    const id = ++this.started;
    const proc = spawnScript(FIXTURE, [], {
      env: { ...this.env, SOAK_LOG_FILE: path.join(this.logDir, `worker-${id}.log`) },
    });
    const worker: WorkerProcess = { id, proc, expectedExit: false, ready: false };
    this.live.push(worker);
    proc.child.once('exit', (code, signal) => {
      this.live = this.live.filter((w) => w !== worker);
      if (worker.expectedExit || this.closing) return;
      this.unexpected.push({ worker: id, code, signal, stderr: proc.stderr().slice(-3000) });
      log(`worker ${id} exited on its own (code ${code}, signal ${signal}): starting a replacement`);
      this.replacing = this.replacing.then(() =>
        this.spawn().catch((error: unknown) => this.replacementErrors.push(errorText(error))),
      );
    });
    await proc.waitForOutput(/^ready$/m, 30_000);
    worker.ready = true;
    return worker;
  }

  victim(random: () => number): WorkerProcess | undefined {
    const ready = this.live.filter((w) => w.ready && !w.expectedExit).sort((a, b) => a.id - b.id);
    return ready.length ? pick(ready, random) : undefined;
  }

  async kill(worker: WorkerProcess): Promise<void> {
    worker.expectedExit = true;
    worker.proc.kill();
    await worker.proc.exited(10_000);
  }

  /** SIGTERM; resolves with how it exited and how long it took. */
  async terminate(worker: WorkerProcess): Promise<{ ms: number; code: number | null; stdout: string }> {
    worker.expectedExit = true;
    const started = Date.now();
    worker.proc.child.kill('SIGTERM');
    const result = await worker.proc.exited(15_000);
    return { ms: Date.now() - started, code: result.code, stdout: result.stdout };
  }

  /** Waits for replacements in progress, then starts workers until `count` run. */
  async topUp(count: number): Promise<void> {
    await this.replacing;
    while (this.live.filter((w) => !w.expectedExit).length < count) await this.spawn();
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(
      this.live.map(async (w) => {
        w.expectedExit = true;
        w.proc.kill();
        await w.proc.exited(10_000).catch(() => undefined);
      }),
    );
    this.live = [];
  }
}

// ---------------------------------------------------------------------------------------------
// Events

interface ModelUser {
  /** Latest version whose publish resolved. */
  version: number;
  exists: boolean;
  snapshot: UserSnapshot;
}

type Kind = 'created' | 'updated' | 'status_changed' | 'deleted';

interface PlannedEvent {
  id: string;
  kind: Kind;
  userId: number;
  version: number;
  user: UserSnapshot;
  changes?: Record<string, unknown>;
  oldStatus?: string;
  timestamp: string;
}

/** Creates, updates, status changes and deletes over USERS users, each with the next version. */
class EventSource {
  readonly model = new Map<number, ModelUser>();
  private seq = 0;

  constructor(private readonly random: () => number) {}

  next(): PlannedEvent {
    const userId = 1 + Math.floor(this.random() * USERS);
    const current = this.model.get(userId) ?? { version: 0, exists: false, snapshot: { id: userId } };
    // The source row's version: usually the next one, sometimes with a gap.
    const version = current.version + (this.random() < 0.1 ? 2 : 1);
    const id = `soak-${SEED.toString(36)}-${String(++this.seq).padStart(7, '0')}`;
    const timestamp = new Date().toISOString();
    const base = { id, userId, version, timestamp };
    if (!current.exists) {
      return {
        ...base,
        kind: 'created',
        user: {
          id: userId,
          username: `user${userId}`,
          email: `user${userId}.v${version}@example.com`,
          role: 'member',
          status: 'active',
        },
      };
    }
    const r = this.random();
    if (r < 0.5) {
      const email = `user${userId}.v${version}@example.com`;
      const role =
        this.random() < 0.2 ? pick(['member', 'admin', 'guest'], this.random) : current.snapshot.role;
      return { ...base, kind: 'updated', user: { ...current.snapshot, email, role }, changes: { email } };
    }
    if (r < 0.8) {
      const status = pick(
        STATUSES.filter((s) => s !== current.snapshot.status),
        this.random,
      );
      return {
        ...base,
        kind: 'status_changed',
        user: { ...current.snapshot, status },
        oldStatus: String(current.snapshot.status),
      };
    }
    return { ...base, kind: 'deleted', user: { ...current.snapshot } };
  }

  /** Records an event whose publish resolved. */
  resolved(event: PlannedEvent): void {
    this.model.set(event.userId, {
      version: event.version,
      exists: event.kind !== 'deleted',
      snapshot: event.user,
    });
  }
}

function publishOnce(publisher: UserEventPublisher, e: PlannedEvent): Promise<PublishResult> {
  const options = { id: e.id, version: e.version, timestamp: e.timestamp };
  switch (e.kind) {
    case 'created':
      return publisher.publishUserCreated(e.user, options);
    case 'updated':
      return publisher.publishUserUpdated(e.user, e.changes, options);
    case 'status_changed':
      return publisher.publishUserStatusChanged(e.user, e.oldStatus, options);
    case 'deleted':
      return publisher.publishUserDeleted(e.user, options);
  }
}

// ---------------------------------------------------------------------------------------------
// Faults

type FaultKind = 'kill-worker' | 'term-worker' | 'kill-redis' | 'outage-b';

interface FaultRecord {
  at: number;
  kind: FaultKind;
  detail: string;
}

/** The faults of a run: more of them in longer runs, at seeded random moments, spread out. */
function faultPlan(seconds: number, random: () => number): Array<{ atMs: number; kind: FaultKind }> {
  const kinds: FaultKind[] = [
    ...Array<FaultKind>(Math.max(1, Math.round(seconds / 25))).fill('kill-worker'),
    ...Array<FaultKind>(Math.max(1, Math.round(seconds / 30))).fill('term-worker'),
    ...Array<FaultKind>(seconds >= 45 ? 2 : 1).fill('kill-redis'),
    'outage-b',
  ];
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [kinds[i], kinds[j]] = [kinds[j] as FaultKind, kinds[i] as FaultKind];
  }
  // One slot each between 10 % and 85 % of the run, at a random point in its first 60 %.
  const slot = (0.75 * seconds * 1000) / kinds.length;
  return kinds.map((kind, i) => ({
    kind,
    atMs: Math.round(0.1 * seconds * 1000 + i * slot + random() * slot * 0.6),
  }));
}

// ---------------------------------------------------------------------------------------------

describe('chaos soak', () => {
  let redisServer: OwnRedis | undefined;
  let pubRedis: Redis | undefined;
  let readRedis: Redis | undefined;
  let publisher: UserEventPublisher | undefined;
  let reader: UserSyncService | undefined;
  let pool: WorkerPool | undefined;
  const receivers: VersionedReceiver[] = [];
  let logDir: string | undefined;
  let stopped = false;

  beforeAll(() => requireBuild());

  async function cleanup(): Promise<void> {
    stopped = true;
    const steps: Array<[string, () => Promise<unknown> | undefined]> = [
      ['workers', () => pool?.close()],
      ['publisher', () => publisher?.close()],
      ['reader', () => reader?.close()],
      ['receivers', () => Promise.all(receivers.map((r) => r.close()))],
      ['redis clients', async () => (pubRedis?.disconnect(), readRedis?.disconnect())],
      ['redis-server', () => redisServer?.destroy()],
    ];
    for (const [what, step] of steps) {
      try {
        await step();
      } catch (error) {
        log(`cleanup of ${what} failed: ${errorText(error)}`);
      }
    }
    pool = publisher = reader = pubRedis = readRedis = redisServer = undefined;
    receivers.length = 0;
    if (logDir) {
      if (KEEP_LOGS) log(`worker logs kept in ${logDir}`);
      else rmSync(logDir, { recursive: true, force: true });
      logDir = undefined;
    }
  }

  afterAll(cleanup);

  it(
    `keeps every target at the ledger's latest version through faults (${SECONDS} s)`,
    async () => {
      log(`seed ${SEED} (replay: CHAOS_SEED=${SEED} CHAOS_SECONDS=${SECONDS} npm run test:chaos -- soak)`);
      const eventRandom = prng(SEED);
      const faultRandom = prng(SEED ^ 0x9e3779b9);
      const receiverRandom = prng(SEED ^ 0x85ebca6b);

      redisServer = await startOwnRedis();
      const redisUrl = redisServer.url;
      logDir = mkdtempSync(path.join(tmpdir(), 'user-sync-chaos-'));
      const prefix = uniquePrefix('chaos');
      const k = keys(prefix);
      const secrets = [0, 1].map(() => `whsec_${randomBytes(32).toString('base64')}`);
      const recvA = new VersionedReceiver('recv-a', secrets[0] as string, prng(SEED ^ 0x27d4eb2f));
      const recvB = new VersionedReceiver('recv-b', secrets[1] as string, receiverRandom);
      receivers.push(recvA, recvB);
      await Promise.all(receivers.map((r) => r.listen()));
      // Some latency, so that deliveries are in flight when a worker is killed.
      for (const r of receivers) r.maxLatencyMs = RECEIVER_LATENCY_MS;
      recvB.failureRate = B_FAILURE_RATE;
      const cacheTemplate = `${prefix}:cache:user:{id}`;
      const cacheKey = (id: string | number) => cacheTemplate.replace('{id}', String(id));

      const configInput: SyncConfigInput = {
        prefix,
        redisUrl,
        workers: 4,
        maxRetries: 50,
        retryInterval: 100,
        maxRetryInterval: 1_000,
        lockDuration: 1_000,
        shutdownTimeout: 500,
        timeout: 2_000,
        targets: [
          { service: 'recv-a', url: recvA.url, secrets: [secrets[0] as string] },
          { service: 'recv-b', url: recvB.url, secrets: [secrets[1] as string] },
          { service: 'cache', url: redisUrl, keyTemplate: cacheTemplate },
        ],
      };
      const config = parseConfig(configInput);
      const silent = createLogger({ silent: true });
      // The publisher fails fast while Redis is down (its publishes are retried below); the
      // reader only reads figures at the end.
      pubRedis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
      pubRedis.on('error', () => undefined);
      readRedis = new Redis(redisUrl, { maxRetriesPerRequest: 20 });
      readRedis.on('error', () => undefined);
      publisher = new UserEventPublisher(pubRedis, 'soak', { config, logger: silent });
      reader = new UserSyncService(config, readRedis, { logger: silent });

      pool = new WorkerPool({ SOAK_CONFIG: JSON.stringify(configInput) }, logDir);
      await Promise.all(Array.from({ length: WORKERS }, () => pool!.spawn()));
      log(`${WORKERS} workers ready; publishing ${RATE} events/s for ${SECONDS} s over ${USERS} users`);

      // --- publisher: a steady stream; a publish that throws is retried with the same event id.
      const source = new EventSource(eventRandom);
      const published = { events: 0, byKind: {} as Record<Kind, number>, ids: [] as string[] };
      const publishRetries = {
        events: 0,
        attempts: 0,
        resumedAsDuplicate: 0,
        errors: new Map<string, number>(),
      };
      const started = Date.now();
      const publishUntil = started + SECONDS * 1000;
      const publishing = (async () => {
        const interval = 1000 / RATE;
        let next = Date.now();
        while (Date.now() < publishUntil && !stopped) {
          const event = source.next();
          const deadline = Date.now() + PUBLISH_RETRY_MS;
          let delay = 50;
          let result: PublishResult | undefined;
          for (let attempt = 1; !result; attempt++) {
            try {
              result = await publishOnce(publisher, event);
              if (attempt > 1 && result.duplicate) publishRetries.resumedAsDuplicate++;
            } catch (error) {
              if (error instanceof ValidationError) throw error;
              const message = errorText(error).slice(0, 80);
              publishRetries.errors.set(message, (publishRetries.errors.get(message) ?? 0) + 1);
              publishRetries.attempts++;
              if (attempt === 1) publishRetries.events++;
              if (Date.now() > deadline || stopped)
                throw new Error(
                  `publish of ${event.id} still failing after ${PUBLISH_RETRY_MS} ms: ${message}`,
                );
              await sleep(delay);
              delay = Math.min(delay * 2, 500);
            }
          }
          expect(result.version).toBe(event.version);
          source.resolved(event);
          published.events++;
          published.byKind[event.kind] = (published.byKind[event.kind] ?? 0) + 1;
          published.ids.push(event.id);
          next += interval;
          const wait = next - Date.now();
          if (wait > 0) await sleep(wait);
          else if (wait < -1_000) next = Date.now(); // after a stall, resume the rate, no burst
        }
      })();

      // --- faults, at seeded moments.
      const faults: FaultRecord[] = [];
      const shutdowns: Array<{ worker: number; ms: number; code: number | null }> = [];
      let outage: Promise<void> = Promise.resolve();
      let faultStarted = 0;
      const fault = (kind: FaultKind, detail: string) => {
        faults.push({ at: faultStarted - started, kind, detail });
        log(`t+${((faultStarted - started) / 1000).toFixed(1)}s ${kind}: ${detail}`);
      };
      const faulting = (async () => {
        for (const { atMs, kind } of faultPlan(SECONDS, faultRandom)) {
          await sleep(started + atMs - Date.now());
          if (stopped) return;
          faultStarted = Date.now();
          switch (kind) {
            case 'kill-worker': {
              const victim = pool.victim(faultRandom);
              if (!victim) break;
              await pool.kill(victim);
              const replacement = await pool.spawn();
              fault(kind, `SIGKILL worker ${victim.id}, worker ${replacement.id} started`);
              break;
            }
            case 'term-worker': {
              const victim = pool.victim(faultRandom);
              if (!victim) break;
              const [exit, replacement] = await Promise.all([pool.terminate(victim), pool.spawn()]);
              shutdowns.push({ worker: victim.id, ms: exit.ms, code: exit.code });
              fault(
                kind,
                `SIGTERM worker ${victim.id}: exit ${exit.code} after ${exit.ms} ms, worker ${replacement.id} started`,
              );
              break;
            }
            case 'kill-redis': {
              const downMs = 300 + Math.floor(faultRandom() * 1_700);
              await redisServer.kill('SIGKILL');
              await sleep(downMs);
              await redisServer.restart();
              fault(kind, `SIGKILL redis-server, back after ${Date.now() - faultStarted} ms`);
              break;
            }
            case 'outage-b': {
              const mode = pick<OutageMode>(['503', 'reset', 'refused'], faultRandom);
              const downMs = 2_000 + Math.floor(faultRandom() * 3_000);
              await recvB.goDown(mode);
              fault(kind, `recv-b down (${mode}) for ${downMs} ms`);
              outage = sleep(downMs).then(() => recvB.comeUp());
              break;
            }
          }
        }
      })();

      // Both run to their end before either's failure is reported, so that nothing is left running.
      let publishSeconds = 0;
      const [publishOutcome, faultOutcome] = await Promise.allSettled([
        publishing.finally(() => {
          publishSeconds = (Date.now() - started) / 1000;
          log(`published ${published.events} events in ${publishSeconds.toFixed(1)} s; healing`);
        }),
        faulting,
      ]);
      for (const outcome of [publishOutcome, faultOutcome])
        if (outcome.status === 'rejected') throw outcome.reason;
      // --- heal: receiver B up and reliable, Redis running, all workers running.
      await outage;
      recvB.failureRate = 0;
      if (recvB.down) await recvB.comeUp();
      await pool.topUp(WORKERS);
      // --- checks. Every problem is collected, so one run shows all of them.
      const problems: string[] = [];
      const drainStarted = Date.now();
      let lastStatus = '';
      await waitFor(
        async () => {
          const status = await reader!.getQueueStatus();
          lastStatus = JSON.stringify(status);
          return status.queue_length === 0;
        },
        { timeoutMs: DRAIN_TIMEOUT_MS, intervalMs: 250, what: 'the queues to drain' },
      ).catch((error: unknown) => problems.push(`${errorText(error)}; last queue status ${lastStatus}`));
      const drainMs = Date.now() - drainStarted;
      log(problems.length ? `did not drain in ${drainMs} ms` : `drained in ${drainMs} ms`);
      const userIds = Array.from({ length: USERS }, (_, i) => String(i + 1));
      const extraLedgerUsers = (await readRedis.zrange(k.users, 0, -1)).filter((id) => !userIds.includes(id));
      if (extraLedgerUsers.length)
        problems.push(`ledger holds users never published: ${extraLedgerUsers.join(',')}`);
      const pipeline = readRedis.pipeline();
      for (const id of userIds) {
        pipeline.get(k.ledger(id));
        pipeline.get(cacheKey(id));
        pipeline.get(`${cacheKey(id)}:tombstone`);
      }
      for (const service of SERVICES) pipeline.hgetall(k.watermark(service));
      const replies = ((await pipeline.exec()) ?? []).map(([error, value]) => {
        if (error) throw error;
        return value;
      });
      const watermarks = replies.slice(userIds.length * 3) as Array<Record<string, string>>;
      let usersInLedger = 0;
      let deletedInLedger = 0;
      const stale: string[] = [];
      let watermarkMismatches = 0;
      userIds.forEach((id, i) => {
        const raw = replies[i * 3] as string | null;
        const entry = raw === null ? undefined : parseLedger(raw);
        const cached = replies[i * 3 + 1] as string | null;
        const tombstone = replies[i * 3 + 2] as string | null;
        const model = source.model.get(Number(id));
        const ledger = isLedgerRecord(entry) ? { version: entry.version, deleted: entry.deleted } : undefined;
        if (entry && !ledger) problems.push(`user ${id}: the ledger key holds ${JSON.stringify(raw)}`);
        // The ledger holds every publish that resolved, and nothing newer.
        if (model?.version !== ledger?.version || (model && ledger && !model.exists !== ledger.deleted)) {
          problems.push(
            `user ${id}: ledger ${JSON.stringify(ledger)} but the last resolved publish was ${JSON.stringify(model && { version: model.version, deleted: !model.exists })}`,
          );
        }
        if (!ledger) {
          for (const r of receivers)
            if (r.users.has(id)) problems.push(`user ${id}: ${r.name} holds a user the ledger does not know`);
          if (cached !== null) problems.push(`user ${id}: cache holds a user the ledger does not know`);
          return;
        }
        usersInLedger++;
        if (ledger.deleted) deletedInLedger++;
        for (const r of receivers) {
          const held = r.users.get(id);
          if (held?.version !== ledger.version || held.deleted !== ledger.deleted)
            stale.push(
              `user ${id}: ${r.name} holds ${JSON.stringify(held)}, ledger ${JSON.stringify(ledger)}`,
            );
        }
        let cachedVersion: number | undefined;
        if (cached !== null) cachedVersion = (JSON.parse(cached) as { version: number }).version;
        const cacheHeld = ledger.deleted
          ? { version: tombstone === null ? undefined : Number(tombstone), deleted: cached === null }
          : { version: cachedVersion, deleted: cached === null };
        if (cacheHeld.version !== ledger.version || cacheHeld.deleted !== ledger.deleted)
          stale.push(
            `user ${id}: cache holds ${cached ?? 'nothing'} (tombstone ${tombstone}), ledger ${JSON.stringify(ledger)}`,
          );
        for (const watermark of watermarks)
          if (Number(watermark[id] ?? 0) !== ledger.version) watermarkMismatches++;
      });
      if (stale.length)
        problems.push(
          `(1) ${stale.length} user/target pairs not at the ledger's latest:\n  ${stale.join('\n  ')}`,
        );

      // (2) Per receiver and user, accepted versions never go back.
      const duplicates: Record<string, number> = {};
      for (const r of receivers) {
        const highest = new Map<string, { version: number; webhookId: string }>();
        const seen = new Set<string>();
        let dups = 0;
        const backwards: string[] = [];
        for (const a of r.accepted) {
          if (seen.has(a.webhookId)) dups++;
          seen.add(a.webhookId);
          const top = highest.get(a.userId);
          if (top && a.version < top.version)
            backwards.push(
              `user ${a.userId}: v${a.version} (${a.webhookId}) accepted after v${top.version} (${top.webhookId}) at t+${((a.at - started) / 1000).toFixed(2)}s`,
            );
          if (!top || a.version > top.version)
            highest.set(a.userId, { version: a.version, webhookId: a.webhookId });
        }
        duplicates[r.name] = dups;
        if (backwards.length)
          problems.push(
            `(2) ${r.name} accepted ${backwards.length} older versions after newer ones:\n  ${backwards.slice(0, 30).join('\n  ')}`,
          );
        if (r.counts.badSignature || r.counts.badBody)
          problems.push(`${r.name}: ${r.counts.badSignature} bad signatures, ${r.counts.badBody} bad bodies`);
      }

      // (3) Dead letters: none expected with 50 retries; any there must say why.
      const dead = await reader.listDeadLetters({ limit: 1_000 });
      for (const record of dead.records) {
        log(
          `dead letter ${record.id}: reason ${record.reason}, code ${record.code}, status ${record.status ?? '-'}, attempts ${record.attempts}: ${record.message}`,
        );
        if (!record.reason || !record.message) problems.push(`(3) dead letter ${record.id} has no reason`);
      }
      const failedJobs: Record<string, number> = {};
      for (const service of SERVICES)
        failedJobs[service] = await readRedis.zcard(`${prefix}:${deliveryQueueName(service)}:failed`);
      const failedTotal = Object.values(failedJobs).reduce((a, b) => a + b, 0);
      if (failedTotal !== dead.total)
        problems.push(
          `(3) ${failedTotal} failed jobs (${JSON.stringify(failedJobs)}) but ${dead.total} dead letters`,
        );

      // (4) The counters add up: every task ended once.
      const stats = await reader.getStats();
      if (stats.completed_tasks + stats.failed_tasks !== stats.total_tasks) {
        const ended = SERVICES.map((s) => {
          const b = stats.by_target[s];
          return `${s} ${(b?.delivered ?? 0) + (b?.superseded ?? 0) + (b?.dead ?? 0)}`;
        });
        problems.push(
          `(4) completed_tasks ${stats.completed_tasks} + failed_tasks ${stats.failed_tasks} != total_tasks ${stats.total_tasks} ` +
            `(deliveries ended per target, for ${published.events} events each: ${ended.join(', ')})`,
        );
      }
      if (stats.total_tasks !== published.events * SERVICES.length)
        problems.push(
          `(4) total_tasks ${stats.total_tasks} != ${published.events} events x ${SERVICES.length} targets`,
        );
      if (stats.failed_tasks !== dead.total)
        problems.push(`(4) failed_tasks ${stats.failed_tasks} != ${dead.total} dead letters`);

      // Every delivery job of every resolved publish exists and finished.
      const unfinished: string[] = [];
      for (const service of SERVICES) {
        const queue = `${prefix}:${deliveryQueueName(service)}`;
        const done = new Set([
          ...(await readRedis.zrange(`${queue}:completed`, 0, -1)),
          ...(await readRedis.zrange(`${queue}:failed`, 0, -1)),
        ]);
        // Completed jobs are kept up to 10 000 per queue; beyond that the oldest are gone.
        if (published.ids.length <= 9_000)
          for (const id of published.ids)
            if (!done.has(`${id}.${service}`)) unfinished.push(`${id}.${service}`);
      }
      if (unfinished.length)
        problems.push(
          `${unfinished.length} deliveries missing or unfinished: ${unfinished.slice(0, 20).join(', ')}`,
        );

      // Workers die only when the test kills them; SIGTERM is graceful and bounded.
      for (const exit of pool.unexpected)
        problems.push(
          `worker ${exit.worker} died on its own (code ${exit.code}, signal ${exit.signal}): ${exit.stderr}`,
        );
      for (const error of pool.replacementErrors)
        problems.push(`a replacement worker failed to start: ${error}`);
      for (const s of shutdowns)
        if (s.code !== 0 || s.ms > 5_000)
          problems.push(`worker ${s.worker} stopped by SIGTERM: exit code ${s.code} after ${s.ms} ms`);

      // --- summary
      const t = (n: number) => String(n).padStart(6);
      const lines = [
        `seed ${SEED}, ${SECONDS} s, ${RATE} events/s target`,
        `events published: ${published.events} in ${publishSeconds.toFixed(1)} s (${(published.events / publishSeconds).toFixed(1)}/s) ${JSON.stringify(published.byKind)}`,
        `  users in ledger ${usersInLedger} (${deletedInLedger} deleted)`,
        `  publishes that threw and were retried with the same id: ${publishRetries.events} events, ${publishRetries.attempts} failed attempts, ${publishRetries.resumedAsDuplicate} found already complete`,
        ...[...publishRetries.errors].map(([m, n]) => `    ${n} x ${m}`),
        `faults injected: ${faults.length}`,
        ...faults.map((f) => `  t+${(f.at / 1000).toFixed(1).padStart(5)}s ${f.kind}: ${f.detail}`),
        `worker processes started: ${pool.started}, died on their own: ${pool.unexpected.length}`,
        `receivers:        requests  accepted  applied    503  reset  dup-ids`,
        ...receivers.map(
          (r) =>
            `  ${r.name.padEnd(14)} ${t(r.counts.requests)}  ${t(r.counts.accepted)}   ${t(r.counts.applied)} ${t(r.counts.failed503)} ${t(r.counts.reset)}  ${t(duplicates[r.name] ?? 0)}`,
        ),
        `stats: total ${stats.total_tasks}, completed ${stats.completed_tasks}, failed ${stats.failed_tasks}, retries ${stats.retry_tasks}`,
        `target:          delivered  superseded  retried  dead`,
        ...SERVICES.map((s) => {
          const b = stats.by_target[s];
          return `  ${s.padEnd(14)} ${t(b?.delivered ?? 0)}      ${t(b?.superseded ?? 0)}   ${t(b?.retried ?? 0)} ${t(b?.dead ?? 0)}`;
        }),
        `dead letters: ${dead.total}; watermarks not at the ledger's version: ${watermarkMismatches}`,
        `time to drain: ${drainMs} ms`,
        problems.length ? `PROBLEMS: ${problems.length}` : 'all guarantees held',
      ];
      log(`summary\n  ${lines.join('\n  ')}`);
      if (problems.length) log(`problems (seed ${SEED}):\n${problems.join('\n')}`);
      expect(problems).toEqual([]);
    },
    (SECONDS + DRAIN_TIMEOUT_MS / 1000 + 120) * 1000,
  );
});
