/**
 * How user-sync spreads over Redis Cluster (part of `npm run bench:cluster`): on each setup —
 * the private single Redis with `partitions: 1` and 12, the private 3-master cluster with 12 —
 * and with 1, 2 and 4 worker processes, one run is:
 * - publish N `user.created` events, one per user, 1 HTTP target (every delivery is one HTTP
 *   call), 32 in flight, while the queues are paused and no worker runs: publishes/s, and each
 *   master's CPU per 1,000 publishes and memory per user queued;
 * - start the worker processes (concurrency 16 per target per process, divided among the 12
 *   partitions), resume, drain: deliveries/s and each master's CPU per 1,000 deliveries
 *   (INFO cpu, used_cpu_sys + used_cpu_user deltas);
 * - stop the workers, delete the queues' keys (BullMQ's retained history) and the dedupe
 *   records: each master's memory per user at rest (INFO used_memory delta over the users whose
 *   partition that master holds).
 * Rounds run every (setup, processes) pair, in reverse order every other round, and each figure
 * is the median of its rounds.
 */
import { Keyspace } from '../src/jobs/names.js';
import { fmt, median, result, type BenchResult } from './harness/measure.js';
import { PREFIX, deliver, type DeliveryStage, type Rig } from './harness/rig.js';
import {
  cpuMsByMaster,
  deleteMatching,
  memoryByMaster,
  perMasterDelta,
  type Store,
} from './harness/store.js';
import { makeEvents, targetNames } from './harness/workload.js';

export interface Setup {
  /** For names and tables: `Redis, partitions 1`, … */
  label: string;
  store: Store;
}

export const PROCESSES = [1, 2, 4] as const;

/** Per master name. */
type PerMaster = Map<string, number>;

interface ScaleRun {
  publishPerSec: number;
  deliverPerSec: number;
  /** The worker processes' CPU per 1,000 deliveries (all of them together). */
  workerCpu: number;
  /** Redis CPU ms per 1,000 publishes / deliveries of the run, by master. */
  publishCpu: PerMaster;
  deliverCpu: PerMaster;
  /** The replicas' CPU per 1,000 deliveries, all of them together. */
  replicaCpu: number;
  /** Users whose partition the master holds. */
  users: PerMaster;
  /** Bytes per user on its master: everything queued, and at rest. */
  queuedBytes: PerMaster;
  restBytes: PerMaster;
}

const per = (delta: PerMaster, n: number | PerMaster, unit: number) =>
  new Map(
    [...delta].map(([name, value]) => [
      name,
      (value / (typeof n === 'number' ? n : (n.get(name) ?? Number.NaN))) * unit,
    ]),
  );

async function scaleRun(rig: Rig, setup: Setup, processes: number, n: number): Promise<ScaleRun> {
  const { store } = setup;
  const events = makeEvents(n);
  const users: PerMaster = new Map(store.masters().map(({ name }) => [name, 0]));
  const keyspace = new Keyspace(PREFIX, store.partitions);
  for (const e of events) {
    const master = store.masterOf(keyspace.forUser(e.user.id).prefix);
    users.set(master, (users.get(master) ?? 0) + 1);
  }
  const cpu: Partial<Record<DeliveryStage, PerMaster>> = {};
  const replicaCpu: Partial<Record<DeliveryStage, number>> = {};
  const sum = (m: PerMaster) => [...m.values()].reduce((a, b) => a + b, 0);
  let empty: PerMaster = new Map();
  let queued: PerMaster = new Map();
  const figures = await deliver(
    { ...rig, store },
    {
      side: 'user-sync',
      kind: 'http',
      targets: targetNames(1),
      events,
      processes,
      concurrency: 16,
      mode: 'prefilled',
      prefill: { kind: 'one', parallelism: 32 },
      probe: async (stage) => {
        if (stage === 'empty') empty = await memoryByMaster(store);
        cpu[stage] = await cpuMsByMaster(store);
        replicaCpu[stage] = sum(await cpuMsByMaster(store, store.replicas()));
        if (stage === 'queued') queued = await memoryByMaster(store);
      },
    },
  );
  await deleteMatching(store, '*:deliver.*');
  await deleteMatching(store, '*:event:*');
  const rest = await memoryByMaster(store);
  const at = (stage: DeliveryStage) => cpu[stage] as PerMaster;
  return {
    publishPerSec: figures.publishPerSec,
    deliverPerSec: figures.perSec,
    workerCpu: figures.cpuMsPer1000,
    publishCpu: per(perMasterDelta(at('queued'), at('empty')), n, 1000),
    deliverCpu: per(perMasterDelta(at('done'), at('timing')), n, 1000),
    replicaCpu: (((replicaCpu.done as number) - (replicaCpu.timing as number)) / n) * 1000,
    users,
    queuedBytes: per(perMasterDelta(queued, empty), users, 1),
    restBytes: per(perMasterDelta(rest, empty), users, 1),
  };
}

