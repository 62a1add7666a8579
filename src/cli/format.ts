/** Plain-text output of the CLI: aligned tables and a few number formats. */
import type { DeadLetterRecord } from '../jobs/dead-letter.js';
import type { SyncStats } from '../jobs/stats.js';
import type { QueueStatus } from '../service.js';

/** Column alignment: `l`eft or `r`ight. */
export type Align = 'l' | 'r';

/** Renders rows as columns separated by two spaces; numbers right-aligned by default. */
export function table(
  headers: readonly string[],
  rows: ReadonlyArray<ReadonlyArray<string | number>>,
  align?: readonly Align[],
): string {
  const cells = [headers, ...rows].map((row) => row.map((cell) => String(cell)));
  const widths = headers.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  const alignOf = (i: number): Align =>
    align?.[i] ?? (rows.length > 0 && rows.every((row) => typeof row[i] === 'number') ? 'r' : 'l');
  return cells
    .map((row) =>
      row
        .map((cell, i) => {
          const width = widths[i] ?? cell.length;
          return alignOf(i) === 'r' ? cell.padStart(width) : cell.padEnd(width);
        })
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** `1234567` → `1,234,567`. */
export function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** `n thing` / `n things`. */
export function plural(n: number, singular: string, pluralForm = `${singular}s`): string {
  return `${count(n)} ${n === 1 ? singular : pluralForm}`;
}

/** Cuts text to `max` characters, with an ellipsis. */
export function truncate(text: string, max: number): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length <= max ? oneLine : `${oneLine.slice(0, Math.max(0, max - 1))}…`;
}

/** The `stats` report: totals, queue status, and one row per target. */
export function formatStats(stats: SyncStats, queue: QueueStatus): string {
  const lines = [
    `Deliveries: ${count(stats.total_tasks)} total, ${count(stats.completed_tasks)} completed, ` +
      `${count(stats.failed_tasks)} dead, ${plural(stats.retry_tasks, 'retry', 'retries')}`,
    `Queues:     ${count(queue.queue_length)} unfinished (cap ${count(queue.queue_cap)} per target), ` +
      `${plural(queue.processes, 'worker process', 'worker processes')}, ` +
      `concurrency ${count(queue.workers)}${queue.enabled ? '' : ', disabled in config'}`,
    '',
  ];
  const targets = Object.entries(stats.by_target);
  if (targets.length === 0) {
    lines.push('No targets configured.');
  } else {
    lines.push(
      table(
        ['TARGET', 'DELIVERED', 'SUPERSEDED', 'RETRIED', 'DEAD', 'REPLAYED'],
        targets.map(([service, t]) => [service, t.delivered, t.superseded, t.retried, t.dead, t.replayed]),
      ),
    );
  }
  return lines.join('\n');
}

/** The `dlq list` report. */
export function formatDeadLetters(total: number, records: readonly DeadLetterRecord[]): string {
  if (total === 0) return 'No dead letters.';
  const rows = records.map((r) => [
    r.id,
    r.service,
    r.reason,
    r.status !== undefined ? String(r.status) : r.code,
    r.attempts,
    r.failedAt.replace(/\.\d+Z$/, 'Z'),
    truncate(r.message, 60),
  ]);
  const shown =
    records.length < total
      ? `\n\n${count(records.length)} of ${count(total)} shown (--limit to see more)`
      : '';
  return (
    table(['ID', 'TARGET', 'REASON', 'STATUS', 'ATTEMPTS', 'FAILED AT', 'LAST ERROR'], rows, [
      'l',
      'l',
      'l',
      'l',
      'r',
      'l',
      'l',
    ]) + shown
  );
}
