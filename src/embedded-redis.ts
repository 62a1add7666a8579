/**
 * Finds a Redis to run against, or starts one: the configured URL, else a Redis already
 * answering on the default port, else one started by an earlier process in the same data
 * directory, else a `redis-server` child process of our own (AOF on, `noeviction`, bound to
 * 127.0.0.1), stopped with the process.
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { settlesWithin } from './deadline.js';
import { toError } from './errors.js';
import type { Logger } from './logger.js';
import { DEFAULT_REDIS_URL, pingRedis } from './redis.js';

/** Options of {@link ensureRedis}. */
export interface EnsureRedisOptions {
  /** A Redis to use as it is (the config's `redisUrl`, which `REDIS_URL` overrides): nothing is probed or started. */
  url?: string | undefined;
  /** Data directory of an embedded server (its AOF and a state file); created if missing. */
  dataDir: string;
  logger: Logger;
  /** Port of an embedded server. Default: the probed port (6379) if free, else a free port on 127.0.0.1. */
  port?: number;
  /** The Redis looked for before starting one. Default `redis://127.0.0.1:6379`. */
  probeUrl?: string;
  /** The executable to start. Default `redis-server`, from PATH. */
  command?: string;
  /** How long to wait for a started server to answer PING, in milliseconds. Default 5000. */
  startTimeoutMs?: number;
  /** How long stop() waits for the server to exit after SIGTERM before SIGKILL, in milliseconds. Default 5000. */
  stopTimeoutMs?: number;
}

/** The Redis found or started. */
export interface RedisHandle {
  url: string;
  /** True when this call started the server (stop() then stops it). */
  embedded: boolean;
  /** Process id of the embedded server, when this call started one. */
  pid?: number;
  /** Stops the embedded server (SIGTERM, SIGKILL after `stopTimeoutMs`); a no-op otherwise. Idempotent. */
  stop(): Promise<void>;
}

/** Where a Redis URL came from. */
export type RedisSource = 'config' | 'local' | 'embedded';

const PROBE_TIMEOUT_MS = 500;
const POLL_MS = 50;
const STATE_FILE = 'embedded-redis.json';
const OUTPUT_LINES = 20;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A port that was free a moment ago on 127.0.0.1 (listen on port 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('could not find a free port'))));
    });
  });
}

interface EmbeddedState {
  url: string;
  pid: number;
}

function statePath(dataDir: string): string {
  return path.join(dataDir, STATE_FILE);
}

async function readState(dataDir: string): Promise<EmbeddedState | undefined> {
  try {
    const value: unknown = JSON.parse(await readFile(statePath(dataDir), 'utf8'));
    if (
      typeof value === 'object' &&
      value !== null &&
      'url' in value &&
      typeof value.url === 'string' &&
      'pid' in value &&
      typeof value.pid === 'number'
    ) {
      return { url: value.url, pid: value.pid };
    }
  } catch {
    // missing or unreadable: no embedded server recorded
  }
  return undefined;
}

/**
 * The Redis to use without starting one: `url` when given; else the probe URL (default
 * `redis://127.0.0.1:6379`) when it answers PING; else an embedded server that another process
 * started in `dataDir` and that still answers. Undefined when there is none.
 */
export async function findRedis(options: {
  url?: string | undefined;
  dataDir: string;
  probeUrl?: string;
}): Promise<{ url: string; source: RedisSource } | undefined> {
  if (options.url) return { url: options.url, source: 'config' };
  const probeUrl = options.probeUrl ?? DEFAULT_REDIS_URL;
  if ((await pingRedis(probeUrl, PROBE_TIMEOUT_MS)).ok) return { url: probeUrl, source: 'local' };
  const state = await readState(options.dataDir);
  if (state && (await pingRedis(state.url, PROBE_TIMEOUT_MS)).ok)
    return { url: state.url, source: 'embedded' };
  return undefined;
}

/** The error of a missing `redis-server`, saying how to get one. */
function notInstalled(command: string): Error {
  return new Error(
    `${command} was not found on PATH and no Redis is configured: install Redis ` +
      '(apt-get install redis-server, or brew install redis) or set REDIS_URL to a running one',
  );
}

class PortInUse extends Error {}

/**
 * Returns a Redis to run against:
 * 1. `url` when given (the config's `redisUrl`, or `REDIS_URL`), used as it is;
 * 2. else `probeUrl` (default `redis://127.0.0.1:6379`) when something answers PING there;
 * 3. else an embedded server another process started in `dataDir`, if it still answers;
 * 4. else a `redis-server` from PATH, started on 127.0.0.1 — on the probed port if it is free,
 *    else on a free one — with its AOF in
 *    `dataDir`, `maxmemory-policy noeviction`, no RDB snapshots. It is killed if this process
 *    exits without calling stop().
 *
 * Only in case 4 is `embedded` true and stop() does anything. Throws when `redis-server` is
 * missing (saying how to install it), exits early, or does not answer within `startTimeoutMs`.
 */
