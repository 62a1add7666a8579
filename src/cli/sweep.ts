/** `user-sync sweep`: one consistency sweep now, with progress, then its figures. */
import { formatDuration } from '../duration.js';
import { SWEEP_CLASSES, type SweepRun } from '../sweep/classify.js';
import { withDeployment, type CommonOptions } from './common.js';
import { count, table } from './format.js';

/** Options of `user-sync sweep`. */
export interface SweepCommandOptions extends CommonOptions {
  /** Print the run as JSON. */
  json?: boolean;
  /** Show the last runs instead of running one. */
  history?: boolean;
}

/** A sweep run as a table: one row per target, one column per class. */
export function formatSweepRun(run: SweepRun): string {
  const head =
    `Sweep ${run.trigger} at ${run.startedAt}: ${count(run.usersChecked)} users in ${formatDuration(run.durationMs)}, ` +
    `stopped by ${run.stoppedBy}${run.passCompleted ? ' (end of the ledger: the next run starts over)' : ` at user ${run.cursorTo}`}; ` +
    (run.autoRepair ? `${count(run.repairsEnqueued)} repairs enqueued` : 'autoRepair off: nothing enqueued') +
    (run.error ? `\nerror: ${run.error}` : '');
  const rows = Object.entries(run.targets).map(([target, f]) => [
    target,
    ...SWEEP_CLASSES.map((c) => f[c]),
    f.repairs,
  ]);
  return `${head}\n\n${table(['TARGET', ...SWEEP_CLASSES.map((c) => c.toUpperCase()), 'REPAIRS'], rows)}`;
}

/**
 * Runs one sweep now, printing progress on stderr, then the figures; with `history`, prints
 * the last runs. Fails when another sweep is running.
 */
export async function runSweepCommand(options: SweepCommandOptions): Promise<void> {
  await withDeployment(options, async (deployment) => {
    if (options.history) {
      const runs = await deployment.getSweepRuns();
      if (options.json) console.log(JSON.stringify(runs, null, 2));
      else console.log(runs.length ? runs.map(formatSweepRun).join('\n\n') : 'No sweep has run yet.');
      return;
    }
    const tty = process.stderr.isTTY === true;
    const run = await deployment.runSweep({
      onProgress: ({ usersChecked, cursor }) =>
        process.stderr.write(
          `${tty ? '\r' : ''}swept ${count(usersChecked)} users (at ${cursor})${tty ? '\x1b[K' : '\n'}`,
        ),
    });
    if (tty) process.stderr.write('\n');
    if (!run) throw new Error('another sweep is running; try again when it has finished');
    console.log(options.json ? JSON.stringify(run, null, 2) : formatSweepRun(run));
    if (run.stoppedBy === 'error') throw new Error(`the sweep failed: ${run.error ?? 'unknown error'}`);
  });
}
