/**
 * Delivery, one event per user (no coalescing: every delivery is a call), worker processes
 * apart from this one, concurrency 16 per target per process, against raw BullMQ `Worker`s
 * doing the same (src/../children/worker.ts):
 * - draining a pre-filled queue (1 HTTP target): the body POSTed with got, same receiver;
 * - the same while this process publishes the events (32 in flight);
 * - a noop handler target against a noop `Worker`;
 * - draining with 1 and 2 worker processes.
 * Also the workers' CPU and Redis round trips per delivery (from the drains).
 */
import { interleaved, result, type BenchResult } from './harness/measure.js';
import { deliver, type DeliverOptions, type DeliveryFigures, type Rig } from './harness/rig.js';
import { makeEvents, targetNames } from './harness/workload.js';

const pick = (
  runs: { project: DeliveryFigures[]; baseline: DeliveryFigures[] },
  f: (x: DeliveryFigures) => number,
) => ({
  project: runs.project.map(f),
  baseline: runs.baseline.map(f),
});

export async function runDelivery(rig: Rig): Promise<BenchResult[]> {
  const rounds = 3;
  const n = rig.quick ? 300 : 4_000;
  console.log(`delivery: ${n} events, one per user, concurrency 16, ${rounds} rounds`);
  const both = (o: Omit<DeliverOptions, 'side' | 'events'>, events = n) =>
    interleaved(
      rounds,
      () => deliver(rig, { ...o, side: 'user-sync', events: makeEvents(events) }),
      () => deliver(rig, { ...o, side: 'bullmq', events: makeEvents(events) }),
    );
  const http1 = { kind: 'http', targets: targetNames(1), concurrency: 16 } as const;

  const drain = await both({ ...http1, processes: 1, mode: 'prefilled' });
  const results = [
    result(
      'delivery: drain a pre-filled queue, 1 HTTP target, 1 worker process',
      'deliveries/s',
      pick(drain, (x) => x.perSec),
      {
        ratio: 0.9,
      },
    ),
    result(
      'worker CPU per 1,000 HTTP deliveries',
      'ms',
      pick(drain, (x) => x.cpuMsPer1000),
    ),
    result(
      'Redis round trips per delivery (worker client)',
      'round trips',
      pick(drain, (x) => x.roundTrips),
    ),
    result(
      'Redis commands per delivery (server, scripts included)',
      'commands',
      pick(drain, (x) => x.commands),
    ),
  ];
  const publishing = await both({ ...http1, processes: 1, mode: 'publishing' });
  results.push(
    result(
      'delivery while publishing (32 in flight), 1 HTTP target',
      'deliveries/s',
      pick(publishing, (x) => x.perSec),
      {
        ratio: 0.8,
      },
    ),
  );
  const noopEvents = rig.quick ? 600 : 8_000;
  const noop = await both(
    { kind: 'noop', targets: targetNames(1), concurrency: 16, processes: 1, mode: 'prefilled' },
    noopEvents,
  );
  results.push(
    result(
      'delivery: noop handler target vs noop Worker, drain',
      'deliveries/s',
      pick(noop, (x) => x.perSec),
      { ratio: 0.8 },
    ),
    result(
      'worker CPU per 1,000 noop deliveries',
      'ms',
      pick(noop, (x) => x.cpuMsPer1000),
    ),
  );
  const two = await both({ ...http1, processes: 2, mode: 'prefilled' }, rig.quick ? 400 : 6_000);
  results.push(
    result(
      'delivery: drain, 1 HTTP target, 2 worker processes',
      'deliveries/s',
      pick(two, (x) => x.perSec),
      { ratio: 0.9 },
    ),
  );
  return results;
}
