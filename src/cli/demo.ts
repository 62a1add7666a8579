/**
 * `user-sync demo`: the quick start. Two sample services and a Redis cache receive a steady
 * stream of user events; one of the services fails a fifth of its requests, so retries and dead
 * letters show. At the end, each target is compared with the ledger.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { compareCache, compareReceiver, readLedger, type Comparison } from '../demo/consistency.js';
import { DemoUsers } from '../demo/generator.js';
import { startReceiver, type Receiver } from '../demo/receiver.js';
import { startDashboard, type DashboardServer } from '../dashboard/server.js';
import { formatDuration } from '../duration.js';
import { ensureRedis, type RedisHandle } from '../embedded-redis.js';
import { partitionPrefix } from '../jobs/names.js';
import { toError } from '../errors.js';
import type { SyncStats } from '../jobs/stats.js';
import { createLogger } from '../logger.js';
import { redactUrl } from '../redact.js';
import { deleteMatching, escapeGlob, type Redis } from '../redis.js';
import { UserSyncService } from '../service.js';
import {
  UsageError,
  connectCliRedis,
  connectOnce,
  embeddedDataDir,
  loadCliConfig,
  localRedisUrl,
  type CommonOptions,
} from './common.js';
import { count, table } from './format.js';
import { onShutdownSignal } from './signals.js';

/** Options of `user-sync demo`. */
export interface DemoCommandOptions extends CommonOptions {
  /** Events published per second. */
  rate: number;
  /** Stop after this many seconds; run until Ctrl-C when left out. */
  duration?: number;
  /** Number of distinct users. */
  users: number;
  /** Key prefix of the demo's queues and ledger. */
  prefix: string;
  /** Port of the demo's dashboard (taken if free, else any free port). */
  dashboardPort: number;
}

/** The demo's default key prefix. */
export const DEMO_PREFIX = '{user-sync-demo}';
const DRAIN_TIMEOUT_MS = 10_000;
const PROGRESS_MS = 1_000;
const BILLING_FAIL_RATE = 0.2;
/** Share of billing's failures answered 422 (dead-lettered at once) rather than 503 (retried). */
const BILLING_PERMANENT_SHARE = 0.03;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

/** The cache target's key template: `demo:user:{id}`, under the prefix when it is not the default. */
export function demoKeyTemplate(prefix: string): string {
  return prefix === DEMO_PREFIX ? 'demo:user:{id}' : `${prefix}:demo:user:{id}`;
}