/** Every (setup, processes) pair `rounds` times, in reverse order every other round. */
export async function runScale(
  rig: Rig,
  setups: readonly Setup[],
  rounds: number,
  n: number,
): Promise<{ results: BenchResult[]; tables: string[] }> {
  const pairs = setups.flatMap((setup) => PROCESSES.map((processes) => ({ setup, processes })));
  const runs = new Map<string, ScaleRun[]>();
  const key = (setup: Setup, processes: number) => `${setup.label}|${processes}`;
  for (let r = 0; r < rounds; r++) {
    for (const { setup, processes } of r % 2 ? [...pairs].reverse() : pairs) {
      const run = await scaleRun(rig, setup, processes, n);
      runs.set(key(setup, processes), [...(runs.get(key(setup, processes)) ?? []), run]);
      console.log(
        `  round ${r + 1}, ${setup.label}, ${processes} worker process(es): ` +
          `${Math.round(run.publishPerSec)} publishes/s, ${Math.round(run.deliverPerSec)} deliveries/s`,
      );
    }
  }
  const of = (setup: Setup, processes?: number) =>
    processes === undefined
      ? PROCESSES.flatMap((p) => runs.get(key(setup, p)) ?? [])
      : (runs.get(key(setup, processes)) ?? []);
  const single = setups[0] as Setup;
  const results: BenchResult[] = [];
  console.log(`(baseline column: ${single.label}, same worker processes)`);
  for (const setup of setups) {
    const isBase = setup === single;
    results.push(
      result(`${setup.label}: publishes/s, no worker running`, 'events/s', {
        project: of(setup).map((x) => x.publishPerSec),
        baseline: isBase ? [] : of(single).map((x) => x.publishPerSec),
      }),
    );
    for (const processes of PROCESSES) {
      const pick = (f: (x: ScaleRun) => number) => ({
        project: of(setup, processes).map(f),
        baseline: isBase ? [] : of(single, processes).map(f),
      });
      const total = (m: PerMaster) => [...m.values()].reduce((a, b) => a + b, 0);
      results.push(
        result(
          `${setup.label}, ${processes} worker process(es): deliveries/s`,
          'deliveries/s',
          pick((x) => x.deliverPerSec),
        ),
        result(
          `${setup.label}, ${processes} worker process(es): worker CPU per 1,000 deliveries`,
          'ms',
          pick((x) => x.workerCpu),
        ),
        result(
          `${setup.label}, ${processes} worker process(es): Redis CPU per 1,000 deliveries, all masters`,
          'ms',
          pick((x) => total(x.deliverCpu)),
        ),
      );
      if (setup.store.replicas().length) {
        results.push(
          result(
            `${setup.label}, ${processes} worker process(es): Redis CPU per 1,000 deliveries, all replicas`,
            'ms',
            pick((x) => x.replicaCpu),
          ),
        );
      }
    }
  }
  for (const setup of setups.filter((s) => s.store.masters().length > 1)) {
    for (const { name } of setup.store.masters()) {
      const pick = (f: (x: ScaleRun) => PerMaster) => ({
        project: of(setup).map((x) => f(x).get(name) ?? Number.NaN),
        baseline: [],
      });
      results.push(
        result(`${setup.label}, ${name}: share of users`, '%', {
          project: of(setup).map((x) => ((x.users.get(name) ?? 0) / n) * 100),
          baseline: [],
        }),
        result(
          `${setup.label}, ${name}: Redis CPU per 1,000 publishes`,
          'ms',
          pick((x) => x.publishCpu),
        ),
        result(
          `${setup.label}, ${name}: Redis CPU per 1,000 deliveries`,
          'ms',
          pick((x) => x.deliverCpu),
        ),
        result(
          `${setup.label}, ${name}: bytes per user at rest`,
          'B',
          pick((x) => x.restBytes),
        ),
      );
    }
  }
  return { results, tables: [throughputTable(setups, of), nodeTable(setups, of)] };
}

