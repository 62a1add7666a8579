/** `user-sync backfill <service>`: every user's latest state to one target, with progress. */
import { formatDuration } from '../duration.js';
import type { BackfillOptions, BackfillProgress, BackfillResult } from '../ops/backfill.js';
import { withDeployment, type CommonOptions } from './common.js';
import { count } from './format.js';
import { onShutdownSignal } from './signals.js';

/** Options of `user-sync backfill`. */
export interface BackfillCommandOptions
  extends
    CommonOptions,
    Pick<BackfillOptions, 'dryRun' | 'rate' | 'restart' | 'ignoreWatermarks' | 'maxBacklog' | 'chunkSize'> {
  /** Progress and the result as JSON lines on stdout. */
  json?: boolean;
}

/** One progress line: done/total, what was enqueued or skipped, the pace and the time left. */
export function formatBackfillProgress(p: BackfillProgress): string {
  const pct = p.total > 0 ? Math.floor((p.done * 100) / p.total) : 100;
  const c = p.counts;
  const eta =
    p.etaSeconds === undefined
      ? 'time left unknown'
      : p.etaSeconds === 0
        ? 'nothing left'
        : `about ${formatDuration(p.etaSeconds * 1000)} left`;
  const waiting = p.waitingForBacklog
    ? `; waiting: backlog ${count(p.waitingForBacklog.backlog)} of at most ${count(p.waitingForBacklog.maxBacklog)}`
    : '';
  return (
    `backfill ${p.service}${p.dryRun ? ' (dry run)' : ''}: ${count(p.done)}/${count(p.total)} users (${pct}%), ` +
    `${count(c.enqueued)} ${p.dryRun ? 'to enqueue' : 'enqueued'} (${count(c.deletes)} deletes), ` +
    `${count(c.inSync)} in sync, ${count(c.alreadyQueued)} already queued, ${count(c.filtered)} filtered, ` +
    `${count(c.deletesSkipped)} deleted users skipped; ${count(p.ratePerSecond)} users/s, ${eta}${waiting}`
  );
}

function summary(r: BackfillResult): string {
  const head =
    r.status === 'done'
      ? `Backfill of ${r.service} ${r.dryRun ? '(dry run) ' : ''}finished`
      : `Backfill of ${r.service} stopped: run it again to continue from where it stood`;
  return `${head} in ${formatDuration(r.durationMs)} (run ${r.runId}${r.resumed ? ', resumed' : ''}).\n${formatBackfillProgress(r)}`;
}

/**
 * Runs (or continues) a backfill, printing progress (stderr, or JSON lines on stdout). The first
 * SIGINT or SIGTERM stops it after the chunk in hand, its cursor saved; the next run continues.
 */
export async function runBackfillCommand(service: string, options: BackfillCommandOptions): Promise<void> {
  const stop = new AbortController();
  const removeHandlers = onShutdownSignal(() => stop.abort());
  const tty = process.stderr.isTTY === true;
  try {
    const result = await withDeployment(options, (deployment) =>
      deployment.backfill(service, {
        ...(options.dryRun ? { dryRun: true } : {}),
        ...(options.rate !== undefined ? { rate: options.rate } : {}),
        ...(options.restart ? { restart: true } : {}),
        ...(options.ignoreWatermarks ? { ignoreWatermarks: true } : {}),
        ...(options.maxBacklog !== undefined ? { maxBacklog: options.maxBacklog } : {}),
        ...(options.chunkSize !== undefined ? { chunkSize: options.chunkSize } : {}),
        signal: stop.signal,
        onProgress: (p) => {
          if (options.json) console.log(JSON.stringify({ event: 'progress', ...p }));
          else process.stderr.write(`${tty ? '\r' : ''}${formatBackfillProgress(p)}${tty ? '\x1b[K' : '\n'}`);
        },
      }),
    );
    if (tty && !options.json) process.stderr.write('\n');
    console.log(options.json ? JSON.stringify({ event: 'result', ...result }) : summary(result));
  } finally {
    removeHandlers();
  }
}
