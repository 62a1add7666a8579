/**
 * `user-sync targets …`: the deployment's target registry in Redis, which producers with only a
 * Redis connection publish to. `apply` writes the config's targets (for deployments that publish
 * before any worker starts), `list` shows what the registry holds. Each subcommand is one
 * `command(...)` in registerTargetsCommands and one run function here.
 */
import type { Command } from 'commander';
import {
  describeTarget,
  registryDifferences,
  registryDocument,
  type RegistryDocument,
} from '../config/registry-document.js';
import type { SyncConfig } from '../config/schema.js';
import { toError } from '../errors.js';
import { deploymentKeys } from '../jobs/names.js';
import { loadRegistry, writeRegistry, type RegistryEntry } from '../jobs/registry.js';
import type { Redis } from '../redis.js';
import {
  UsageError,
  commonOptions,
  connectCliRedis,
  loadCliConfig,
  quietLogger,
  withCommonOptions,
  type CommonOptions,
} from './common.js';
import { table } from './format.js';

/** Options of `user-sync targets apply`. */
export interface TargetsApplyOptions extends CommonOptions {
  /** Print what would be written; write nothing. */
  dryRun?: boolean;
}

/** Options of `user-sync targets list`. */
export interface TargetsListOptions extends CommonOptions {
  json?: boolean;
}

/** Adds the `targets` group and its subcommands to the program; returns the group. */
export function registerTargetsCommands(program: Command): Command {
  const targets = program
    .command('targets')
    .description(
      'the target registry in Redis: the targets producers with only a Redis connection publish to',
    );
  withCommonOptions(
    targets
      .command('apply')
      .description("write the config's targets (service, kind, events, enabled) to the registry")
      .option('--dry-run', 'print what would change and the document; write nothing')
      .addHelpText(
        'after',
        '\nWorkers and the dashboard write the registry when they start; run this for producers that\n' +
          'publish before any worker has. No URL, header or secret is written. Last writer wins: a\n' +
          'registry written from another config is replaced, and the differences printed.',
      ),
  ).action(async (options: TargetsApplyOptions, command: Command) => {
    await runTargetsApply({ ...options, ...commonOptions(command) });
  });
  withCommonOptions(
    targets
      .command('list')
      .description('print the registry: each target, its kind, events and enabled flag, and the revision')
      .option('--json', 'print JSON'),
  ).action(async (options: TargetsListOptions, command: Command) => {
    await runTargetsList({ ...options, ...commonOptions(command) });
  });
  return targets;
}

/** Runs `work` on the Redis of the config, and closes the connection. */
async function withRedis<T>(config: SyncConfig, work: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = await connectCliRedis(config);
  try {
    return await work(redis);
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
}

/** `targets apply`: writes the config's document (or, with --dry-run, says what it would change). */
export async function runTargetsApply(options: TargetsApplyOptions): Promise<void> {
  const config = loadCliConfig(options);
  if (config.targets.length === 0) {
    throw new UsageError(
      "the config lists no targets: nothing to apply (name the deployment's config with --config)",
    );
  }
  const key = deploymentKeys(config.prefix).registry;
  const doc = registryDocument(config);
  await withRedis(config, async (redis) => {
    if (options.dryRun) {
      console.log(await describeDryRun(redis, key, config.prefix, doc));
      return;
    }
    const result = await writeRegistry(redis, key, config, { writer: 'cli', logger: quietLogger('error') });
    if (!result.changed)
      console.log(`Target registry ${key}: already holds this config's targets (rev ${result.rev}).`);
    else {
      const changes = result.differences.map((d) => `\n  - ${d}`).join('');
      console.log(
        `Target registry ${key}: rev ${result.rev} written (${doc.targets.length} targets).${changes}`,
      );
    }
  });
}

/** What `apply --dry-run` prints: the registry now, what would change, and the document. */
async function describeDryRun(
  redis: Redis,
  key: string,
  prefix: string,
  doc: RegistryDocument,
): Promise<string> {
  const lines = [`Target registry ${key} (dry run: nothing written)`];
  let current: RegistryEntry | undefined;
  try {
    current = await loadRegistry(redis, key, prefix);
  } catch (error) {
    lines.push(`Now: unreadable (${toError(error).message}); it would be replaced.`);
  }
  if (current) {
    lines.push(`Now: rev ${current.rev}, ${describeWritten(current)}.`);
    const differences = registryDifferences(current.doc, doc);
    if (differences.length === 0) lines.push('It already holds this config: nothing would change.');
    else lines.push(`Would write rev ${current.rev + 1}:`, ...differences.map((d) => `  - ${d}`));
  } else if (lines.length === 1) {
    lines.push(
      'Now: no registry. Would write rev 1 with these targets:',
      ...doc.targets.map((t) => `  - ${describeTarget(t)}`),
    );
  }
  lines.push('Document:', JSON.stringify(doc, null, 2));
  return lines.join('\n');
}

function describeWritten(entry: RegistryEntry): string {
  return `updated ${new Date(entry.updated).toISOString()} by ${entry.writer || 'unknown'}`;
}

/** `targets list`: the registry's targets and revision, as a table or JSON. */
export async function runTargetsList(options: TargetsListOptions): Promise<void> {
  const config = loadCliConfig(options);
  const key = deploymentKeys(config.prefix).registry;
  const entry = await withRedis(config, (redis) => loadRegistry(redis, key, config.prefix));
  if (options.json) {
    console.log(JSON.stringify(registryJson(key, entry), null, 2));
    return;
  }
  if (!entry) {
    console.log(`No target registry at ${key}: start a worker, or run \`user-sync targets apply\`.`);
    return;
  }
  const { targets, v: _v, prefix: _prefix, ...settings } = entry.doc;
  console.log(
    [
      `Target registry ${key}: rev ${entry.rev}, ${describeWritten(entry)}`,
      `Settings: ${Object.entries(settings)
        .map(([k, v]) => `${k} ${String(v)}`)
        .join(', ')}`,
      '',
      targets.length === 0
        ? 'No targets.'
        : table(
            ['SERVICE', 'KIND', 'ENABLED', 'EVENTS'],
            targets.map((t) => [t.service, t.kind, t.enabled ? 'yes' : 'no', t.events?.join(', ') ?? 'all']),
          ),
    ].join('\n'),
  );
}

/** `targets list --json`: `{ key, rev, updated, writer, settings, targets }`; rev null when there is none. */
function registryJson(key: string, entry: RegistryEntry | undefined) {
  if (!entry) return { key, rev: null, updated: null, writer: null, settings: null, targets: [] };
  const { targets, v: _v, ...settings } = entry.doc;
  return {
    key,
    rev: entry.rev,
    updated: new Date(entry.updated).toISOString(),
    writer: entry.writer,
    settings,
    targets: targets.map((t) => ({
      service: t.service,
      kind: t.kind,
      events: t.events ?? null,
      enabled: t.enabled,
    })),
  };
}
