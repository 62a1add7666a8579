/**
 * Where a benchmark run's keys live, as the rig's primitives need it: the private Redis (one
 * master), or a private Redis Cluster (several), with user-sync's `partitions` on it. What is
 * measured per master — commands served, CPU, memory — is read from each master itself (INFO),
 * so that the spread across a cluster's masters shows.
 */
import calculateSlot from 'cluster-key-slot';
import type { Cluster, Redis } from 'ioredis';
import type { WorkerSpec } from '../children/worker.js';
import type { BenchRedis } from './redis.js';
import { deleteMatching as deleteKeys } from '../../src/redis.js';

export interface Store {
  /** What publishers and the rig's own queue calls use. */
  connection: Redis | Cluster;
  /** How worker processes connect: a URL, or cluster nodes (`host:port,…`). */
  workerConnection: Pick<WorkerSpec, 'redisUrl' | 'clusterNodes'>;
  /** user-sync's `partitions` on it. */
  partitions: number;
  /** Every master now, named for reports (a cluster's by port), each on a connection to it alone. */
  masters(): Array<{ name: string; redis: Redis }>;
  /** Every replica now (none on the single Redis), likewise: their CPU is a cost of the cluster too. */
  replicas(): Array<{ name: string; redis: Redis }>;
  /** The name of the master that holds `key` (a prefix with its `{hash tag}` will do). */
  masterOf(key: string): string;
}

/** The private single Redis, with `partitions` (1: today's layout). */
export function singleStore(redis: BenchRedis, connection: Redis, partitions = 1): Store {
  return {
    connection,
    workerConnection: { redisUrl: redis.url },
    partitions,
    masters: () => [{ name: 'redis', redis: redis.admin }],
    replicas: () => [],
    masterOf: () => 'redis',
  };
}

/**
 * A cluster reached through `client` (connected, its slots known); `nodes` as
 * REDIS_CLUSTER_NODES takes them. Masters are named m1, m2, … in port order, as they are now
 * (the benchmark runs no failover).
 */
export function clusterStore(client: Cluster, nodes: string, partitions: number): Store {
  const ports = client
    .nodes('master')
    .map((redis) => Number(redis.options.port))
    .sort((a, b) => a - b);
  const nameOf = (port: number) => `m${ports.indexOf(port) + 1}`;
  return {
    connection: client,
    workerConnection: { clusterNodes: nodes },
    partitions,
    masters: () =>
      client
        .nodes('master')
        .map((redis) => ({ name: nameOf(Number(redis.options.port)), redis }))
        .sort((a, b) => a.name.localeCompare(b.name)),
    replicas: () =>
      client.nodes('slave').map((redis) => ({ name: `replica ${String(redis.options.port)}`, redis })),
    masterOf: (key) => {
      const owner = client.slots[calculateSlot(key)]?.[0];
      if (!owner) throw new Error(`no master known for the slot of ${key}`);
      return nameOf(Number(owner.split(':').pop()));
    },
  };
}

/** `m1 127.0.0.1:port, …`: which master is which, for the report. */
export function describeMasters(store: Store): string {
  return store
    .masters()
    .map(({ name, redis }) => `${name} ${redis.options.host ?? '?'}:${redis.options.port ?? '?'}`)
    .join(', ');
}

/** Empties every master and lets its memory settle. */
export async function flushStore(store: Store): Promise<void> {
  await Promise.all(
    store.masters().map(async ({ redis }) => {
      await redis.flushall('SYNC');
      await redis.call('MEMORY', 'PURGE');
    }),
  );
}

type Nodes = ReturnType<Store['masters']>;

/** `INFO <section>` of each node, as `field → number` per node name. */
async function infoNumbers(nodes: Nodes, section: string): Promise<Map<string, Map<string, number>>> {
  const out = new Map<string, Map<string, number>>();
  await Promise.all(
    nodes.map(async ({ name, redis }) => {
      const fields = new Map<string, number>();
      for (const [, key, value] of (await redis.info(section)).matchAll(/^([a-z_\d]+):([\d.]+)\r?$/gm)) {
        fields.set(key as string, Number(value));
      }
      out.set(name, fields);
    }),
  );
  return out;
}

/**
 * CPU time (ms, `used_cpu_sys` + `used_cpu_user`) each master (or each of `nodes`) has used
 * since it started.
 */
export async function cpuMsByMaster(
  store: Store,
  nodes: Nodes = store.masters(),
): Promise<Map<string, number>> {
  const info = await infoNumbers(nodes, 'cpu');
  return new Map(
    [...info].map(([name, f]) => [
      name,
      ((f.get('used_cpu_sys') ?? 0) + (f.get('used_cpu_user') ?? 0)) * 1000,
    ]),
  );
}

/**
 * Bytes each master has allocated for its data and clients (after MEMORY PURGE): `used_memory`
 * less the replication buffers (`mem_total_replication_buffers`, Redis ≥ 7; before it the
 * backlog and the replicas' output buffers). A cluster master's replication backlog grows block
 * by block with the writes up to `repl-backlog-size` (1 MB) and stays there: counted, it would
 * show as memory per user. (It is a fixed cost per master, as is what an empty master uses.)
 */
export async function memoryByMaster(store: Store): Promise<Map<string, number>> {
  await Promise.all(store.masters().map(({ redis }) => redis.call('MEMORY', 'PURGE')));
  const info = await infoNumbers(store.masters(), 'memory');
  return new Map(
    [...info].map(([name, f]) => [
      name,
      (f.get('used_memory') ?? Number.NaN) -
        (f.get('mem_total_replication_buffers') ??
          (f.get('mem_replication_backlog') ?? 0) + (f.get('mem_clients_slaves') ?? 0)),
    ]),
  );
}

/** Calls served per command, summed over the masters (INFO commandstats; scripts' inner ones included). */
export async function storeCommandCalls(store: Store): Promise<Map<string, number>> {
  const calls = new Map<string, number>();
  await Promise.all(
    store.masters().map(async ({ redis }) => {
      for (const [, name, n] of (await redis.info('commandstats')).matchAll(
        /^cmdstat_([^:]+):calls=(\d+)/gm,
      )) {
        calls.set(name as string, (calls.get(name as string) ?? 0) + Number(n));
      }
    }),
  );
  return calls;
}

/** Deletes the keys matching `pattern` on every master (see deleteMatching in src/redis.ts). */
export async function deleteMatching(store: Store, pattern: string): Promise<void> {
  for (const { redis } of store.masters()) await deleteKeys(redis, pattern);
}

/** Per master name, `a − b` (entries missing from `b` count from 0). */
export function perMasterDelta(a: Map<string, number>, b: Map<string, number>): Map<string, number> {
  return new Map([...a].map(([name, value]) => [name, value - (b.get(name) ?? 0)]));
}
