/**
 * A private Redis Cluster for tests: `masters × (1 + replicasPerMaster)` redis-server processes
 * on free loopback ports, joined by `redis-cli --cluster create`, with helpers to find where keys
 * live, kill a node, wait for its replica to take over, and stop everything.
 *
 * Every process it starts is stopped by `stop()` (idempotent: call it in afterAll, which jest
 * runs when a test fails too), by a process 'exit' hook if a suite forgets (the nodes are
 * unref'd, so a forgotten cluster does not keep jest alive), and by a small watchdog process
 * for when the test process dies without either (SIGKILL, SIGTERM, a crash): it is told the
 * nodes' pids on a pipe and, when the pipe closes, SIGKILLs them and removes the directory.
 *
 * Flags beyond the required ones, and why (see `nodeArgs`):
 * - `cluster-node-timeout` 1000 ms (default 15000): a dead master is suspected after 1 s and
 *   failed over in ~2–3 s. Lower makes a busy 2-core machine see false failures.
 * - `cluster-replica-validity-factor 0`: a replica always stands for election however long
 *   since it last heard from its master. The default (10) can refuse a failover when the test
 *   machine stalled the replication link; tests that care about data make writes durable with
 *   WAIT before they kill.
 * - `cluster-require-full-coverage no`: while one master is down, slots of the others keep
 *   serving (what a partitioned deployment wants to see), instead of the whole cluster refusing.
 * - `cluster-allow-reads-when-down no` (the default, stated): a node of a cluster that is down
 *   refuses reads too, so a test sees CLUSTERDOWN rather than stale data.
 * - `cluster-allow-replica-migration no`: replicas stay with the master they were planned for,
 *   so `waitForFailover` knows which node must take over.
 * - `repl-diskless-sync-delay 0` (default 5 s): a replica's first sync starts at once, so the
 *   cluster is healthy ~5 s sooner. `repl-ping-replica-period 1` (default 10 s): replication
 *   liveness and offsets are fresh when a failover ranks replicas.
 * - per-node `dbfilename`, `appenddirname` and `logfile` in the one temporary directory, so
 *   replicas' RDB transfers and AOFs never share a file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import calculateSlot from 'cluster-key-slot';
import { Cluster, Redis, type ClusterOptions } from 'ioredis';
import { scanKeys } from '../../src/redis.js';
import { freePort } from './redis-server.js';

const HOST = '127.0.0.1';
/** Number of hash slots in a Redis Cluster. */
export const CLUSTER_SLOTS = 16384;
/** A cluster node also listens on port + 10000 for its cluster bus. */
const BUS_PORT_OFFSET = 10_000;

/** The hash slot (0–16383) of `key`, honouring a `{hash tag}`, as Redis and ioredis compute it. */
export function keySlot(key: string): number {
  return calculateSlot(key);
}

export type NodeRole = 'master' | 'replica';

export interface ClusterNode {
  readonly host: string;
  readonly port: number;
  /** `redis://127.0.0.1:<port>`: a plain connection to this one node. */
  readonly url: string;
  /** The node's cluster id (kept across `restart`: it lives in nodes-<port>.conf). */
  readonly id: string;
  /** The running process's id; undefined while the node is down. */
  readonly pid: number | undefined;
  /** Whether its process is running. */
  alive(): boolean;
  /** What the node itself says (ROLE). Fails when the node is down. */
  role(): Promise<NodeRole>;
}

export interface RedisClusterOptions {
  /** Master count, at least 3 (what `redis-cli --cluster create` accepts). Default 3. */
  masters?: number;
  /** Default 1. */
  replicasPerMaster?: number;
  /** Default false. */
  appendonly?: boolean;
  /** Only with appendonly. Default 'everysec'. */
  appendfsync?: 'always' | 'everysec';
  /** Default 1000 (Redis's is 15000): a failover takes ~2–3 s. */
  clusterNodeTimeoutMs?: number;
  /** Bound on bringing the cluster up, from the first process to healthy. Default 60 s. */
  startTimeoutMs?: number;
}

