/** `user-sync dlq list|replay|purge`: the dead-letter queue. */
import { createInterface } from 'node:readline/promises';
import type { DeadLetterFilter, DeadLetterRecord } from '../jobs/dead-letter.js';
import { redactText } from '../redact.js';
import { UsageError, parseSince, withDeployment, type CommonOptions } from './common.js';
import { count, formatDeadLetters, plural } from './format.js';

/** Filters shared by the `dlq` commands. */
export interface DlqFilterOptions extends CommonOptions {
  /** Only this target's dead letters. */
  target?: string;
  /** Only these ids (task ids). */
  id?: string[];
  /** Only those dead-lettered since: an ISO date or a duration back from now (`1h`). */
  since?: string;
  json?: boolean;
}

/** Options of `dlq list`. */
export interface DlqListOptions extends DlqFilterOptions {
  /** At most this many records. */
  limit: number;
}

/** Options of `dlq replay` and `dlq purge`. */
export interface DlqChangeOptions extends DlqFilterOptions {
  /** Act on every dead letter when no filter is given. */
  all?: boolean;
  /** Purge without asking. */
  yes?: boolean;
}

/** The filter the options describe. */
export function deadLetterFilter(options: DlqFilterOptions, now = Date.now()): DeadLetterFilter {
  return {
    ...(options.target !== undefined ? { service: options.target } : {}),
    ...(options.id !== undefined && options.id.length > 0 ? { ids: options.id } : {}),
    ...(options.since !== undefined ? { since: parseSince(options.since, now) } : {}),
  };
}

function describe(filter: DeadLetterFilter): string {
  const parts = [
    filter.service !== undefined ? `target ${filter.service}` : '',
    filter.ids ? `ids ${filter.ids.join(', ')}` : '',
    filter.since ? `since ${filter.since.toISOString()}` : '',
  ].filter(Boolean);
  return parts.length ? ` (${parts.join('; ')})` : '';
}

/** Refuses to act on every dead letter unless `--all` says so. */
function requireFilterOrAll(verb: string, filter: DeadLetterFilter, all: boolean | undefined): void {
  if (!all && Object.keys(filter).length === 0) {
    throw new UsageError(
      `refusing to ${verb} every dead letter: narrow it with --target, --id or --since, or pass --all`,
    );
  }
}

/**
 * What `dlq list` shows of a record: its message, excerpt and history through `redactText`
 * (records are redacted when written; these may predate that, or come from elsewhere).
 */
function shown(record: DeadLetterRecord): DeadLetterRecord {
  return {
    ...record,
    message: redactText(record.message),
    ...(record.excerpt !== undefined ? { excerpt: redactText(record.excerpt) } : {}),
    history: record.history.map((line) => redactText(line)),
  };
}

/** `dlq list`: newest first. */
export async function runDlqList(options: DlqListOptions): Promise<void> {
  const filter = deadLetterFilter(options);
  const listed = await withDeployment(options, (deployment) =>
    deployment.listDeadLetters({ ...filter, limit: options.limit }),
  );
  const total = listed.total;
  const records = listed.records.map(shown);
  console.log(options.json ? JSON.stringify({ total, records }, null, 2) : formatDeadLetters(total, records));
}

/** `dlq replay`: sends dead letters back to their target queue. */
export async function runDlqReplay(options: DlqChangeOptions): Promise<void> {
  const filter = deadLetterFilter(options);
  requireFilterOrAll('replay', filter, options.all);
  const replayed = await withDeployment(options, (deployment) =>
    deployment.replayDeadLetters(filter, progressLine('replayed')),
  );
  if (options.json) console.log(JSON.stringify({ replayed }, null, 2));
  else console.log(`Replayed ${plural(replayed.length, 'dead letter')}${describe(filter)}.${list(replayed)}`);
}

/** `dlq purge`: deletes dead letters, after asking on a terminal unless `--yes`. */
export async function runDlqPurge(options: DlqChangeOptions): Promise<void> {
  const filter = deadLetterFilter(options);
  requireFilterOrAll('purge', filter, options.all);
  const interactive = process.stdin.isTTY === true && process.stderr.isTTY === true;
  if (!options.yes && !interactive) {
    throw new UsageError('refusing to purge without confirmation: pass --yes (stdin is not a terminal)');
  }
  const purged = await withDeployment(options, async (deployment) => {
    if (!options.yes) {
      const { total } = await deployment.listDeadLetters({ ...filter, limit: 0 });
      if (total === 0) return [];
      if (
        !(await confirm(
          `Purge ${plural(total, 'dead letter')}${describe(filter)}? This cannot be undone. [y/N] `,
        ))
      ) {
        throw new UsageError('purge cancelled');
      }
    }
    return deployment.purgeDeadLetters(filter, progressLine('purged'));
  });
  if (options.json) console.log(JSON.stringify({ purged }, null, 2));
  else console.log(`Purged ${plural(purged.length, 'dead letter')}${describe(filter)}.${list(purged)}`);
}

function list(ids: readonly string[], max = 20): string {
  if (ids.length === 0) return '';
  const shown = ids
    .slice(0, max)
    .map((id) => `\n  ${id}`)
    .join('');
  return ids.length > max ? `${shown}\n  … and ${count(ids.length - max)} more` : shown;
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

/**
 * Progress of a long replay or purge on stderr: a line rewritten in place on a terminal, a
 * line every 1,000 records otherwise. Quiet for fewer than 100 records.
 */
function progressLine(verb: string): (done: number, total: number) => void {
  const tty = process.stderr.isTTY === true;
  return (done, total) => {
    if (total < 100) return;
    if (tty) {
      process.stderr.write(`\r${verb} ${count(done)} of ${count(total)}\x1b[K${done === total ? '\n' : ''}`);
    } else if (done % 1_000 === 0 || done === total) {
      process.stderr.write(`${verb} ${count(done)} of ${count(total)}\n`);
    }
  };
}
