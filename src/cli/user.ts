/** `user-sync user <id>`: one user across the deployment, for a support ticket. */
import { toError } from '../errors.js';
import type { DeadView, DeliveryView } from '../ops/user-jobs.js';
import { parseUserId, type TargetLookup, type UserLookup } from '../ops/user-lookup.js';
import { UsageError, withDeployment, type CommonOptions } from './common.js';
import { count, table, truncate } from './format.js';

/** Options of `user-sync user`. */
export interface UserCommandOptions extends CommonOptions {
  /** Print the lookup as JSON. */
  json?: boolean;
  /** Show the snapshot's personal values unmasked. */
  reveal?: boolean;
}

function delivery(kind: string, d: DeliveryView): string {
  const what = [d.type, d.version !== undefined ? `v${d.version}` : '', d.repair ? '(repair/backfill)' : '']
    .filter(Boolean)
    .join(' ');
  const attempts = d.attemptsMade > 0 ? `, ${d.attemptsMade} attempts made` : '';
  const next = d.nextAttemptAt ? `, next attempt ${d.nextAttemptAt}` : '';
  const error = d.lastError ? `; last error: ${truncate(d.lastError, 160)}` : '';
  return `  ${kind.padEnd(9)}${d.jobId}  ${what} [${d.state}${attempts}${next}]${error}`;
}

function dead(d: DeadView): string {
  const what = [d.type, d.version !== undefined ? `v${d.version}` : ''].filter(Boolean).join(' ');
  const status = d.status !== undefined ? ` (status ${d.status})` : '';
  return (
    `  dead     ${d.id}  ${what} ${d.reason}/${d.code}${status}, ${count(d.attempts)} attempts, ` +
    `${d.failedAt}: ${truncate(d.message, 160)}`
  );
}

function targetDetails(t: TargetLookup): string[] {
  const lines = [
    ...t.pending.map((d) => delivery('pending', d)),
    ...t.retrying.map((d) => delivery('retrying', d)),
    ...t.active.map((d) => delivery('active', d)),
    ...t.dead.map(dead),
  ];
  return lines.length ? [`${t.service}:`, ...lines] : [];
}

/** A lookup as text: the ledger, one row per target, then each target's deliveries. */
export function formatUserLookup(lookup: UserLookup): string {
  const out = [`User ${lookup.userId} (partition ${lookup.partition})`];
  const l = lookup.ledger;
  if (!l) {
    out.push(
      lookup.foreign
        ? `Ledger: its key holds something user-sync did not write (${lookup.foreign})`
        : 'Ledger: holds nothing of this user (never published, or another id)',
    );
  } else {
    out.push(
      `Ledger: version ${l.version}, ${l.deleted ? 'DELETED' : 'live'}; latest event ${l.type} ${l.eventId} at ${l.timestamp}`,
    );
    const values = l.snapshot.fields.map((f) => `${f}=${JSON.stringify(l.snapshot.values[f])}`).join('  ');
    out.push(`Snapshot: ${values || '(no fields)'}`);
    if (l.snapshot.redacted) out.push('          (personal values masked: --reveal shows them)');
  }
  out.push('');
  out.push(
    table(
      ['TARGET', 'KIND', 'WATERMARK', 'SYNC', 'PENDING', 'RETRYING', 'ACTIVE', 'DEAD'],
      lookup.targets.map((t) => [
        t.enabled ? t.service : `${t.service} (disabled)`,
        t.kind,
        t.watermark,
        t.sync,
        t.pending.length,
        t.retrying.length,
        t.active.length,
        t.dead.length,
      ]),
    ),
  );
  const details = lookup.targets.flatMap(targetDetails);
  if (details.length) out.push('', ...details);
  const lists = lookup.targets.flatMap((t) => t.scanned.lists);
  const byId = lookup.targets.flatMap((t) => t.scanned.byId);
  out.push(
    '',
    `Scanned: every target's queue lists of partition ${lookup.partition} (wait, paused, prioritized, delayed, ` +
      `active, failed) and dead-letter index, up to ${count(lookup.scanLimit)} entries each ` +
      `(${count(lists.reduce((n, x) => n + x.scanned, 0))} entries read in ${lists.length} non-empty lists); ` +
      `looked up by id: ${byId.length ? byId.join(', ') : 'none'}.`,
  );
  if (lookup.truncated)
    out.push('TRUNCATED: a list was longer than the bound; deliveries beyond it were not looked for.');
  return out.join('\n');
}

/** Prints one user's lookup as text or JSON. */
export async function runUserCommand(id: string, options: UserCommandOptions): Promise<void> {
  let userId: string;
  try {
    userId = parseUserId(id);
  } catch (error) {
    throw new UsageError(toError(error).message);
  }
  const lookup = await withDeployment(options, (deployment) =>
    deployment.lookupUser(userId, { reveal: options.reveal === true }),
  );
  console.log(options.json ? JSON.stringify(lookup, null, 2) : formatUserLookup(lookup));
}