export interface RedisCluster {
  /** Every node, in the order given to `redis-cli --cluster create` (the initial plan). */
  readonly nodes: readonly ClusterNode[];
  /** For `new Cluster(startupNodes)`. */
  readonly startupNodes: Array<{ host: string; port: number }>;
  /** `127.0.0.1:p1,127.0.0.1:p2,…`, for REDIS_CLUSTER_NODES. */
  readonly nodesEnv: string;
  /** The temporary directory with every node's nodes-<port>.conf, redis-<port>.log, data. */
  readonly dir: string;
  /**
   * The masters that own slots now, as the cluster sees them (CLUSTER NODES of a live node),
   * by port. A master that is down but not yet marked failed (`fail?`) still counts.
   */
  masters(): Promise<ClusterNode[]>;
  /** The master serving `slot` now (CLUSTER SLOTS of a live node). */
  masterForSlot(slot: number): Promise<ClusterNode>;
  /** Signals the node (SIGKILL by default) and waits for its process to exit. */
  kill(node: ClusterNode, signal?: NodeJS.Signals): Promise<void>;
  /**
   * After `kill` of a master: waits until one of its replicas serves its slots, every live
   * node says `cluster_state:ok` and every slot is served by a live master; returns that replica.
   */
  waitForFailover(killed: ClusterNode, timeoutMs?: number): Promise<ClusterNode>;
  /**
   * Starts a killed node again on its port with its nodes.conf and waits for PING (a
   * failed-over master rejoins as a replica of the node that took over); `waitForHealthy`
   * waits for it to sync.
   */
  restart(node: ClusterNode): Promise<void>;
  /**
   * Waits until every live node says `cluster_state:ok` and knows every node, every slot is
   * served by a live master, and every live replica's link to its master is up (and the
   * master lists it online).
   */
  waitForHealthy(timeoutMs?: number): Promise<void>;
  /** A new ioredis Cluster client on this cluster with test options (see `clientDefaults`); closed by `stop()`. */
  client(options?: ClusterOptions): Cluster;
  /** Keys per master now (DBSIZE, or a SCAN count of `pattern`), by port. */
  keyCountsByMaster(pattern?: string): Promise<Map<number, number>>;
  /** Closes clients, kills every node, removes the directory. Idempotent. */
  stop(): Promise<void>;
}

/**
 * The ioredis Cluster options `client()` uses. Commands ride out a failover: a command to a
 * node whose connection closed is retried every `retryDelayOnFailover` ms up to
 * `maxRedirections` times (ioredis's defaults, 100 ms × 16, give up after ~1.6 s, before a
 * failover with a 1 s node timeout is over). `maxRetriesPerRequest: null` in `redisOptions`
 * (not at the top level: that is where BullMQ looks on a Cluster) lets a BullMQ Worker use it.
 */
export function clientDefaults(): ClusterOptions {
  return {
    retryDelayOnFailover: 300,
    retryDelayOnClusterDown: 300,
    retryDelayOnTryAgain: 300,
    maxRedirections: 40,
    slotsRefreshTimeout: 2_000,
    // Reconnecting to the whole cluster: bounded, so a stopped cluster ends the client.
    clusterRetryStrategy: (times) => (times > 30 ? null : Math.min(100 * times, 1_000)),
    redisOptions: { connectTimeout: 2_000, maxRetriesPerRequest: null },
  };
}

// ---------------------------------------------------------------------------------------------
// Small pieces

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Whether 127.0.0.1:`port` can be bound now. */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, HOST, () => server.close(() => resolve(true)));
  });
}

/** A port whose bus port (port + 10000) is also free, and neither clashes with `taken`. */
async function pickNodePort(taken: Set<number>): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = await freePort();
    const bus = port + BUS_PORT_OFFSET;
    if (bus > 65_535 || taken.has(port) || taken.has(bus)) continue;
    if (!(await portIsFree(bus))) continue;
    taken.add(port);
    taken.add(bus);
    return port;
  }
  throw new Error('no free port pair (port, port + 10000) found on 127.0.0.1 in 200 attempts');
}