/** The median, per master, of each run's per-master figure. */
function perMasterMedian(runs: readonly ScaleRun[], f: (x: ScaleRun) => PerMaster): PerMaster {
  const names = [...new Set(runs.flatMap((x) => [...f(x).keys()]))].sort();
  return new Map(names.map((name) => [name, median(runs.map((x) => f(x).get(name) ?? Number.NaN))]));
}

const spread = (m: PerMaster) =>
  m.size === 1 ? fmt([...m.values()][0] as number) : [...m.values()].map(fmt).join(' / ');

function throughputTable(
  setups: readonly Setup[],
  of: (setup: Setup, processes?: number) => ScaleRun[],
): string {
  const lines = [
    '| setup | worker processes | publishes/s | deliveries/s | worker CPU ms per 1,000 deliveries | Redis CPU ms per 1,000 deliveries: masters, total (each) | replicas |',
    '|---|---:|---:|---:|---:|---|---:|',
  ];
  for (const setup of setups) {
    for (const processes of PROCESSES) {
      const runs = of(setup, processes);
      const cpu = perMasterMedian(runs, (x) => x.deliverCpu);
      const total = median(runs.map((x) => [...x.deliverCpu.values()].reduce((a, b) => a + b, 0)));
      lines.push(
        `| ${setup.label} | ${processes} | ${fmt(median(runs.map((x) => x.publishPerSec)))} | ` +
          `${fmt(median(runs.map((x) => x.deliverPerSec)))} | ${fmt(median(runs.map((x) => x.workerCpu)))} | ${fmt(total)}${cpu.size > 1 ? ` (${spread(cpu)})` : ''} | ` +
          `${setup.store.replicas().length ? fmt(median(runs.map((x) => x.replicaCpu))) : '–'} |`,
      );
    }
  }
  return lines.join('\n');
}

function nodeTable(setups: readonly Setup[], of: (setup: Setup, processes?: number) => ScaleRun[]): string {
  const lines = [
    '| setup | master | share of users | Redis CPU ms per 1,000 publishes | per 1,000 deliveries | bytes per user queued | bytes per user at rest |',
    '|---|---|---:|---:|---:|---:|---:|',
  ];
  for (const setup of setups) {
    const runs = of(setup);
    const users = perMasterMedian(runs, (x) => x.users);
    const all = [...users.values()].reduce((a, b) => a + b, 0);
    const publishCpu = perMasterMedian(runs, (x) => x.publishCpu);
    const deliverCpu = perMasterMedian(runs, (x) => x.deliverCpu);
    const queued = perMasterMedian(runs, (x) => x.queuedBytes);
    const rest = perMasterMedian(runs, (x) => x.restBytes);
    for (const [name, count] of users) {
      lines.push(
        `| ${setup.label} | ${name} | ${((count / all) * 100).toFixed(1)}% | ${fmt(publishCpu.get(name) ?? NaN)} | ` +
          `${fmt(deliverCpu.get(name) ?? NaN)} | ${fmt(queued.get(name) ?? NaN)} | ${fmt(rest.get(name) ?? NaN)} |`,
      );
    }
  }
  return lines.join('\n');
}