export async function ensureRedis(options: EnsureRedisOptions): Promise<RedisHandle> {
  const { logger } = options;
  const found = await findRedis(options);
  if (found) {
    if (found.source === 'embedded') {
      logger.info('using the embedded Redis started by another process', {
        url: found.url,
        data_dir: options.dataDir,
      });
    }
    return { url: found.url, embedded: false, stop: async () => undefined };
  }
  await mkdir(options.dataDir, { recursive: true });
  // First the probed port itself (6379 by default): nothing answered there, so it is most
  // likely free, and then producers, the cache target and other tools find this server with
  // their defaults. If it is taken by something else, any free port.
  const preferred = Number(new URL(options.probeUrl ?? DEFAULT_REDIS_URL).port || 6379);
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (attempt === 1 ? preferred : await freePort());
    try {
      return await launch(options, port);
    } catch (error) {
      // The port was taken between finding it and the server binding it: try another.
      if (error instanceof PortInUse && options.port === undefined && attempt < 4) continue;
      throw error;
    }
  }
}

async function launch(options: EnsureRedisOptions, port: number): Promise<RedisHandle> {
  const { logger, dataDir } = options;
  const command = options.command ?? 'redis-server';
  const startTimeoutMs = options.startTimeoutMs ?? 5_000;
  const stopTimeoutMs = options.stopTimeoutMs ?? 5_000;
  const url = `redis://127.0.0.1:${port}`;
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    path.resolve(dataDir),
    '--appendonly',
    'yes',
    '--save',
    '',
    '--maxmemory-policy',
    'noeviction',
    '--daemonize',
    'no',
  ];
  // Its own process group: a Ctrl-C in the terminal reaches only us, and we stop the server
  // after our own graceful shutdown, not before it.
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });

  const output: string[] = [];
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      output.push(line.trim());
      if (output.length > OUTPUT_LINES) output.shift();
      logger.debug('redis-server', { line: line.trim() });
    }
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);

  let spawnError: Error | undefined;
  let exitedWith: string | undefined;
  let ready = false;
  let stopping = false;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exitedWith = signal ? `signal ${signal}` : `code ${String(code)}`;
      process.off('exit', killOnExit);
      if (!stopping && ready) logger.error('embedded redis-server exited', { url, exit: exitedWith });
      resolve();
    });
  });
  child.once('error', (error) => {
    spawnError = error;
    process.off('exit', killOnExit);
  });
  const killOnExit = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.on('exit', killOnExit);

  const waitExit = async (ms: number): Promise<boolean> =>
    exitedWith !== undefined || spawnError !== undefined || (await settlesWithin(exited, ms));
  const kill = async () => {
    stopping = true;
    if (exitedWith !== undefined || spawnError) return;
    child.kill('SIGTERM');
    if (!(await waitExit(stopTimeoutMs))) {
      logger.warn('redis-server did not exit after SIGTERM: killing it', { url, timeout_ms: stopTimeoutMs });
      child.kill('SIGKILL');
      await waitExit(2_000);
    }
    process.off('exit', killOnExit);
  };
  const lastOutput = () => (output.length ? `; its last output: ${output.slice(-5).join(' | ')}` : '');

  const deadline = Date.now() + startTimeoutMs;
  while (!ready) {
    if (spawnError) {
      if ((spawnError as NodeJS.ErrnoException).code === 'ENOENT') throw notInstalled(command);
      throw new Error(`could not start ${command}: ${spawnError.message}`);
    }
    if (exitedWith !== undefined) {
      if (output.some((line) => /address already in use/i.test(line))) {
        throw new PortInUse(`port ${port} is in use`);
      }
      throw new Error(`${command} exited (${exitedWith}) before answering PING on ${url}${lastOutput()}`);
    }
    if ((await pingRedis(url, 250)).ok) {
      ready = true;
      break;
    }
    if (Date.now() >= deadline) {
      await kill();
      throw new Error(`${command} did not answer PING on ${url} within ${startTimeoutMs} ms${lastOutput()}`);
    }
    await sleep(POLL_MS);
  }

  const pid = child.pid as number;
  await writeFile(statePath(dataDir), JSON.stringify({ url, pid } satisfies EmbeddedState) + '\n').catch(
    (error: unknown) => logger.warn('could not record the embedded Redis', { error: toError(error).message }),
  );
  logger.info('started an embedded Redis', { url, pid, data_dir: dataDir });

  let stopped: Promise<void> | undefined;
  return {
    url,
    embedded: true,
    pid,
    stop: () => {
      stopped ??= (async () => {
        const state = await readState(dataDir);
        if (state?.pid === pid) await rm(statePath(dataDir), { force: true }).catch(() => undefined);
        await kill();
        logger.info('stopped the embedded Redis', { url });
      })();
      return stopped;
    },
  };
}
