import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Tests that spawn processes run the built package: `npm test` builds it first. */
export function requireBuild(): void {
  const dist = path.join(ROOT, 'dist/index.js');
  if (!existsSync(dist))
    throw new Error('dist/ is missing: run `npm run build` (npm test does it) before these tests');
  const src = statSync(path.join(ROOT, 'src/index.ts')).mtimeMs;
  if (statSync(dist).mtimeMs < src) throw new Error('dist/ is older than src/: run `npm run build`');
}

export interface Child {
  process: ChildProcess;
  output: () => string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  kill(signal?: NodeJS.Signals): void;
}

/** Spawns `node <args>` in the project root; remember to kill it (afterEach). */
export function spawnNode(args: string[], env: Record<string, string | undefined>): Child {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  return {
    process: child,
    output: () => out,
    exited,
    kill: (signal = 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    waitForOutput: async (pattern, timeoutMs = 15_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(out)) {
        if (child.exitCode !== null)
          throw new Error(`child exited (${child.exitCode}) before printing ${pattern}: ${out}`);
        if (Date.now() > deadline)
          throw new Error(`child did not print ${pattern} within ${timeoutMs} ms: ${out}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}
