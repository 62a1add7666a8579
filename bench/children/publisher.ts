/**
 * A publishing process for `npm run bench:profile`: publishes events through user-sync (one
 * `publish` per event, 32 in flight) so that its CPU profile shows the publish path alone.
 */
import { Redis } from 'ioredis';
import { startDeadline } from '../common.js';
import { serve } from '../harness/ipc.js';
import { producer } from '../harness/rig.js';
import { makeEvents, targetNames } from '../harness/workload.js';

let redis: Redis | undefined;

serve({
  publish: async (p: { redisUrl: string; receiverUrl: string; events: number; targets: number }) => {
    redis ??= new Redis(p.redisUrl, { maxRetriesPerRequest: 20 });
    const deadline = startDeadline(300_000);
    const side = producer(
      { store: { connection: redis, partitions: 1 }, receiverUrl: p.receiverUrl, deadline },
      'user-sync',
      targetNames(p.targets),
    );
    const started = performance.now();
    try {
      await side.publish(makeEvents(p.events), { kind: 'one', parallelism: 32 });
      return { perSec: p.events / ((performance.now() - started) / 1000) };
    } finally {
      deadline.clear();
      await side.close();
    }
  },
  exit: async () => {
    await redis?.quit();
  },
});
