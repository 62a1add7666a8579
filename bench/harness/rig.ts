/**
 * The rig every benchmark of the suite runs on: the private Redis, the receiver process, the
 * worker processes, the publishing connection and the deadline; and the two primitives the
 * benchmarks are made of, the same for user-sync and its baseline: publish a set of events
 * (`publishAll`), and deliver them with worker processes (`deliver`).
 */
import { setMaxListeners } from 'node:events';
import { FlowProducer, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { UserEventPublisher, createLogger, parseConfig } from '../../src/index.js';
import { Keyspace } from '../../src/jobs/names.js';
import type { WorkerSnapshot, WorkerSpec } from '../children/worker.js';
import { startDeadline, type Deadline } from '../common.js';
import { Child, nowAbs } from './ipc.js';
import { redisTally } from './redis-tally.js';
import { commandsBetween, startBenchRedis, type BenchRedis } from './redis.js';
import { flushStore, singleStore, storeCommandCalls, type Store } from './store.js';
import { SOURCE, rawJob, rawQueue, userSyncConfig, type BenchEvent, type TargetKind } from './workload.js';

export type Side = 'user-sync' | 'bullmq';
/** Every key of the private Redis is the benchmark's: one fixed prefix, flushed between runs. */
export const PREFIX = '{bench}';

export interface Rig {
  quick: boolean;
  redis: BenchRedis;
  /**
   * Where runs keep their keys, and the connection both sides publish on: the private Redis with
   * one partition; `{ ...rig, store }` runs the same primitives on another (bench/cluster.ts).
   */
  store: Store;
  receiver: Child;
  receiverUrl: string;
  /** Worker processes, started once and given a side and targets per run. */
  workers: Child[];
  deadline: Deadline;
  close(): Promise<void>;
}

export async function startRig(quick: boolean, timeoutMs: number, workerProcesses = 2): Promise<Rig> {
  const deadline = startDeadline(timeoutMs);
  // Every call in flight waits on the deadline's signal: many listeners, on purpose.
  setMaxListeners(0, deadline.signal);
  const redis = await startBenchRedis();
  const store = singleStore(redis, new Redis(redis.url, { maxRetriesPerRequest: 20 }));
  const receiver = await Child.start('receiver');
  const workers = await Promise.all(Array.from({ length: workerProcesses }, () => Child.start('worker')));
  return {
    quick,
    redis,
    store,
    receiver,
    receiverUrl: await receiver.call<string>('url'),
    workers,
    deadline,
    close: async () => {
      deadline.clear();
      await Promise.all([receiver.stop(), ...workers.map((w) => w.stop())]);
      await store.connection.quit().catch(() => undefined);
      await redis.stop();
    },
  };
}

/** Runs `work(i)` for i in [0, n) with at most `parallelism` calls in flight. */
export async function inParallel(
  deadline: Deadline,
  n: number,
  parallelism: number,
  work: (i: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < n) {
      if (deadline.signal.aborted) throw deadline.signal.reason as Error;
      await work(next++);
    }
  };
  await deadline.bounded(Promise.all(Array.from({ length: Math.min(n, parallelism) }, lane)));
}

/** How events are published: one at a time (32 in flight), or in batches. */
export type PublishMode =
  | { kind: 'one'; parallelism: number }
  | { kind: 'many'; batch: number; parallelism: number; raw: 'queue' | 'flow' };

/** The publishing side of one run: user-sync's publisher, or raw BullMQ on the same connection. */
export interface Producer {
  /** Publishes events[i..j) as `mode` says; sets each snapshot's `sent_at` first. */
  publish(events: readonly BenchEvent[], mode: PublishMode): Promise<void>;
  close(): Promise<void>;
}

/** What a producer needs of the rig (a publisher process builds just this). */
export type ProducerRig = Pick<Rig, 'receiverUrl' | 'deadline'> & {
  store: Pick<Store, 'connection' | 'partitions'>;
};

/**
 * A producer's publish: each event (mode 'one') or each batch (mode 'many') stamped with the
 * time it is sent (the receiver measures latency from it), `parallelism` at a time.
 */
function publishing(
  rig: Pick<Rig, 'deadline'>,
  one: (event: BenchEvent) => Promise<void>,
  many: (batch: BenchEvent[], mode: Extract<PublishMode, { kind: 'many' }>) => Promise<void>,
): Producer['publish'] {
  return async (events, mode) => {
    if (mode.kind === 'one') {
      await inParallel(rig.deadline, events.length, mode.parallelism, async (i) => {
        const event = events[i] as BenchEvent;
        event.user.sent_at = nowAbs();
        await one(event);
      });
      return;
    }
    const batches = Math.ceil(events.length / mode.batch);
    await inParallel(rig.deadline, batches, mode.parallelism, async (b) => {
      const batch = events.slice(b * mode.batch, (b + 1) * mode.batch);
      const at = nowAbs();
      for (const event of batch) event.user.sent_at = at;
      await many(batch, mode);
    });
  };
}

