import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** Tests that spawn processes run the built package, as users do: `npm test` builds it first. */
const CLI = path.join(ROOT, 'dist/cli.js');

/** Fails with what to do when dist/ is missing or older than the sources. */
export function requireBuild(): void {
  const dist = path.join(ROOT, 'dist/index.js');
  if (!existsSync(dist) || !existsSync(CLI)) {
    throw new Error('dist/ is missing: run `npm run build` (npm test does) before these tests');
  }
  const newest = Math.max(
    ...['src/index.ts', 'src/cli.ts', 'src/service.ts'].map((f) => statSync(path.join(ROOT, f)).mtimeMs),
  );
  if (statSync(dist).mtimeMs < newest) throw new Error('dist/ is older than src/: run `npm run build`');
}

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

/** A running `user-sync` (or other node script) process. */
export interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout or stderr matches; rejects if the process exits first or after `timeoutMs`. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
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

/** Starts `user-sync <args>` from the built package. */
export function spawnCli(args: readonly string[], options: CliOptions = {}): CliProcess {
  return spawnScript(CLI, args, options);
}

/** Starts `node <script> <args>`. */
export function spawnScript(script: string, args: readonly string[], options: CliOptions = {}): CliProcess {
  const child = spawn(process.execPath, [script, ...args], {
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
    waitForOutput: async (pattern, timeoutMs = 15_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(stdout + stderr)) {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(
            `${script} exited before printing ${pattern}\nstdout: ${stdout}\nstderr: ${stderr}`,
          );
        }
        if (Date.now() > deadline)
          throw new Error(`${script} did not print ${pattern} within ${timeoutMs} ms: ${stdout}${stderr}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    kill,
    exited: async (timeoutMs = options.timeoutMs ?? 30_000) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          kill();
          reject(
            new Error(
              `${path.basename(script)} ${args.join(' ')} did not exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`,
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
