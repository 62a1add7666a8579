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
  withDeployment,
  type CommonOptions,
} from './common.js';
import { table } from './format.js';
import { breakerRecord, type BreakerRecord } from '../jobs/breaker-scripts.js';
import { viewOf } from '../dashboard/breaker-view.js';
import type { Deployment } from '../deployment.js';

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
      .description(
        'print the registry: each target, its kind, events and enabled flag, whether it is paused, its ' +
          'circuit breaker, and the revision',
      )
      .option('--json', 'print JSON'),
  ).action(async (options: TargetsListOptions, command: Command) => {
    await runTargetsList({ ...options, ...commonOptions(command) });
  });
  for (const verb of ['pause', 'resume'] as const) {
    withCommonOptions(
      targets
        .command(verb)
        .description(
          verb === 'pause'
            ? 'pause a target: its deliveries wait in its queues (none lost, retried or dead-lettered)'
            : 'resume a paused target: its deliveries drain in order',
        )
        .argument('<service>', 'the target, by its service name'),
    ).action(async (service: string, options: CommonOptions, command: Command) => {
      await runTargetsPause(service, verb === 'pause', { ...options, ...commonOptions(command) });
    });
  }
  withCommonOptions(
    targets
      .command('close-breaker')
      .description(
        "close a target's circuit breaker by hand (it is back): its held deliveries go within seconds",
      )
      .argument('<service>', 'the target, by its service name'),
  ).action(async (service: string, options: CommonOptions, command: Command) => {
    await withDeployment({ ...options, ...commonOptions(command) }, (deployment) =>
      deployment.closeBreaker(service),
    );
    console.log(`Target ${service}: circuit breaker closed.`);
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

/** `targets pause|resume <service>`: BullMQ pause of the target's queue in every partition. */
export async function runTargetsPause(
  service: string,
  pause: boolean,
  options: CommonOptions,
): Promise<void> {
  const paused = await withDeployment(options, (deployment) => deployment.setPaused(service, pause));
  console.log(
    paused
      ? `Target ${service} paused: its deliveries wait (\`user-sync targets resume ${service}\` to go on).`
      : `Target ${service} resumed: its deliveries drain in order.`,
  );
}

/** Each target's live state: paused, and its circuit breaker. */
type States = Awaited<ReturnType<Deployment['targetStates']>>;

function breakerText(breaker: BreakerRecord): string {
  if (breaker.state === 'closed') return 'closed';
  const since = breaker.since === undefined ? '' : ` since ${new Date(breaker.since).toISOString()}`;
  const next =
    breaker.state === 'open' && breaker.retryAt !== undefined
      ? `, next probe ${new Date(breaker.retryAt).toISOString()}`
      : '';
  return `${breaker.state}${since}${next}${breaker.reason ? `: ${breaker.reason}` : ''}`;
}

/** `targets list`: the registry's targets and revision, with each one's state, as a table or JSON. */
export async function runTargetsList(options: TargetsListOptions): Promise<void> {
  const config = loadCliConfig(options);
  const key = deploymentKeys(config.prefix).registry;
  const [entry, states] = await withDeployment(options, async (deployment) => {
    const found = await loadRegistry(deployment.redis, key, config.prefix);
    const services = [
      ...new Set([...(found?.doc.targets ?? []).map((t) => t.service), ...(await deployment.knownTargets())]),
    ];
    return [found, await deployment.targetStates(services)] as const;
  });
  if (options.json) {
    console.log(JSON.stringify(registryJson(key, entry, states), null, 2));
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
            ['SERVICE', 'KIND', 'ENABLED', 'EVENTS', 'PAUSED', 'BREAKER'],
            targets.map((t) => {
              const state = states.get(t.service);
              return [
                t.service,
                t.kind,
                t.enabled ? 'yes' : 'no',
                t.events?.join(', ') ?? 'all',
                state?.paused ? 'yes' : 'no',
                state ? breakerText(state.breaker) : 'closed',
              ];
            }),
          ),
    ].join('\n'),
  );
}

/**
 * `targets list --json`: `{ key, rev, updated, writer, settings, targets }`, each target with
 * `paused` and `breaker` ({ state, since, reason, retryAt }); rev null when there is none.
 */
function registryJson(key: string, entry: RegistryEntry | undefined, states: States) {
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
      paused: states.get(t.service)?.paused ?? false,
      breaker: viewOf(states.get(t.service)?.breaker ?? breakerRecord([])),
    })),
  };
}
