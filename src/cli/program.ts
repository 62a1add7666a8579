/** The `user-sync` command line: commands, options and help. */
import { Command, Option } from 'commander';
import { ENV_OVERRIDES } from '../config/load.js';
import { VERSION } from '../version.js';
import type { EventType } from '../events.js';
import { DEFAULT_REDIS_URL } from '../redis.js';
import {
  LOCAL_REDIS_URL_ENV,
  integer,
  positiveNumber,
  withCommonOptions,
  commonOptions,
  type CommonOptions,
} from './common.js';
import { DEMO_PREFIX, runDemo, type DemoCommandOptions } from './demo.js';
import { runDlqList, runDlqPurge, runDlqReplay, type DlqChangeOptions, type DlqListOptions } from './dlq.js';
import { SHORT_TYPES, parseEventType, runPublish, type PublishCommandOptions } from './publish.js';
import { runStats, type StatsCommandOptions } from './stats.js';
import { runWorker, type WorkerCommandOptions } from './worker.js';
import { runDashboard, type DashboardCommandOptions } from './dashboard.js';
import { runSweepCommand, type SweepCommandOptions } from './sweep.js';
import { registerTargetsCommands } from './targets.js';
import { addOperatingCommands } from './operating.js';

/** Options of a command merged with the common ones given before or after its name. */
function merged<T extends object>(options: T, command: Command): T & CommonOptions {
  return { ...options, ...commonOptions(command) };
}

function addFilterOptions(command: Command): Command {
  return command
    .option('-t, --target <service>', 'only dead letters of this target')
    .option('--id <ids...>', 'only these dead-letter ids (task ids: <eventId>.<service>)')
    .option('--since <when>', 'only those dead-lettered since an ISO date, or a duration ago (30m, 1h, 2d)')
    .option('--json', 'print JSON');
}

/**
 * Builds the `user-sync` program. Errors thrown by actions propagate from `parseAsync`; the
 * caller prints them (src/cli.ts).
 */
