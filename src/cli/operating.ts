/** The commands that operate targets one at a time: `backfill` and `user`. */
import { Option, type Command } from 'commander';
import { commonOptions, integer, positiveNumber, withCommonOptions, type CommonOptions } from './common.js';
import { runBackfillCommand, type BackfillCommandOptions } from './backfill.js';
import { runUserCommand, type UserCommandOptions } from './user.js';

function merged<T extends object>(options: T, command: Command): T & CommonOptions {
  return { ...options, ...commonOptions(command) };
}

/** Adds `backfill <service>` and `user <id>` to the program. */
export function addOperatingCommands(program: Command): void {
  withCommonOptions(
    program
      .command('backfill')
      .description("send the ledger's latest state of every user to one target (new, or restored empty)")
      .argument('<service>', 'the target, by its service name')
      .option('--dry-run', 'count what would be sent; enqueue nothing, store nothing')
      .addOption(
        new Option(
          '--rate <n>',
          "deliveries enqueued per second at most (default: the target's rateLimit)",
        ).argParser(positiveNumber),
      )
      .option('--restart', 'start over rather than continue an unfinished run')
      .option(
        '--ignore-watermarks',
        'send every user even where the watermark says the target has the version (it was restored empty)',
      )
      .addOption(
        new Option(
          '--max-backlog <n>',
          "keep the target's backlog at or below this (default: queueSize / 4)",
        ).argParser(integer(1)),
      )
      .addOption(
        new Option('--chunk-size <n>', 'users read at a time (default 500)').argParser(integer(1, 10_000)),
      )
      .option('--json', 'progress and the result as JSON lines on stdout')
      .addHelpText(
        'after',
        '\nResumable: where the run stands is kept in Redis after every chunk; a run that was stopped\n' +
          '(Ctrl-C, SIGTERM, a crash) is continued by the next unless --restart. Idempotent: a user whose\n' +
          "watermark there is at the ledger's version is skipped, and each (user, version, target) is one\n" +
          'job (id repair-v<version>-<user>.<service>), whoever asks for it. Deleted users are sent as\n' +
          'deletes only to Redis targets (tombstones) and targets whose events list user.deleted. The\n' +
          "workers deliver the jobs, within the target's rateLimit.",
      ),
  ).action(async (service: string, options: BackfillCommandOptions, command: Command) => {
    await runBackfillCommand(service, merged(options, command));
  });

  withCommonOptions(
    program
      .command('user')
      .description("one user across the deployment: ledger, each target's watermark and sync, its deliveries")
      .argument('<id>', 'the user id as published (letters, digits, "_", "-")')
      .option('--json', 'print JSON')
      .option('--reveal', "show the snapshot's personal values (masked by default)")
      .addHelpText(
        'after',
        "\nThe user's deliveries are found by id where the ledger names them, and by scanning the\n" +
          "target queues of the user's partition and the dead-letter index, up to 10,000 entries each\n" +
          '(the answer says what was scanned, and whether a list was longer).',
      ),
  ).action(async (id: string, options: UserCommandOptions, command: Command) => {
    await runUserCommand(id, merged(options, command));
  });
}