/** Runs `fn` on a short-lived, non-retrying connection to one node (by port). */
export async function onNode<T>(
  port: number,
  fn: (redis: Redis) => Promise<T>,
  timeoutMs = 2_000,
): Promise<T> {
  const redis = new Redis({
    host: HOST,
    port,
    lazyConnect: true,
    enableReadyCheck: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    // disconnect() otherwise keeps a 2 s timer for a socket that never closes (a killed node).
    disconnectTimeout: 100,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return await fn(redis);
  } finally {
    redis.disconnect();
  }
}

const call = (port: number, ...args: [string, ...Array<string | number>]) =>
  onNode(port, (redis) => redis.call(...args));

/** `key:value` lines (CLUSTER INFO, INFO) as a map. */
function parseInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const at = line.indexOf(':');
    if (at > 0) fields.set(line.slice(0, at), line.slice(at + 1).trim());
  }
  return fields;
}

interface SlotRange {
  start: number;
  end: number;
  /** Master first, then replicas. */
  ports: number[];
}

async function clusterSlots(port: number): Promise<SlotRange[]> {
  const reply = (await call(port, 'CLUSTER', 'SLOTS')) as Array<[number, number, ...Array<[string, number]>]>;
  return reply.map(([start, end, ...nodes]) => ({ start, end, ports: nodes.map((n) => Number(n[1])) }));
}

interface NodeLine {
  id: string;
  port: number;
  flags: string[];
  /** The master's id, for a replica. */
  masterId: string | undefined;
  slotCount: number;
}

async function clusterNodes(port: number): Promise<NodeLine[]> {
  const text = String(await call(port, 'CLUSTER', 'NODES'));
  return text
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => {
      // <id> <ip:port@cport[,hostname]> <flags> <master> <ping> <pong> <epoch> <link> <slot>…
      const [id = '', address = '', flags = '', master = '-', , , , , ...slots] = line.trim().split(' ');
      const slotCount = slots
        .filter((s) => !s.startsWith('['))
        .reduce((sum, s) => {
          const [a, b = a] = s.split('-').map(Number);
          return sum + (Number(b) - Number(a) + 1);
        }, 0);
      return {
        id,
        port: Number(address.split('@')[0]?.split(':').pop()),
        flags: flags.split(','),
        masterId: master === '-' ? undefined : master,
        slotCount,
      };
    });
}

/** Runs a command to its end, killing it after `timeoutMs`. */
function run(
  command: string,
  args: readonly string[],
  timeoutMs: number,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} did not finish within ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// The watchdog and the exit hook

/**
 * Reads pid lines (`123` to watch, `-123` to forget) on stdin; when stdin closes (the test
 * process is gone, however it ended) it SIGKILLs the pids it still watches and removes the
 * cluster's directory (its one argument). Ignores SIGINT, SIGTERM and SIGHUP, so that a signal
 * to the whole process group (Ctrl-C, a CI timeout) leaves it alive to do that; it ends when its
 * parent is gone, or by SIGKILL from `stop()`.
 */
const WATCHDOG_SOURCE = `
const pids = new Set();
let buffer = '';
let reaping = false;
const reap = () => {
  if (reaping) return;
  reaping = true;
  for (const pid of pids) { try { process.kill(pid, 'SIGKILL'); } catch {} }
  // The killed nodes may still be closing files: give them a moment.
  setTimeout(() => {
    try { require('node:fs').rmSync(process.argv[2], { recursive: true, force: true }); } catch {}
    process.exit(0);
  }, 200);
};
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => {});
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffer += chunk;
  for (let at = buffer.indexOf('\\n'); at >= 0; at = buffer.indexOf('\\n')) {
    const n = Number(buffer.slice(0, at));
    buffer = buffer.slice(at + 1);
    if (n > 0) pids.add(n); else if (n < 0) pids.delete(-n);
  }
});
process.stdin.on('end', reap);
process.stdin.on('close', reap);
process.stdin.on('error', reap);
`;

class Watchdog {
  private readonly child: ChildProcess;

  constructor(dir: string) {
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    // From a file in the cluster's directory, so that `ps` shows which cluster it guards.
    const script = path.join(dir, 'watchdog.cjs');
    writeFileSync(script, WATCHDOG_SOURCE);
    this.child = spawn(process.execPath, [script, dir], {
      stdio: ['pipe', 'ignore', 'ignore'],
      env,
    });
    this.child.on('error', () => undefined);
    this.child.stdin?.on('error', () => undefined);
    // A safety net only: it must not keep the test process alive.
    this.child.unref();
    (this.child.stdin as Socket | null)?.unref();
  }