export function buildProgram(): Command {
  const program = new Command('user-sync')
    .description(
      'Keeps user data consistent across services: durable, versioned, retried delivery of user events.',
    )
    .version(VERSION, '-V, --version', 'print the version')
    .enablePositionalOptions()
    .configureOutput({
      outputError: (text, write) => write(`user-sync: ${text.replace(/^error: /, '')}`),
    })
    .addHelpText(
      'after',
      '\nEvery command reads --config (default: $USER_SYNC_CONFIG, else ./user-sync.config.json if it\n' +
        'exists). These environment variables override the file:\n' +
        ENV_OVERRIDES.map(({ env, field }) => `  ${env.padEnd(30)}${field}`).join('\n') +
        '\n\nWithout REDIS_URL or redisUrl:\n' +
        `  ${LOCAL_REDIS_URL_ENV.padEnd(30)}the Redis looked for (default ${DEFAULT_REDIS_URL}); worker\n` +
        `  ${''.padEnd(30)}and demo start redis-server (data in ./.redis) when none answers`,
    );
  withCommonOptions(program);

  withCommonOptions(
    program
      .command('worker')
      .description('run the delivery workers of every enabled target until SIGTERM or Ctrl-C')
      .addOption(
        new Option('--concurrency <n>', 'concurrent deliveries per target (overrides "workers")').argParser(
          integer(1, 1000),
        ),
      )
      .option(
        '--partitions <list>',
        'deliver only these partitions, e.g. 0-7 or 0-3,12 (overrides "workerPartitions"; default: all)',
      )
      .addHelpText(
        'after',
        '\nWithout REDIS_URL or redisUrl, uses the Redis at $USER_SYNC_LOCAL_REDIS_URL (default\n' +
          '127.0.0.1:6379), else starts redis-server with its data in ./.redis. With REDIS_CLUSTER_NODES\n' +
          '(or redisClusterNodes), connects to that Redis Cluster. Run more workers, anywhere, against\n' +
          'the same Redis to scale; with partitions, --partitions splits them across worker groups.',
      ),
  ).action(async (options: WorkerCommandOptions, command: Command) => {
    await runWorker(merged(options, command));
  });

  withCommonOptions(
    program
      .command('publish')
      .description('publish one user event and print the result as JSON')
      .argument('<type>', `event type: ${SHORT_TYPES.join(', ')} (or user.created, …)`, parseEventType)
      .requiredOption(
        '-u, --user <json>',
        `the user after the change, e.g. '{"id":5,"email":"x@example.com"}'`,
      )
      .option('--changes <json>', 'the fields that changed, as a JSON object')
      .addOption(
        new Option(
          '--version <n>',
          "the source row's version (default: the next one, assigned in Redis)",
        ).argParser(integer(1)),
      )
      .option('--id <eventId>', 'event id (default: generated); publishing an id again enqueues nothing')
      .option('--source <name>', 'publishing service', 'cli'),
  ).action(async (type: EventType, options: PublishCommandOptions, command: Command) => {
    await runPublish(type, merged(options, command));
  });

  withCommonOptions(
    program
      .command('stats')
      .description('delivery counters per target, and queue status, across every process')
      .option('--json', 'print JSON: { stats, queue }'),
  ).action(async (options: StatsCommandOptions, command: Command) => {
    await runStats(merged(options, command));
  });

  const dlq = program
    .command('dlq')
    .description('list, replay or purge dead letters (deliveries that will not be retried)');
  withCommonOptions(
    addFilterOptions(
      dlq
        .command('list')
        .description('list dead letters, newest first')
        .addOption(new Option('-n, --limit <n>', 'at most this many').argParser(integer(0)).default(100)),
    ),
  ).action(async (options: DlqListOptions, command: Command) => {
    await runDlqList(merged(options, command));
  });
  withCommonOptions(
    addFilterOptions(
      dlq
        .command('replay')
        .description('send dead letters back to their target queue with fresh attempts')
        .option('--all', 'replay every dead letter (required when no filter is given)'),
    ),
  ).action(async (options: DlqChangeOptions, command: Command) => {
    await runDlqReplay(merged(options, command));
  });
  withCommonOptions(
    addFilterOptions(
      dlq
        .command('purge')
        .description('delete dead letters for good')
        .option('--all', 'purge every dead letter (required when no filter is given)')
        .option('-y, --yes', 'do not ask for confirmation (required when stdin is not a terminal)'),
    ),
  ).action(async (options: DlqChangeOptions, command: Command) => {
    await runDlqPurge(merged(options, command));
  });

  withCommonOptions(
    program
      .command('dashboard')
      .description(
        'serve Bull Board, the JSON API, health checks and Prometheus metrics until SIGTERM or Ctrl-C',
      )
      .option('--host <host>', 'interface to listen on (default: dashboard.host, 127.0.0.1)')
      .addOption(
        new Option('--port <n>', 'port (default: dashboard.port, 3000)').argParser(integer(0, 65_535)),
      )
      .option(
        '--insecure-local',
        'serve without credentials (everyone an operator); only on 127.0.0.1, localhost or ::1, ' +
          'and only to requests whose Host header names a loopback host',
      )
      .addHelpText(
        'after',
        '\nCredentials: USER_SYNC_DASHBOARD_USERNAME and USER_SYNC_DASHBOARD_PASSWORD (basic auth), or\n' +
          'USER_SYNC_DASHBOARD_TOKEN (Authorization: Bearer), or the dashboard section of the config;\n' +
          'these are operators. dashboard.users ([{ username, password, role }]) and dashboard.tokens\n' +
          '([{ token, role }]) add logins with a role: viewer (reads) or operator (also retries failed\n' +
          'deliveries, replays and purges dead letters, pauses and resumes targets, runs sweeps).\n' +
          'Without credentials it refuses to start, unless --insecure-local; beyond loopback it refuses\n' +
          'a placeholder password or token. /healthz and /readyz need no credentials. Repeated failed\n' +
          'logins from one address are slowed, then refused for 15 minutes.',
      ),
  ).action(async (options: DashboardCommandOptions, command: Command) => {
    await runDashboard(merged(options, command));
  });

  withCommonOptions(
    program
      .command('sweep')
      .description(
        'run one consistency sweep now: compare every target with the ledger, repair with autoRepair',
      )
      .option('--json', 'print the run as JSON')
      .option('--history', 'print the last runs instead of running one')
      .addHelpText(
        'after',
        '\nThe sweep goes on from where the last one stopped, within sweep.maxUsersPerRun and\n' +
          'sweep.maxRunTime. Repairs are enqueued only with autoRepair (USER_SYNC_AUTO_REPAIR=true).',
      ),
  ).action(async (options: SweepCommandOptions, command: Command) => {
    await runSweepCommand(merged(options, command));
  });

  // user-sync targets apply|list|…: the target registry (subcommands in src/cli/targets.ts).
  registerTargetsCommands(program);
  // backfill, user (src/cli/operating.ts)
  addOperatingCommands(program);

  withCommonOptions(
    program
      .command('demo')
      .alias('quickstart')
      .description('quick start: two sample services and a Redis cache kept in sync, live, with failures')
      .addOption(
        new Option('--rate <n>', 'events published per second').argParser(positiveNumber).default(20),
      )
      .addOption(
        new Option('--duration <seconds>', 'stop after this many seconds (default: until Ctrl-C)').argParser(
          positiveNumber,
        ),
      )
      .addOption(
        new Option('--users <n>', 'number of distinct users').argParser(integer(1, 1_000_000)).default(50),
      )
      .option(
        '--prefix <prefix>',
        'key prefix of the demo\'s keys; must contain "demo" (wiped at start)',
        DEMO_PREFIX,
      )
      .addOption(
        new Option('--dashboard-port <n>', 'port of the dashboard (if taken, any free one)')
          .argParser(integer(0, 65_535))
          .default(3000),
      )
      .addHelpText(
        'after',
        '\nWithout REDIS_URL, uses the Redis at $USER_SYNC_LOCAL_REDIS_URL (default 127.0.0.1:6379), else\n' +
          'starts redis-server with its data in ./.redis.',
      ),
  ).action(async (options: DemoCommandOptions, command: Command) => {
    await runDemo(merged(options, command));
  });

  return program;
}
