/**
 * Publishing, 3 targets, on an empty Redis, no workers running:
 * - `publish`, 32 in flight, against raw BullMQ creating the same three jobs atomically
 *   (`FlowProducer.addBulk` of the event's three parentless jobs: one MULTI);
 * - `publishMany` in batches of 100 events, 4 batches in flight, against `Queue.addBulk` of the
 *   same jobs (one call per target queue, not atomic across them) and against
 *   `FlowProducer.addBulk` of the batch's 300 jobs (one MULTI, atomic as user-sync's).
 * Also the Redis round trips and server-side commands per publish.
 */
import { interleaved, result, type BenchResult } from './harness/measure.js';
import { timedPublish, type PublishFigures, type PublishMode, type Rig } from './harness/rig.js';
import { makeEvents, targetNames } from './harness/workload.js';

const TARGETS = targetNames(3);
const pick = (
  runs: { project: PublishFigures[]; baseline: PublishFigures[] },
  f: (x: PublishFigures) => number,
) => ({
  project: runs.project.map(f),
  baseline: runs.baseline.map(f),
});

export async function runPublish(rig: Rig): Promise<BenchResult[]> {
  const rounds = rig.quick ? 3 : 5;
  const n = rig.quick ? 300 : 5_000;
  console.log(`publish: ${n} events × 3 targets, ~200-byte snapshots, ${rounds} rounds`);
  const one: PublishMode = { kind: 'one', parallelism: 32 };
  const single = await interleaved(
    rounds,
    () => timedPublish(rig, 'user-sync', TARGETS, makeEvents(n), one),
    () => timedPublish(rig, 'bullmq', TARGETS, makeEvents(n), one),
  );
  const results = [
    result(
      'publish, 3 targets, 32 in flight (vs FlowProducer.addBulk of the 3 jobs)',
      'events/s',
      pick(single, (x) => x.perSec),
      {
        ratio: 0.85,
      },
    ),
    result(
      'Redis round trips per publish (client)',
      'round trips',
      pick(single, (x) => x.roundTrips),
    ),
    result(
      'Redis commands per publish (server, scripts included)',
      'commands',
      pick(single, (x) => x.commands),
    ),
  ];

  const nMany = rig.quick ? 400 : 10_000;
  for (const raw of ['queue', 'flow'] as const) {
    const mode: PublishMode = { kind: 'many', batch: 100, parallelism: 4, raw };
    const many = await interleaved(
      rounds,
      () => timedPublish(rig, 'user-sync', TARGETS, makeEvents(nMany), mode),
      () => timedPublish(rig, 'bullmq', TARGETS, makeEvents(nMany), mode),
    );
    const against = raw === 'queue' ? 'Queue.addBulk per target' : 'FlowProducer.addBulk';
    results.push(
      result(
        `publishMany, batches of 100, 4 in flight (vs ${against})`,
        'events/s',
        pick(many, (x) => x.perSec),
        {
          ratio: 0.8,
        },
      ),
    );
  }
  return results;
}