/** Runs the demo until the duration ends or a signal arrives, then prints the summary. */
export async function runDemo(options: DemoCommandOptions): Promise<void> {
  const out = process.stdout;
  const tty = out.isTTY === true;
  const logger = createLogger({ level: process.env.LOG_LEVEL ?? (options.verbose ? 'warn' : 'error') });
  const prefix = options.prefix;
  if (!/demo/i.test(prefix)) {
    // The demo deletes every key under its prefix first: never a real deployment's.
    throw new UsageError(
      `--prefix: must contain "demo" (the demo wipes its prefix at start), got "${prefix}"`,
    );
  }
  const config = loadCliConfig(options);
  const keyTemplate = demoKeyTemplate(prefix);

  let stopReason: string | undefined;
  let wake: () => void = () => undefined;
  const stop = (reason: string) => {
    stopReason ??= reason;
    wake();
  };
  const removeSignals = onShutdownSignal(
    (signal) => stop(signal === 'SIGINT' ? 'Ctrl-C' : signal),
    () => out.write('\n'),
  );

  const receivers: Receiver[] = [];
  let handle: RedisHandle | undefined;
  let redis: Redis | undefined;
  let service: UserSyncService | undefined;
  let progress: NodeJS.Timeout | undefined;
  let dashboard: DashboardServer | undefined;
  try {
    const dataDir = embeddedDataDir();
    // On a Redis Cluster (REDIS_CLUSTER_NODES) the demo starts no Redis, and has no cache target:
    // a Redis target is one server.
    const cluster = config.redisClusterNodes !== undefined;
    if (cluster) {
      redis = await connectCliRedis(config, { longRunning: true });
      console.log(`Redis:    cluster ${String(config.redisClusterNodes)} (${config.partitions} partitions)`);
    } else {
      handle = await ensureRedis({ url: config.redisUrl, dataDir, probeUrl: localRedisUrl(), logger });
      const where = handle.embedded
        ? `embedded redis-server, data in ${path.relative(process.cwd(), dataDir) || '.'}`
        : config.redisUrl
          ? 'from REDIS_URL / config'
          : 'already running';
      console.log(`Redis:    ${redactUrl(handle.url)} (${where})`);
      redis = await connectOnce(handle.url);
    }
    const wipe = [
      prefix,
      ...Array.from({ length: config.partitions }, (_, p) => partitionPrefix(prefix, p, config.partitions)),
    ];
    for (const pattern of new Set(wipe)) await deleteMatching(redis, `${escapeGlob(pattern)}*`);
    if (!cluster) await deleteMatching(redis, escapeGlob(keyTemplate).replace('{id}', '*'));

    const secrets = { orders: newSecret(), billing: newSecret() };
    receivers.push(await startReceiver({ name: 'orders', secrets: [secrets.orders] }));
    receivers.push(
      await startReceiver({
        name: 'billing',
        secrets: [secrets.billing],
        failRate: BILLING_FAIL_RATE,
        permanentFailRate: BILLING_PERMANENT_SHARE,
      }),
    );
    const [orders, billing] = receivers as [Receiver, Receiver];
    console.log(`Targets:  orders  ${orders.url}`);
    console.log(
      `          billing ${billing.url} (fails ${BILLING_FAIL_RATE * 100}% of requests: 503, some 422)`,
    );
    if (handle) console.log(`          cache   ${redactUrl(handle.url)} keys ${keyTemplate}`);

    service = new UserSyncService(
      {
        prefix,
        partitions: config.partitions,
        retryInterval: 200,
        maxRetryInterval: 2_000,
        maxRetries: 3,
        workers: 10,
        shutdownTimeout: 3_000,
        targets: [
          { service: 'orders', url: orders.url, secrets: [secrets.orders], timeoutMs: 2_000 },
          { service: 'billing', url: billing.url, secrets: [secrets.billing], timeoutMs: 2_000 },
          ...(handle ? [{ service: 'cache', url: handle.url, keyTemplate }] : []),
        ],
      },
      redis,
      { logger, handleSignals: false },
    );
    await service.start();
    const running = service;
    // The dashboard, with a login made up for this run.
    const login = { username: 'demo', password: randomBytes(9).toString('base64url') };
    const board = await startDashboard({
      deployment: running.deployment,
      auth: login,
      host: '127.0.0.1',
      port: options.dashboardPort,
      logger,
    }).catch((error: unknown) =>
      (error as NodeJS.ErrnoException).code === 'EADDRINUSE'
        ? startDashboard({ deployment: running.deployment, auth: login, host: '127.0.0.1', port: 0, logger })
        : Promise.reject(toError(error)),
    );
    dashboard = board;
    console.log(
      `Dashboard: ${board.url}/  (Bull Board: ${board.url}/admin/queues; user ${login.username}, password ${login.password})`,
    );
    const publisher = service.createPublisher('demo-app');
    const users = new DemoUsers(options.users);
    // The other commands find the demo's queues through its prefix (and its Redis, if embedded).
    const env =
      `USER_SYNC_PREFIX='${prefix}'` +
      (handle && (handle.embedded || config.redisUrl) ? ` REDIS_URL=${redactUrl(handle.url)}` : '') +
      (config.partitions > 1 ? ` USER_SYNC_PARTITIONS=${config.partitions}` : '');
    console.log(`Try:      ${env} node dist/cli.js stats   (or: dlq list, dlq replay --all)`);
    console.log(
      `Publishing ${options.rate} events/s for ${options.users} users` +
        (options.duration !== undefined ? ` for ${options.duration} s` : '') +
        '; Ctrl-C to stop.\n',
    );

    const started = Date.now();
    let published = 0;
    let publishErrors = 0;
    let lastError: string | undefined;
    let stats: SyncStats | undefined;
    let queueLength = 0;
    let polling = false;
    const line = () => {
      const delivered = ['orders', 'billing', ...(handle ? ['cache'] : [])]
        .map((t) => `${t} ${count(stats?.by_target[t]?.delivered ?? 0)}`)
        .join(', ');
      const elapsed = Math.round((Date.now() - started) / 1000);
      return (
        `[${elapsed}s] published ${count(published)} | delivered: ${delivered} | ` +
        `retried ${count(stats?.retry_tasks ?? 0)} | dead ${count(stats?.failed_tasks ?? 0)} | ` +
        `queue ${count(queueLength)}` +
        (publishErrors ? ` | publish errors ${count(publishErrors)}` : '')
      );
    };
    const refresh = async () => {
      if (polling) return;
      polling = true;
      try {
        [stats, queueLength] = await Promise.all([
          running.getStats(),
          running.getQueueStatus().then((q) => q.queue_length),
        ]);
      } catch (error) {
        lastError = toError(error).message;
      } finally {
        polling = false;
      }
    };
    const print = () => (tty ? out.write(`\r${line()}\x1b[K`) : out.write(`${line()}\n`));
    progress = setInterval(() => void refresh().then(print), PROGRESS_MS);

    // Publish at the requested rate until the duration ends or a signal arrives.
    const endAt = options.duration !== undefined ? started + options.duration * 1000 : Infinity;
    while (stopReason === undefined) {
      const now = Date.now();
      if (now >= endAt) {
        stop('duration reached');
        break;
      }
      const due = Math.floor(((now - started) / 1000) * options.rate) + 1 - published - publishErrors;
      for (let i = 0; i < due && stopReason === undefined; i++) {
        try {
          await publisher.publish(users.next());
          published++;
        } catch (error) {
          publishErrors++;
          lastError = toError(error).message;
          if (publishErrors > 20 && publishErrors > published) {
            throw new Error(`publishing keeps failing: ${lastError}`);
          }
        }
      }
      const nextDue = started + ((published + publishErrors) / options.rate) * 1000;
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, Math.max(5, Math.min(nextDue, endAt) - Date.now()));
      });
    }

    // Let the queues drain (bounded), then compare every target with the ledger.
    const drainUntil = Date.now() + DRAIN_TIMEOUT_MS;
    if (tty) out.write('\n');
    console.log(`Stopped publishing (${stopReason ?? 'stopped'}); waiting for the queues to drain…`);
    for (;;) {
      await refresh();
      if (queueLength === 0 || Date.now() >= drainUntil) break;
      await sleep(200);
    }
    clearInterval(progress);
    progress = undefined;
    await refresh();
    console.log(line());
    const elapsedMs = Date.now() - started;
    const ledger = await readLedger(redis, service.deployment.keyspace);
    const comparisons: Record<string, Comparison> = {
      orders: compareReceiver(ledger, orders.users),
      billing: compareReceiver(ledger, billing.users),
      ...(handle ? { cache: await compareCache(redis, ledger, keyTemplate) } : {}),
    };
    const live = ledger.filter((u) => !u.deleted).length;
    console.log(
      `\nSummary: ${count(published)} events in ${formatDuration(elapsedMs)} for ${count(ledger.length)} users ` +
        `(${count(live)} live, ${count(ledger.length - live)} deleted)` +
        (queueLength > 0
          ? `; ${count(queueLength)} deliveries still queued after ${DRAIN_TIMEOUT_MS / 1000} s`
          : ''),
    );
    console.log(
      table(
        ['TARGET', 'DELIVERED', 'SUPERSEDED', 'RETRIED', 'DEAD', 'IN SYNC'],
        Object.entries(comparisons).map(([target, c]) => {
          const t = stats?.by_target[target];
          return [
            target,
            t?.delivered ?? 0,
            t?.superseded ?? 0,
            t?.retried ?? 0,
            t?.dead ?? 0,
            `${c.inSync}/${c.total}`,
          ];
        }),
        ['l', 'r', 'r', 'r', 'r', 'r'],
      ),
    );
    console.log(
      `\nbilling answered ${count(billing.failed)} of ${count(billing.received)} requests with a simulated failure.`,
    );
    for (const [target, c] of Object.entries(comparisons)) {
      if (c.behind.length === 0) continue;
      const ids = c.behind.slice(0, 10).join(', ') + (c.behind.length > 10 ? ', …' : '');
      console.log(
        `${target}: ${c.behind.length} behind the ledger (users ${ids}); their last delivery is a dead letter ` +
          'or still queued. A later event for the user, a replay or the consistency sweep repairs it.',
      );
    }
    if (publishErrors)
      console.log(`${count(publishErrors)} publishes failed; last error: ${lastError ?? ''}`);
  } finally {
    clearInterval(progress);
    await dashboard?.close().catch(() => undefined);
    await service?.close().catch(() => undefined);
    await Promise.all(receivers.map((r) => r.close()));
    await redis?.quit().catch(() => redis?.disconnect());
    await handle?.stop();
    removeSignals();
  }
}
