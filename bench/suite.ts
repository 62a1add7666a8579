/**
 * The benchmark suite: every benchmark of user-sync beside its baseline, measured in the same
 * run on the same private Redis and the same receiver, ending with one JSON summary line.
 *
 *   npm run bench                  # full run (a few minutes)
 *   npm run bench:quick            # smaller runs, under a minute
 *   npm run bench -- --only publish,delivery
 *   npm run bench -- --markdown    # also print the results as a markdown table
 *
 * See docs/performance.md for what each figure and baseline is.
 */
import os from 'node:os';
import { envInt, quietly } from './common.js';
import { runCost } from './cost.js';
import { runDelivery } from './delivery.js';
import { runLatency } from './latency.js';
import { markdownTable, summaryLine, type BenchResult } from './harness/measure.js';
import { startRig, type Rig } from './harness/rig.js';
import { runPublish } from './publish.js';

const BENCHMARKS: Record<string, (rig: Rig) => Promise<BenchResult[]>> = {
  publish: runPublish,
  delivery: runDelivery,
  latency: runLatency,
  cost: runCost,
};

function parseArgs(argv: readonly string[]) {
  const quick = argv.includes('--quick');
  const markdown = argv.includes('--markdown');
  const only = argv.find((a) => a.startsWith('--only'));
  const onlyValue = only?.includes('=')
    ? only.split('=')[1]
    : only
      ? argv[argv.indexOf(only) + 1]
      : undefined;
  const names = onlyValue ? onlyValue.split(',') : Object.keys(BENCHMARKS);
  for (const name of names) {
    if (!BENCHMARKS[name]) {
      console.error(`--only: no benchmark "${name}" (there are: ${Object.keys(BENCHMARKS).join(', ')})`);
      process.exit(2);
    }
  }
  return { quick, markdown, names };
}

async function main(): Promise<void> {
  const { quick, markdown, names } = parseArgs(process.argv.slice(2));
  const timeoutMs = envInt('BENCH_TIMEOUT_MS', quick ? 120_000 : 900_000);
  const started = performance.now();
  const rig = await startRig(quick, timeoutMs);
  const results: BenchResult[] = [];
  let failed = false;
  try {
    console.log(
      `user-sync benchmarks${quick ? ' (quick)' : ''}: node ${process.version}, redis ${rig.redis.version} ` +
        `(private, ${rig.redis.url}), ${os.cpus().length} cores, load ${os
          .loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')}`,
    );
    for (const name of names)
      results.push(...(await (BENCHMARKS[name] as (rig: Rig) => Promise<BenchResult[]>)(rig)));
  } catch (error) {
    failed = true;
    console.error(`\nbenchmark failed: ${(error as Error).stack ?? String(error)}`);
  } finally {
    await quietly('stop the rig', () => rig.close());
  }
  if (markdown) console.log(`\n${markdownTable(results)}\n`);
  const met = results.filter((r) => r.ok === true).length;
  const missed = results.filter((r) => r.ok === false).map((r) => r.name);
  console.log(
    `\n${results.length} figures in ${((performance.now() - started) / 1000).toFixed(1)} s; goals met: ${met}, ` +
      `not met: ${missed.length}${missed.length ? ` (${missed.join('; ')})` : ''}`,
  );
  console.log(summaryLine('user-sync', quick, results));
  if (failed) process.exit(1);
}

await main();
