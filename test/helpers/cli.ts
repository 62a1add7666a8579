import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** Runs the TypeScript sources directly: no build needed (see ts-loader.mjs). */
const LOADER = path.join(ROOT, 'test/helpers/ts-loader.mjs');
const CLI = path.join(ROOT, 'src/cli.ts');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Environment variables; `undefined` removes one. Starts from this process's environment. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Kill the process (SIGKILL) and fail after this long. Default 30 s. */
  timeoutMs?: number;
}

/** A running `user-sync` process. */
export interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when it exits; rejects (after SIGKILL) when it takes longer than `timeoutMs`. */
  exited(timeoutMs?: number): Promise<CliResult>;
  /** SIGKILL if still running. */
  kill(): void;
}

function childEnv(env: CliOptions['env'] = {}): NodeJS.ProcessEnv {
  const merged: NodeJS.ProcessEnv = { ...process.env };
  // Jest's --experimental-vm-modules is not for the CLI; the tests' silencing is not either.
  delete merged.NODE_OPTIONS;
  delete merged.USER_SYNC_SILENT;
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete merged[key];
    else merged[key] = value;
  }
  return merged;
}

/** Starts `user-sync <args>` from the sources. */
export function spawnCli(args: readonly string[], options: CliOptions = {}): CliProcess {
  const child = spawn(process.execPath, ['--import', LOADER, CLI, ...args], {
    cwd: options.cwd ?? ROOT,
    env: childEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const done = new Promise<CliResult>((resolve) => {
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    kill,
    exited: async (timeoutMs = options.timeoutMs ?? 30_000) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          kill();
          reject(
            new Error(
              `user-sync ${args.join(' ')} did not exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`,
            ),
          );
        }, timeoutMs);
      });
      try {
        return await Promise.race([done, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** Runs `user-sync <args>` to its end. */
export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return spawnCli(args, options).exited();
}
