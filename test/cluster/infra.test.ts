/**
 * The Redis Cluster test helper (test/helpers/redis-cluster.ts) against a real cluster of 3
 * masters and 3 replicas on loopback ports: topology and slot coverage, how hash-tagged keys
 * spread over the masters, MULTI within and across hash tags, BullMQ on an ioredis Cluster
 * connection, a master killed with SIGKILL and failed over without losing acknowledged writes,
 * and stop() leaving nothing behind.
 *
 * `npm run test:cluster`. The tests run in order on one cluster (the failover comes late, the
 * stop last); measured timings and key counts are printed to stderr as `[cluster] …`.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { Queue, Worker } from 'bullmq';
import type { Cluster } from 'ioredis';
import { waitFor } from '../helpers/redis.js';
import {
  CLUSTER_SLOTS,
  keySlot,
  onNode,
  startRedisCluster,
  type NodeRole,
  type RedisCluster,
} from '../helpers/redis-cluster.js';

const TAGS = 30;
const KEYS_PER_TAG = 100;
const FAILOVER_BOUND_MS = 15_000;

const log = (message: string) => process.stderr.write(`[cluster] ${message}\n`);
const tag = (t: number) => `{p${t}}`;
const key = (t: number, k: number) => `${tag(t)}:k${k}`;
const value = (t: number, k: number) => `v${t}.${k}`;

/** Whether something accepts a TCP connection on 127.0.0.1:`port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.setTimeout(1_000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Closes BullMQ objects with a bound (worker.close() waits for active jobs without one). */
async function closeBounded(...closables: Array<{ close(): Promise<void> }>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('close took over 10 s')), 10_000);
  });
  try {
    await Promise.race([Promise.all(closables.map((c) => c.close())), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('startRedisCluster: 3 masters, 3 replicas', () => {
  let cluster: RedisCluster | undefined;
  let client: Cluster;
  /** Roles at startup, by port. */
  const startRoles = new Map<number, NodeRole>();

  const running = (): RedisCluster => {
    if (!cluster) throw new Error('the cluster did not start');
    return cluster;
  };

  beforeAll(async () => {
    const started = Date.now();
    cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
    log(
      `cluster of ${cluster.nodes.length} nodes healthy in ${Date.now() - started} ms: ${cluster.nodesEnv}`,
    );
    for (const node of cluster.nodes) startRoles.set(node.port, await node.role());
    client = cluster.client();
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('comes up with 3 masters and 3 replicas covering all 16384 slots', async () => {
    const c = running();
    expect(c.nodes).toHaveLength(6);
    expect(c.nodesEnv).toMatch(/^(127\.0\.0\.1:\d+,){5}127\.0\.0\.1:\d+$/);
    expect(c.startupNodes).toEqual(c.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })));
    expect([...startRoles.values()].filter((r) => r === 'master')).toHaveLength(3);
    expect([...startRoles.values()].filter((r) => r === 'replica')).toHaveLength(3);

    const masters = await c.masters();
    expect(masters.map((m) => m.port).sort()).toEqual(
      [...startRoles]
        .filter(([, role]) => role === 'master')
        .map(([port]) => port)
        .sort(),
    );

    // Every slot once, each range with its master first and one replica.
    const ranges = await client.cluster('SLOTS');
    const covered = ranges.reduce((sum, [start, end]) => sum + (end - start + 1), 0);
    expect(covered).toBe(CLUSTER_SLOTS);
    for (const [start, , master, ...replicas] of ranges) {
      expect(replicas).toHaveLength(1);
      expect((await c.masterForSlot(start)).port).toBe(master?.[1]);
    }
    // Every master has its replica online.
    for (const master of masters) {
      const info = await onNode(master.port, (r) => r.info('replication'));
      expect(info).toMatch(/connected_slaves:1/);
      expect(info).toMatch(/slave0:ip=127\.0\.0\.1,port=\d+,state=online/);
    }
  });

  it('spreads 3,000 keys with 30 hash tags over all three masters', async () => {
    const c = running();
    // One pipeline per tag: a Cluster pipeline must stay within one node's slots.
    await Promise.all(
      Array.from({ length: TAGS }, async (_, t) => {
        const pipeline = client.pipeline();
        for (let k = 0; k < KEYS_PER_TAG; k++) pipeline.set(key(t, k), value(t, k));
        const results = await pipeline.exec();
        expect(results?.every(([error]) => error === null)).toBe(true);
      }),
    );
    // keySlot agrees with the server.
    for (const probe of [key(0, 0), key(29, 99), 'no-tag', '{}:empty-tag']) {
      expect(keySlot(probe)).toBe(Number(await client.cluster('KEYSLOT', probe)));
    }

    const counts = await c.keyCountsByMaster('{p*}:k*');
    const total = TAGS * KEYS_PER_TAG;
    log(
      `3,000 keys over the masters: ${[...counts]
        .map(([port, n]) => `${port}: ${n} (${((100 * n) / total).toFixed(1)}%)`)
        .join(', ')}`,
    );
    expect(counts.size).toBe(3);
    expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(total);
    for (const n of counts.values()) {
      expect(n).toBeGreaterThanOrEqual(0.2 * total);
      expect(n).toBeLessThanOrEqual(0.47 * total);
    }
    // And each tag's keys are where keySlot + masterForSlot say.
    const predicted = new Map<number, number>();
    for (let t = 0; t < TAGS; t++) {
      const master = await c.masterForSlot(keySlot(tag(t)));
      predicted.set(master.port, (predicted.get(master.port) ?? 0) + KEYS_PER_TAG);
    }
    expect(new Map([...predicted].sort())).toEqual(new Map([...counts].sort()));
  });

  it('runs a MULTI within one hash tag, and refuses one across two hash tags with CROSSSLOT', async () => {
    const c = running();
    expect(await client.multi().set('{p0}:m1', 'a').incr('{p0}:m2').get('{p0}:m1').exec()).toEqual([
      [null, 'OK'],
      [null, 1],
      [null, 'a'],
    ]);

    // Two tags whose slots differ but sit on the same master: the server refuses the MULTI.
    const owners = new Map<number, number[]>();
    for (let t = 0; t < TAGS; t++) {
      const port = (await c.masterForSlot(keySlot(tag(t)))).port;
      owners.set(port, [...(owners.get(port) ?? []), t]);
    }
    const sameMaster = [...owners.values()].find((ts) => ts.length >= 2) as number[];
    const [a, b] = sameMaster as [number, number];
    expect(keySlot(tag(a))).not.toBe(keySlot(tag(b)));
    await expect(
      client
        .multi()
        .set(`${tag(a)}:m`, '1')
        .set(`${tag(b)}:m`, '2')
        .exec(),
    ).rejects.toThrow("CROSSSLOT Keys in request don't hash to the same slot");

    // Two tags on different masters: ioredis refuses it before sending anything.
    const [x, y] = [...owners.values()].map((ts) => ts[0]) as [number, number];
    await expect(
      client
        .multi()
        .set(`${tag(x)}:m`, '1')
        .set(`${tag(y)}:m`, '2')
        .exec(),
    ).rejects.toThrow('All keys in the pipeline should belong to the same slots allocation group');
    // Neither wrote anything.
    expect(await client.exists(`${tag(a)}:m`)).toBe(0);
    expect(await client.exists(`${tag(b)}:m`)).toBe(0);
    expect(await client.exists(`${tag(x)}:m`)).toBe(0);
  });

  it('runs 50 BullMQ jobs through a Queue and a Worker on a Cluster connection (prefix {bq-test})', async () => {
    const c = running();
    // client() sets redisOptions.maxRetriesPerRequest = null: on a Cluster, BullMQ reads that
    // option from redisOptions and throws if a Worker's connection has it set.
    const connection = c.client();
    const prefix = '{bq-test}';
    const queue = new Queue<{ n: number }, number>('smoke', { connection, prefix });
    const done: number[] = [];
    const errors: string[] = [];
    const worker = new Worker<{ n: number }, number>(
      'smoke',
      async (job) => {
        done.push(job.data.n);
        return job.data.n * 2;
      },
      { connection, prefix, concurrency: 5 },
    );
    worker.on('error', (error) => errors.push(error.message));
    try {
      await queue.addBulk(Array.from({ length: 50 }, (_, n) => ({ name: 'smoke', data: { n } })));
      await waitFor(async () => (await queue.getCompletedCount()) === 50, {
        timeoutMs: 30_000,
        what: '50 completed jobs',
      });
      expect(done.sort((p, q) => p - q)).toEqual(Array.from({ length: 50 }, (_, n) => n));
      const completed = await queue.getCompleted(0, 49);
      expect(completed.map((j) => j.returnvalue).sort((p, q) => p - q)).toEqual(
        Array.from({ length: 50 }, (_, n) => n * 2),
      );
      expect(errors).toEqual([]);
      // Every key of the queue sits in the one slot of its hash tag.
      const owner = await c.masterForSlot(keySlot(prefix));
      const counts = await c.keyCountsByMaster(`${prefix}:*`);
      expect(counts.get(owner.port)).toBeGreaterThan(50);
      expect([...counts].filter(([port, n]) => port !== owner.port && n > 0)).toEqual([]);
    } finally {
      await closeBounded(worker, queue);
    }
  });

  it('puts queues with different hash tags ({bq-a}, {bq-b}) on the masters of their slots', async () => {
    const c = running();
    const placed: string[] = [];
    const owners: number[] = [];
    for (const prefix of ['{bq-a}', '{bq-b}']) {
      const queue = new Queue('placement', { connection: client, prefix });
      try {
        await queue.addBulk(Array.from({ length: 5 }, (_, n) => ({ name: 'p', data: { n } })));
        expect(await queue.getWaitingCount()).toBe(5);
      } finally {
        await closeBounded(queue);
      }
      const owner = await c.masterForSlot(keySlot(prefix));
      const counts = await c.keyCountsByMaster(`${prefix}:*`);
      expect(counts.get(owner.port)).toBeGreaterThan(0);
      expect([...counts].filter(([port, n]) => port !== owner.port && n > 0)).toEqual([]);
      owners.push(owner.port);
      placed.push(`${prefix} slot ${keySlot(prefix)} on ${owner.port} (${counts.get(owner.port)} keys)`);
    }
    log(`queues: ${placed.join('; ')}; ${owners[0] === owners[1] ? 'same master' : 'different masters'}`);
  });

  it('fails a SIGKILLed master over to its replica and keeps every write acknowledged by WAIT', async () => {
    const c = running();
    // More writes right before the kill, on every tag, then WAIT on the connections that wrote
    // them: replication is asynchronous, and only what a replica acknowledged must survive.
    await Promise.all(Array.from({ length: TAGS }, (_, t) => client.set(`${tag(t)}:late`, `late${t}`)));
    for (const master of client.nodes('master')) {
      expect(await master.wait(1, 1_000)).toBeGreaterThanOrEqual(1);
    }

    const victim = await c.masterForSlot(keySlot(tag(0)));
    // Writes to the victim's slots go on through the failover: client()'s retry options
    // (retryDelayOnFailover × maxRedirections) outlast it, where ioredis's defaults do not.
    let failingOver = true;
    const during = { ok: 0, errors: [] as string[], slowestMs: 0 };
    const writes = (async () => {
      for (let i = 0; failingOver && i < 1_000; i++) {
        const sent = Date.now();
        await client.set('{p0}:during', i).then(
          () => during.ok++,
          (error: unknown) => during.errors.push(String(error)),
        );
        during.slowestMs = Math.max(during.slowestMs, Date.now() - sent);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const killedAt = Date.now();
    await c.kill(victim);
    const promoted = await c.waitForFailover(victim, FAILOVER_BOUND_MS).finally(() => (failingOver = false));
    const failoverMs = Date.now() - killedAt;
    await writes;
    log(
      `SIGKILL of master ${victim.port}: replica ${promoted.port} took over in ${failoverMs} ms; ` +
        `${during.ok} writes meanwhile, slowest ${during.slowestMs} ms`,
    );
    expect(during.errors).toEqual([]);

    expect(victim.alive()).toBe(false);
    expect(startRoles.get(promoted.port)).toBe('replica');
    expect(await promoted.role()).toBe('master');
    expect(failoverMs).toBeLessThan(FAILOVER_BOUND_MS);
    expect((await c.masterForSlot(keySlot(tag(0)))).port).toBe(promoted.port);
    expect((await c.masters()).map((m) => m.port)).not.toContain(victim.port);
    for (const node of c.nodes.filter((n) => n.alive())) {
      expect(await onNode(node.port, (r) => r.cluster('INFO'))).toMatch(/cluster_state:ok/);
    }

    // The same client reads back every key written before the kill.
    for (let t = 0; t < TAGS; t++) {
      const keys = Array.from({ length: KEYS_PER_TAG }, (_, k) => key(t, k));
      expect(await client.mget(...keys)).toEqual(keys.map((_, k) => value(t, k)));
      expect(await client.get(`${tag(t)}:late`)).toBe(`late${t}`);
    }
    // And writes to the failed-over slots go to the new master.
    await client.set('{p0}:after', 'x');
    expect(await onNode(promoted.port, (r) => r.get('{p0}:after'))).toBe('x');
  });

  it('restarts the killed master, which rejoins as a replica of the node that took over', async () => {
    const c = running();
    const victim = c.nodes.find((n) => !n.alive());
    if (!victim) throw new Error('no killed node: the failover test did not run');
    const newMaster = await c.masterForSlot(keySlot(tag(0)));
    await c.restart(victim);
    await c.waitForHealthy(15_000);
    expect(await victim.role()).toBe('replica');
    expect(await onNode(victim.port, (r) => r.info('replication'))).toMatch(
      new RegExp(`master_port:${newMaster.port}\\b`),
    );
    expect((await c.masters()).map((m) => m.port)).not.toContain(victim.port);
  });

  it('stop() leaves no redis-server process, no port listening and no directory', async () => {
    const c = running();
    const ports = c.nodes.flatMap((n) => [n.port, n.port + 10_000]);
    const pids = c.nodes.map((n) => n.pid);
    expect(pids.every((pid) => typeof pid === 'number')).toBe(true);
    expect(await Promise.all(c.nodes.map((n) => listening(n.port)))).toEqual(c.nodes.map(() => true));

    const started = Date.now();
    await c.stop();
    log(`stop() in ${Date.now() - started} ms`);
    await c.stop(); // idempotent

    expect(await Promise.all(ports.map(listening))).toEqual(ports.map(() => false));
    for (const pid of pids) expect(() => process.kill(pid as number, 0)).toThrow(/ESRCH/);
    const pgrep = spawnSync('pgrep', [
      '-f',
      `redis-server 127.0.0.1:(${c.nodes.map((n) => n.port).join('|')})\\b`,
    ]);
    if (!pgrep.error) expect(pgrep.status).toBe(1); // 1: nothing matched
    expect(existsSync(c.dir)).toBe(false);
    expect(c.nodes.some((n) => n.alive())).toBe(false);
  });
});