/** `replicaAcks`: user-sync's setting (default 0). */
export function producer(
  rig: ProducerRig,
  side: Side,
  targets: readonly string[],
  kind: TargetKind = 'http',
  replicaAcks = 0,
): Producer {
  const connection = rig.store.connection;
  if (side === 'user-sync') {
    const config = parseConfig(
      userSyncConfig({
        prefix: PREFIX,
        targets,
        kind,
        url: rig.receiverUrl,
        partitions: rig.store.partitions,
        replicaAcks,
      }),
    );
    const publisher = new UserEventPublisher(connection, SOURCE, {
      config,
      logger: createLogger({ silent: true }),
    });
    return {
      publish: publishing(
        rig,
        async (event) => void (await publisher.publishUserCreated(event.user, { id: event.id })),
        async (batch) => {
          const outcomes = await publisher.publishMany(
            batch.map((event) => ({ type: 'user.created' as const, id: event.id, user: event.user })),
          );
          const refused = outcomes.find((o) => !o.ok);
          if (refused && !refused.ok) throw refused.error;
        },
      ),
      close: () => publisher.close(),
    };
  }
  const flow = new FlowProducer({ connection, prefix: PREFIX });
  const queues = new Map(targets.map((t) => [t, new Queue(rawQueue(t), { connection, prefix: PREFIX })]));
  flow.on('error', () => undefined);
  for (const queue of queues.values()) queue.on('error', () => undefined);
  const jobsOf = (event: BenchEvent) => targets.map((t) => rawJob(event, t));
  return {
    publish: publishing(
      rig,
      async (event) => {
        // One target: a plain add; more: all of the event's jobs at once, atomically.
        if (targets.length === 1) {
          const { name, data, opts } = jobsOf(event)[0] as ReturnType<typeof rawJob>;
          await (queues.get(targets[0] as string) as Queue).add(name, data, opts);
        } else await flow.addBulk(jobsOf(event));
      },
      async (batch, mode) => {
        if (mode.raw === 'flow') await flow.addBulk(batch.flatMap(jobsOf));
        else
          await Promise.all(
            targets.map((t) => (queues.get(t) as Queue).addBulk(batch.map((event) => rawJob(event, t)))),
          );
      },
    ),
    close: async () => {
      await flow.close();
      await Promise.all([...queues.values()].map((q) => q.close()));
    },
  };
}

/** What one publish run measured. */
export interface PublishFigures {
  perSec: number;
  /** Client round trips and server-side commands (scripts' inner ones included), per event. */
  roundTrips: number;
  commands: number;
}

const tally = redisTally();

/** Publishes `events` on an empty Redis, timed, with its Redis cost per event. */
export async function timedPublish(
  rig: Rig,
  side: Side,
  targets: readonly string[],
  events: readonly BenchEvent[],
  mode: PublishMode,
): Promise<PublishFigures> {
  await flushStore(rig.store);
  const p = producer(rig, side, targets);
  try {
    // One untimed event first: script loading and the deployment check are not per event.
    await p.publish(events.slice(0, 1), { kind: 'one', parallelism: 1 });
    const before = await storeCommandCalls(rig.store);
    tally.take();
    const started = performance.now();
    await p.publish(events.slice(1), mode);
    const seconds = (performance.now() - started) / 1000;
    const client = tally.take();
    const after = await storeCommandCalls(rig.store);
    const n = events.length - 1;
    return {
      perSec: n / seconds,
      roundTrips: client.roundTrips / n,
      commands: commandsBetween(before, after) / n,
    };
  } finally {
    await p.close();
  }
}

/** The BullMQ queues a side delivers from (user-sync: one per target per partition). */
function deliveryQueues(store: Store, side: Side, targets: readonly string[]): Queue[] {
  const { connection } = store;
  if (side === 'bullmq') return targets.map((t) => new Queue(rawQueue(t), { connection, prefix: PREFIX }));
  return new Keyspace(PREFIX, store.partitions)
    .all()
    .flatMap((keys) =>
      targets.map((t) => new Queue(keys.deliveryQueue(t), { connection, prefix: keys.prefix })),
    );
}

/** What one delivery run measured. */
export interface DeliveryFigures {
  /** Deliveries per second, first job offered to last one finished. */
  perSec: number;
  /** Worker processes' CPU per 1,000 deliveries. */
  cpuMsPer1000: number;
  /**
   * Per delivery: the workers' round trips, the server's commands (scripts' inner ones
   * included; with mode 'publishing', publishing's too).
   */
  roundTrips: number;
  commands: number;
  /** Receiver latencies (ms from publish to request received), when the events were published during the run. */
  latencies: number[];
  /** Prefilled: events published per second while no worker ran (the first event untimed). */
  publishPerSec: number;
}

export interface DeliverOptions {
  side: Side;
  kind: TargetKind;
  targets: readonly string[];
  events: readonly BenchEvent[];
  /** Worker processes (of rig.workers). */
  processes: number;
  /** Per target per process. */
  concurrency: number;
  /**
   * 'prefilled': the events are queued first (queues paused), then drained;
   * 'publishing': published while the workers run, 32 in flight (or at `rate` events/s).
   */
  mode: 'prefilled' | 'publishing';
  rate?: number;
  /** How a prefilled run queues its events; default batches of 200, 4 in flight. */
  prefill?: PublishMode;
  /** Called at each stage of the run: memory and CPU probes. */
  probe?: (stage: DeliveryStage) => Promise<void>;
}