  watch(pid: number): void {
    this.child.stdin?.write(`${pid}\n`);
  }

  forget(pid: number): void {
    this.child.stdin?.write(`-${pid}\n`);
  }

  /** Ends it without reaping (the caller has stopped the nodes). */
  dismiss(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

const running = new Set<{ killNow(): void }>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const cluster of running) cluster.killNow();
  });
}

// ---------------------------------------------------------------------------------------------
// Nodes

class Node implements ClusterNode {
  readonly host = HOST;
  readonly url: string;
  id = '';
  child: ChildProcess | undefined;
  exited: Promise<void> = Promise.resolve();

  constructor(
    readonly port: number,
    private readonly args: readonly string[],
    private readonly logFile: string,
    private readonly watchdog: Watchdog,
  ) {
    this.url = `redis://${HOST}:${port}`;
  }

  get pid(): number | undefined {
    return this.alive() ? this.child?.pid : undefined;
  }

  alive(): boolean {
    const child = this.child;
    return !!child && child.exitCode === null && child.signalCode === null && child.pid !== undefined;
  }

  async role(): Promise<NodeRole> {
    const reply = (await call(this.port, 'ROLE')) as [string, ...unknown[]];
    return reply[0] === 'master' ? 'master' : 'replica';
  }

  logTail(chars = 2_000): string {
    try {
      return readFileSync(this.logFile, 'utf8').slice(-chars);
    } catch {
      return '(no log)';
    }
  }

