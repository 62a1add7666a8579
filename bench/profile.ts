/**
 * CPU profiles of user-sync under load: a publisher process (one `publish` per event, 32 in
 * flight, 3 HTTP targets) and a worker process (user-sync's workers, concurrency 16 per
 * target) delivering to the receiver process at the same time, both run with `--cpu-prof`. The
 * profiles are written to .prof/<run>/{publisher,worker}/ (gitignored: open them in Chrome
 * DevTools or speedscope), and the 15 functions with the most self time of each are printed.
 *
 *   npm run bench:profile                     # 20,000 events
 *   BENCH_EVENTS=5000 npm run bench:profile
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { envInt } from './common.js';
import { Child } from './harness/ipc.js';
import { startBenchRedis } from './harness/redis.js';
import { PREFIX } from './harness/rig.js';
import { targetNames } from './harness/workload.js';
import type { WorkerSpec } from './children/worker.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/**
 * The functions with the most self time in a .cpuprofile: [label, ms, share of the busy time]
 * (samples where the process was idle are left out of both).
 */
export function topSelfTime(profile: CpuProfile, top = 15): Array<[string, number, number]> {
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    const frame = byNode.get(id)?.callFrame;
    if (!frame || frame.functionName === '(idle)') return;
    total += us;
    const file = frame.url ? frame.url.replace(/^.*\/(node_modules|dist-bench)\//, '$1/') : '';
    const label =
      `${frame.functionName || '(anonymous)'} ${file ? `${file}:${frame.lineNumber + 1}` : ''}`.trim();
    self.set(label, (self.get(label) ?? 0) + us);
  });
  return [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([label, us]) => [label, us / 1000, us / total]);
}

function printTop(name: string, dir: string): void {
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) {
    console.log(`${name}: no profile written in ${dir}`);
    return;
  }
  const profile = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as CpuProfile;
  console.log(`\n${name}: ${path.join(dir, file)}\n  self ms   share  function`);
  for (const [label, ms, share] of topSelfTime(profile)) {
    console.log(`  ${ms.toFixed(0).padStart(7)}  ${(share * 100).toFixed(1).padStart(5)}%  ${label}`);
  }
}

async function main(): Promise<void> {
  const events = envInt('BENCH_EVENTS', 20_000);
  const targets = targetNames(3);
  const run = path.resolve('.prof', new Date().toISOString().replace(/[:.]/g, '-'));
  const dirs = { publisher: path.join(run, 'publisher'), worker: path.join(run, 'worker') };
  const redis = await startBenchRedis();
  const receiver = await Child.start('receiver');
  const worker = await Child.start('worker', { execArgv: ['--cpu-prof', '--cpu-prof-dir', dirs.worker] });
  const publisher = await Child.start('publisher', {
    execArgv: ['--cpu-prof', '--cpu-prof-dir', dirs.publisher],
  });
  try {
    const receiverUrl = await receiver.call<string>('url');
    const total = events * targets.length;
    let finished: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (finished = resolve));
    worker.on('progress', (data) => {
      if ((data as { completed: number }).completed >= total) finished();
    });
    const spec: WorkerSpec = {
      side: 'user-sync',
      kind: 'http',
      redisUrl: redis.url,
      prefix: PREFIX,
      targets,
      url: receiverUrl,
      concurrency: 16,
    };
    await worker.call('start', spec);
    await worker.call('mark');
    console.log(
      `profiling: ${events} events × ${targets.length} HTTP targets, publisher and worker processes`,
    );
    const published = await publisher.call<{ perSec: number }>('publish', {
      redisUrl: redis.url,
      receiverUrl,
      events,
      targets: targets.length,
    });
    const timeout = setTimeout(finished, 300_000);
    await done;
    clearTimeout(timeout);
    console.log(`published ${published.perSec.toFixed(0)} events/s; every delivery done`);
    await worker.call('stop');
  } finally {
    await Promise.all([worker.stop(), publisher.stop(), receiver.stop()]);
    await redis.stop();
  }
  printTop('publisher', dirs.publisher);
  printTop('worker', dirs.worker);
}

await main();
