/**
 * Latency, publish call → request received at the receiver, 3 HTTP targets, 1 worker process
 * (concurrency 16 per target): p50/p95/p99 at a fixed 500 events/s (1,500 deliveries/s), and
 * at 80% of the capacity user-sync showed in the same run (events published as fast as they
 * go, 32 in flight, until the last is delivered). The baseline (FlowProducer.addBulk of the 3
 * jobs, raw Workers + got) runs at the same rates; its own capacity is reported beside.
 * Each round's percentiles are over every request of the round; the figure is their median.
 */
import { interleaved, median, percentile, result, type BenchResult } from './harness/measure.js';
import { deliver, type DeliveryFigures, type Rig, type Side } from './harness/rig.js';
import { makeEvents, targetNames } from './harness/workload.js';

const TARGETS = targetNames(3);

export async function runLatency(rig: Rig): Promise<BenchResult[]> {
  const rounds = 3;
  const seconds = rig.quick ? 0.4 : 6;
  const run = (side: Side, rate?: number, events = Math.round((rate ?? 0) * seconds)) =>
    deliver(rig, {
      side,
      kind: 'http',
      targets: TARGETS,
      events: makeEvents(events),
      processes: 1,
      concurrency: 16,
      mode: 'publishing',
      ...(rate ? { rate } : {}),
    });
  const percentiles = (
    label: string,
    runs: { project: DeliveryFigures[]; baseline: DeliveryFigures[] },
    p99Goal?: number,
  ) =>
    ([50, 95, 99] as const).map((p) =>
      result(
        `latency p${p}, ${label}`,
        'ms',
        {
          project: runs.project.map((r) => percentile(r.latencies, p)),
          baseline: runs.baseline.map((r) => percentile(r.latencies, p)),
        },
        p === 99 && p99Goal !== undefined ? { max: p99Goal } : {},
      ),
    );

  console.log(`latency: 3 HTTP targets, ${rounds} rounds of ${seconds} s at each rate`);
  const fixed = await interleaved(
    rounds,
    () => run('user-sync', 500),
    () => run('bullmq', 500),
  );
  const results = percentiles('500 events/s × 3 targets', fixed, 20);

  const capacityEvents = rig.quick ? 300 : 4_000;
  const capacity = await interleaved(
    rounds,
    () => run('user-sync', undefined, capacityEvents),
    () => run('bullmq', undefined, capacityEvents),
  );
  results.push(
    result('capacity, 3 HTTP targets, published while delivering', 'events/s', {
      project: capacity.project.map((r) => r.perSec / TARGETS.length),
      baseline: capacity.baseline.map((r) => r.perSec / TARGETS.length),
    }),
  );
  const rate = Math.round(0.8 * median(capacity.project.map((r) => r.perSec / TARGETS.length)));
  const loaded = await interleaved(
    rounds,
    () => run('user-sync', rate),
    () => run('bullmq', rate),
  );
  results.push(...percentiles(`80% of user-sync's capacity (${rate} events/s × 3 targets)`, loaded));
  return results;
}