  /** Starts the process and waits (bounded) until it answers PING. */
  async launch(timeoutMs = 10_000): Promise<void> {
    if (this.alive()) throw new Error(`node ${this.port} is already running`);
    const child = spawn('redis-server', this.args, { stdio: 'ignore' });
    // A suite that forgets stop() must not keep jest waiting on these: the process 'exit'
    // hook kills them. (Waits on a node in here always hold a timer, so the loop stays alive.)
    child.unref();
    this.child = child;
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
    });
    const pid = child.pid;
    if (pid !== undefined) {
      this.watchdog.watch(pid);
      child.once('exit', () => this.watchdog.forget(pid));
    }
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.alive()) {
        throw new Error(`redis-server on port ${this.port} exited while starting:\n${this.logTail()}`);
      }
      try {
        if ((await call(this.port, 'PING')) === 'PONG') break;
      } catch {
        // not listening yet, or loading
      }
      if (Date.now() > deadline) {
        await this.kill('SIGKILL');
        throw new Error(
          `redis-server on port ${this.port} did not answer within ${timeoutMs} ms:\n${this.logTail()}`,
        );
      }
      await sleep(50);
    }
    this.id = String(await call(this.port, 'CLUSTER', 'MYID'));
  }

  /** Signals the process and waits (bounded) for it to exit; SIGKILL if a gentler signal is not enough. */
  async kill(signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 15_000): Promise<void> {
    const child = this.child;
    if (!child || !this.alive()) return;
    child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = await Promise.race([
      this.exited.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (gaveUp) {
      child.kill('SIGKILL');
      await this.exited;
    }
  }
}

function nodeArgs(port: number, dir: string, options: Required<RedisClusterOptions>): string[] {
  const args = [
    '--port',
    String(port),
    '--bind',
    HOST,
    '--dir',
    dir,
    '--logfile',
    path.join(dir, `redis-${port}.log`),
    '--dbfilename',
    `dump-${port}.rdb`,
    '--save',
    '',
    '--appendonly',
    options.appendonly ? 'yes' : 'no',
    '--appenddirname',
    `appendonly-${port}`,
    '--maxmemory-policy',
    'noeviction',
    '--cluster-enabled',
    'yes',
    '--cluster-config-file',
    path.join(dir, `nodes-${port}.conf`),
    '--cluster-node-timeout',
    String(options.clusterNodeTimeoutMs),
    '--cluster-require-full-coverage',
    'no',
    '--cluster-replica-validity-factor',
    '0',
    '--cluster-allow-reads-when-down',
    'no',
    '--cluster-allow-replica-migration',
    'no',
    '--repl-diskless-sync-delay',
    '0',
    '--repl-ping-replica-period',
    '1',
  ];
  if (options.appendonly) args.push('--appendfsync', options.appendfsync);
  return args;
}

// ---------------------------------------------------------------------------------------------
// The cluster

export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const settings: Required<RedisClusterOptions> = {
    masters: options.masters ?? 3,
    replicasPerMaster: options.replicasPerMaster ?? 1,
    appendonly: options.appendonly ?? false,
    appendfsync: options.appendfsync ?? 'everysec',
    clusterNodeTimeoutMs: options.clusterNodeTimeoutMs ?? 1_000,
    startTimeoutMs: options.startTimeoutMs ?? 60_000,
  };
  if (!Number.isInteger(settings.masters) || settings.masters < 3) {
    throw new Error(`a Redis Cluster needs at least 3 masters (got ${settings.masters})`);
  }
  if (!Number.isInteger(settings.replicasPerMaster) || settings.replicasPerMaster < 0) {
    throw new Error(`replicasPerMaster must be a whole number (got ${settings.replicasPerMaster})`);
  }
  const cluster = new RunningCluster(settings);
  try {
    await cluster.start();
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

class RunningCluster implements RedisCluster {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'user-sync-cluster-'));
  nodes: Node[] = [];
  startupNodes: Array<{ host: string; port: number }> = [];
  nodesEnv = '';
  private readonly watchdog = new Watchdog(this.dir);
  private readonly clients = new Set<Cluster>();
  /** For each killed master: the ids of its replicas when it was killed. */
  private readonly replicasAtKill = new Map<Node, { wasMaster: boolean; replicaIds: string[] }>();
  private stopping: Promise<void> | undefined;

  constructor(private readonly settings: Required<RedisClusterOptions>) {
    running.add(this);
    installExitHook();
  }

  async start(): Promise<void> {
    const deadline = Date.now() + this.settings.startTimeoutMs;
    const count = this.settings.masters * (1 + this.settings.replicasPerMaster);
    const taken = new Set<number>();
    // Another process may take a port between the probe and redis-server's bind: retry those.
    // Every node is in this.nodes from its spawn on, so that stop() finds it whatever fails.
    const launched = await Promise.allSettled(
      Array.from({ length: count }, async () => {
        for (let attempt = 1; ; attempt++) {
          const port = await pickNodePort(taken);
          const node = new Node(
            port,
            nodeArgs(port, this.dir, this.settings),
            path.join(this.dir, `redis-${port}.log`),
            this.watchdog,
          );
          this.nodes.push(node);
          try {
            await node.launch();
            return node;
          } catch (error) {
            if (attempt >= 3 || !/already in use/i.test(node.logTail())) throw error;
          }
        }
      }),
    );
    const failed = launched.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    // The plan: nodes in the order they were asked for (a retried port's dead attempt dropped).
    this.nodes = launched.map((r) => (r as PromiseFulfilledResult<Node>).value);
    this.startupNodes = this.nodes.map((n) => ({ host: HOST, port: n.port }));
    this.nodesEnv = this.nodes.map((n) => `${HOST}:${n.port}`).join(',');

    const created = await run(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...this.nodes.map((n) => `${HOST}:${n.port}`),
        '--cluster-replicas',
        String(this.settings.replicasPerMaster),
        '--cluster-yes',
      ],
      Math.max(1_000, deadline - Date.now()),
    );
    if (created.code !== 0) throw new Error(`redis-cli --cluster create failed:\n${created.output}`);

    await this.waitForHealthy(Math.max(1_000, deadline - Date.now()));
    const roles = await Promise.all(this.nodes.map((n) => n.role()));
    const masters = roles.filter((r) => r === 'master').length;
    if (masters !== this.settings.masters || roles.length - masters !== count - this.settings.masters) {
      throw new Error(`cluster came up with ${masters} masters of ${roles.length} nodes, not as planned`);
    }
  }

  private live(): Node[] {
    return this.nodes.filter((n) => n.alive());
  }

  private node(port: number): Node {
    const node = this.nodes.find((n) => n.port === port);
    if (!node) throw new Error(`the cluster names a node on port ${port} that this helper did not start`);
    return node;
  }

  private own(node: ClusterNode): Node {
    const own = this.nodes.find((n) => n === node);
    if (!own) throw new Error(`node ${node.port} is not a node of this cluster`);
    return own;
  }

  /** Asks live nodes in turn until one answers. */
  private async ask<T>(question: (port: number) => Promise<T>): Promise<T> {
    let last: unknown = new Error('no live node');
    for (const node of this.live()) {
      try {
        return await question(node.port);
      } catch (error) {
        last = error;
      }
    }
    throw last;
  }

  async masters(): Promise<ClusterNode[]> {
    const lines = await this.ask(clusterNodes);
    return lines
      .filter((l) => l.flags.includes('master') && !l.flags.includes('fail') && l.slotCount > 0)
      .map((l) => this.node(l.port))
      .sort((a, b) => a.port - b.port);
  }

  async masterForSlot(slot: number): Promise<ClusterNode> {
    if (!Number.isInteger(slot) || slot < 0 || slot >= CLUSTER_SLOTS) throw new Error(`no slot ${slot}`);
    const ranges = await this.ask(clusterSlots);
    const range = ranges.find((r) => r.start <= slot && slot <= r.end);
    const port = range?.ports[0];
    if (port === undefined) throw new Error(`slot ${slot} is not served by any master`);
    return this.node(port);
  }

  async kill(target: ClusterNode, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const node = this.own(target);
    if (!node.alive()) return;
    try {
      const lines = await clusterNodes(node.port);
      const me = lines.find((l) => l.flags.includes('myself'));
      this.replicasAtKill.set(node, {
        wasMaster: !!me?.flags.includes('master'),
        replicaIds: lines.filter((l) => l.masterId === node.id).map((l) => l.id),
      });
    } catch {
      this.replicasAtKill.delete(node);
    }
    await node.kill(signal);
  }

  async waitForFailover(target: ClusterNode, timeoutMs = 15_000): Promise<ClusterNode> {
    const killed = this.own(target);
    const before = this.replicasAtKill.get(killed);
    if (killed.alive()) throw new Error(`node ${killed.port} is running: kill it first`);
    if (!before?.wasMaster)
      throw new Error(`node ${killed.port} was not a master when killed: no failover to wait for`);
    if (before.replicaIds.length === 0) throw new Error(`master ${killed.port} had no replica to take over`);
    const deadline = Date.now() + timeoutMs;
    let problem = 'not checked yet';
    while (Date.now() < deadline) {
      try {
        const lines = await this.ask(clusterNodes);
        const promoted = lines.find(
          (l) => before.replicaIds.includes(l.id) && l.flags.includes('master') && l.slotCount > 0,
        );
        const gone = lines.find((l) => l.id === killed.id);
        if (!promoted) problem = `no replica of ${killed.port} serves slots yet`;
        else if (gone && gone.slotCount > 0) problem = `${killed.port} still owns slots`;
        else {
          problem = (await this.healthProblem()) ?? '';
          if (!problem) return this.node(promoted.port);
        }
      } catch (error) {
        problem = errorText(error);
      }
      await sleep(100);
    }
    throw new Error(`no failover of ${killed.port} within ${timeoutMs} ms: ${problem}`);
  }

  async restart(target: ClusterNode): Promise<void> {
    await this.own(target).launch();
  }

  async waitForHealthy(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let problem: string | undefined = 'not checked yet';
    while (Date.now() < deadline) {
      try {
        problem = await this.healthProblem();
      } catch (error) {
        problem = errorText(error);
      }
      if (!problem) return;
      await sleep(100);
    }
    throw new Error(`cluster not healthy within ${timeoutMs} ms: ${problem}`);
  }

  /** What is not healthy yet, or undefined. */
  private async healthProblem(): Promise<string | undefined> {
    const live = this.live();
    if (live.length === 0) return 'no node is running';
    const livePorts = new Set(live.map((n) => n.port));
    // Replication: every live replica's link is up, and its master lists it online.
    const online = new Map<number, Set<number>>();
    const replicaOf = new Map<number, number>();
    for (const node of live) {
      const info = parseInfo(String(await call(node.port, 'INFO', 'replication')));
      if (info.get('role') === 'slave') {
        const link = info.get('master_link_status');
        if (link !== 'up') return `replica ${node.port}: master_link_status:${link}`;
        replicaOf.set(node.port, Number(info.get('master_port')));
      } else {
        const ports = new Set<number>();
        for (const [field, value] of info) {
          if (/^slave\d+$/.test(field) && value.includes('state=online')) {
            ports.add(Number(/port=(\d+)/.exec(value)?.[1]));
          }
        }
        online.set(node.port, ports);
      }
    }
    for (const [replica, master] of replicaOf) {
      if (!online.get(master)?.has(replica))
        return `master ${master} does not list replica ${replica} online`;
    }
    const replicasOf = (master: number) =>
      [...replicaOf]
        .filter(([, m]) => m === master)
        .map(([replica]) => replica)
        .sort((a, b) => a - b);
    // Every live node's view: state ok, every slot served by a live master, which CLUSTER SLOTS
    // lists with its live replicas (Redis 7 leaves out a replica until gossip shows it synced).
    for (const node of live) {
      const info = parseInfo(String(await call(node.port, 'CLUSTER', 'INFO')));
      if (info.get('cluster_state') !== 'ok')
        return `${node.port}: cluster_state:${info.get('cluster_state')}`;
      if (info.get('cluster_slots_ok') !== String(CLUSTER_SLOTS)) {
        return `${node.port}: cluster_slots_ok:${info.get('cluster_slots_ok')}`;
      }
      if (info.get('cluster_known_nodes') !== String(this.nodes.length)) {
        return `${node.port}: cluster_known_nodes:${info.get('cluster_known_nodes')}`;
      }
      const ranges = await clusterSlots(node.port);
      const covered = ranges.reduce((sum, r) => sum + (r.end - r.start + 1), 0);
      if (covered !== CLUSTER_SLOTS) return `${node.port}: CLUSTER SLOTS covers ${covered} slots`;
      for (const { start, end, ports } of ranges) {
        const [master = -1, ...replicas] = ports;
        if (!livePorts.has(master))
          return `${node.port}: slots ${start}-${end} served by down node ${master}`;
        const listed = replicas.sort((a, b) => a - b).join(',');
        const expected = replicasOf(master).join(',');
        if (listed !== expected) {
          return `${node.port}: CLUSTER SLOTS lists replicas [${listed}] for ${master}, not [${expected}]`;
        }
      }
    }
    return undefined;
  }

  client(options: ClusterOptions = {}): Cluster {
    const defaults = clientDefaults();
    const client = new Cluster(this.startupNodes, {
      ...defaults,
      ...options,
      redisOptions: { ...defaults.redisOptions, ...options.redisOptions },
    });
    // A Cluster emits 'error' (e.g. "Failed to refresh slots cache") while nodes are down; an
    // unhandled 'error' event would crash the test process. Commands still reject on their own.
    client.on('error', () => undefined);
    this.clients.add(client);
    client.once('end', () => this.clients.delete(client));
    return client;
  }

  async keyCountsByMaster(pattern?: string): Promise<Map<number, number>> {
    const counts = new Map<number, number>();
    for (const master of await this.masters()) {
      if (pattern === undefined) {
        counts.set(master.port, Number(await call(master.port, 'DBSIZE')));
        continue;
      }
      const count = await onNode(master.port, async (redis) => {
        let found = 0;
        for await (const keys of scanKeys(redis, pattern)) found += keys.length;
        return found;
      });
      counts.set(master.port, count);
    }
    return counts;
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await Promise.all(
        [...this.clients].map(async (client) => {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([
            client.quit().catch(() => undefined),
            new Promise<void>((resolve) => (timer = setTimeout(resolve, 1_000))),
          ]);
          clearTimeout(timer);
          client.disconnect();
        }),
      );
      this.clients.clear();
      await Promise.all(this.nodes.map((n) => n.kill('SIGKILL')));
      this.watchdog.dismiss();
      rmSync(this.dir, { recursive: true, force: true });
      running.delete(this);
    })();
    return this.stopping;
  }

  /** Synchronous last resort from the process 'exit' hook. */
  killNow(): void {
    for (const node of this.nodes) if (node.alive()) node.child?.kill('SIGKILL');
    this.watchdog.dismiss();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