/**
 * 'empty': flushed, nothing published; 'queued' (prefilled): every event queued, no worker
 * started; 'timing': workers ready, just before the clock starts; 'done': every delivery done,
 * workers still running.
 */
export type DeliveryStage = 'empty' | 'queued' | 'timing' | 'done';

/**
 * One delivery run on an empty Redis: the workers in `processes` worker processes, the events
 * queued before (paused, resumed when timing starts) or published during the run by this
 * process. Ends when every delivery is done; checks the receiver got every request.
 */
export async function deliver(rig: Rig, o: DeliverOptions): Promise<DeliveryFigures> {
  const total = o.events.length * o.targets.length;
  const workers = rig.workers.slice(0, o.processes);
  if (workers.length < o.processes) throw new Error(`only ${rig.workers.length} worker processes`);
  await flushStore(rig.store);
  const p = producer(rig, o.side, o.targets, o.kind);
  const queues = deliveryQueues(rig.store, o.side, o.targets);
  const spec: WorkerSpec = {
    side: o.side,
    kind: o.kind,
    ...rig.store.workerConnection,
    partitions: rig.store.partitions,
    prefix: PREFIX,
    targets: [...o.targets],
    url: rig.receiverUrl,
    concurrency: o.concurrency,
  };
  const progress = new Map<Child, number>();
  let failure: string | undefined;
  let allDone: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (allDone = resolve));
  const listeners = workers.flatMap((w) => [
    w.on('progress', (data) => {
      progress.set(w, (data as { completed: number }).completed);
      if ([...progress.values()].reduce((a, b) => a + b, 0) >= total) allDone();
    }),
    w.on('failure', (message) => {
      failure ??= String(message);
      allDone();
    }),
  ]);
  let publishPerSec = Number.NaN;
  try {
    await o.probe?.('empty');
    if (o.mode === 'prefilled') {
      await Promise.all(queues.map((q) => q.pause()));
      // One untimed event first: script loading and the deployment check are not per event.
      await p.publish(o.events.slice(0, 1), { kind: 'one', parallelism: 1 });
      const at = performance.now();
      await p.publish(
        o.events.slice(1),
        o.prefill ?? { kind: 'many', batch: 200, parallelism: 4, raw: 'queue' },
      );
      publishPerSec = (o.events.length - 1) / ((performance.now() - at) / 1000);
      await o.probe?.('queued');
    }
    await Promise.all(workers.map((w) => w.call('start', spec)));
    await Promise.all(workers.map((w) => w.call('mark')));
    await rig.receiver.call('take');
    await o.probe?.('timing');
    const before = await storeCommandCalls(rig.store);
    const started = nowAbs();
    if (o.mode === 'prefilled') await Promise.all(queues.map((q) => q.resume()));
    else if (o.rate) await paced(rig, p, o.events, o.rate);
    else await p.publish(o.events, { kind: 'one', parallelism: 32 });
    await rig.deadline.bounded(finished);
    if (failure) throw new Error(`${o.side}: ${failure}`);
    const snapshots = await Promise.all(workers.map((w) => w.call<WorkerSnapshot>('snapshot')));
    const after = await storeCommandCalls(rig.store);
    await o.probe?.('done');
    const got = await rig.receiver.call<{ received: number; latencies: number[] }>('take');
    if (o.kind === 'http' && got.received !== total) {
      throw new Error(`${o.side}: ${total} deliveries done but the receiver got ${got.received}`);
    }
    const ended = Math.max(...snapshots.map((s) => s.lastAt));
    const sum = (f: (s: WorkerSnapshot) => number) => snapshots.reduce((a, s) => a + f(s), 0);
    return {
      perSec: total / ((ended - started) / 1000),
      cpuMsPer1000: (sum((s) => s.cpuMs) / total) * 1000,
      roundTrips: sum((s) => s.roundTrips) / total,
      commands: commandsBetween(before, after) / total,
      latencies: got.latencies,
      publishPerSec,
    };
  } finally {
    listeners.forEach((off) => off());
    await Promise.all(workers.map((w) => w.call('stop')));
    await Promise.all(queues.map((q) => q.close()));
    await p.close();
  }
}

/** Publishes `events` at `rate` per second (in 5 ms ticks), each event's call not waiting for the last. */
async function paced(rig: Rig, p: Producer, events: readonly BenchEvent[], rate: number): Promise<void> {
  const started = performance.now();
  const inFlight: Array<Promise<void>> = [];
  let sent = 0;
  while (sent < events.length) {
    if (rig.deadline.signal.aborted) throw rig.deadline.signal.reason as Error;
    const due = Math.min(events.length, Math.floor(((performance.now() - started) / 1000) * rate) + 1);
    for (; sent < due; sent++) {
      inFlight.push(p.publish(events.slice(sent, sent + 1), { kind: 'one', parallelism: 1 }));
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await rig.deadline.bounded(Promise.all(inFlight));
}
