#!/usr/bin/env node
/**
 * The `user-sync` command (package `bin`). Errors are one line on stderr, `user-sync: <message>`,
 * with the stack only under `--verbose`, and exit code 1. Both go through `redactText`: no URL
 * credential reaches the terminal, whatever error carried it.
 */
import { CommanderError } from 'commander';
import { buildProgram } from './cli/program.js';
import { toError } from './errors.js';
import { explainRedisError } from './redis.js';
import { redactText } from './redact.js';

/** How long a finished command may take to exit by itself before it is made to. */
const EXIT_GRACE_MS = 2_000;

const program = buildProgram();
let verbose = process.argv.includes('--verbose');
program.hook('preAction', (_program, action) => {
  verbose = action.optsWithGlobals<{ verbose?: boolean }>().verbose === true;
});

try {
  await program.parseAsync(process.argv);
  // Everything is closed by now; should a handle linger, it must not keep a finished command alive.
  setTimeout(() => process.exit(), EXIT_GRACE_MS).unref();
} catch (error) {
  const err = toError(error);
  if (err instanceof CommanderError) process.exit(err.exitCode);
  const message = redactText(explainRedisError(err) ?? err.message);
  process.stderr.write(`user-sync: ${message.split('\n')[0] ?? message}\n`);
  if (verbose && err.stack) process.stderr.write(`${redactText(err.stack)}\n`);
  process.exit(1);
}
