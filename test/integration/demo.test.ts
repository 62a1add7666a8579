import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/embedded-redis.js';
import { requireBuild, spawnCli, type CliProcess } from '../helpers/cli.js';

const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0;
const hasPgrep = spawnSync('pgrep', ['--version']).status === 0;
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '0.0.0.0', '[::1]']);

/** Resolves true when nothing accepts a TCP connection on 127.0.0.1:`port` (refused), false when something does. */
function refuses(port: number, timeoutMs = 2_000): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (refused: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(refused);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(false));
    socket.once('error', (error: NodeJS.ErrnoException) => done(error.code === 'ECONNREFUSED'));
  });
}

/** The local ports of the URLs a process printed (its Redis, receivers, dashboard). */
function printedPorts(output: string): number[] {
  const ports = new Set<number>();
  for (const [text] of output.matchAll(/\b(?:https?|redis):\/\/[^\s)'"]+/g)) {
    if (!URL.canParse(text)) continue;
    const url = new URL(text);
    if (LOCAL_HOSTS.has(url.hostname) && url.port) ports.add(Number(url.port));
  }
  return [...ports];
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * `user-sync demo` as a new user runs it, with no Redis to find: it starts its own
 * redis-server (data in ./.redis), delivers events, and on Ctrl-C prints its summary and
 * leaves no process or port behind.
 */
(hasRedisServer ? describe : describe.skip)('user-sync demo', () => {
  let dir: string;
  let demo: CliProcess | undefined;
  /** The embedded redis-server's pid, from the demo's state file: killed here should the demo fail to. */
  let redisPid: number | undefined;

  beforeAll(async () => {
    requireBuild();
    dir = await mkdtemp(path.join(tmpdir(), 'user-sync-demo-'));
  });

  afterAll(async () => {
    demo?.kill();
    await demo?.exited(5_000).catch(() => undefined);
    if (redisPid !== undefined && isAlive(redisPid)) process.kill(redisPid, 'SIGKILL');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('starts its own Redis, delivers, and exits 0 on SIGINT leaving no redis-server or port behind', async () => {
    // Nothing listens on the local Redis URL, so the demo must start a redis-server of its own.
    const localPort = await freePort();
    const running = spawnCli(['demo', '--rate', '20'], {
      cwd: dir,
      env: {
        REDIS_URL: undefined,
        USER_SYNC_CONFIG: undefined,
        LOG_LEVEL: undefined,
        USER_SYNC_LOCAL_REDIS_URL: `redis://127.0.0.1:${localPort}`,
      },
    });
    demo = running;

    await running.waitForOutput(/^Redis: .*embedded redis-server/m, 20_000);
    const statePath = path.join(dir, '.redis', 'embedded-redis.json');
    if (existsSync(statePath)) {
      redisPid = (JSON.parse(readFileSync(statePath, 'utf8')) as { pid: number }).pid;
    }
    expect(redisPid).toEqual(expect.any(Number));

    // Deliveries show in the progress line within a few seconds.
    await running.waitForOutput(/delivered: orders [1-9]/, 20_000);
    const ports = printedPorts(running.stdout());
    // Its Redis (the cache target too) and the two sample services, at least.
    expect(ports.length).toBeGreaterThanOrEqual(3);
    expect(ports).toContain(localPort);

    running.child.kill('SIGINT');
    const result = await running.exited(15_000);
    expect({ code: result.code, signal: result.signal }).toEqual({ code: 0, signal: null });
    expect(result.stdout).toMatch(/^Summary: \d+ events/m);
    expect(result.stdout).toMatch(/TARGET\s+DELIVERED/);
    expect(result.stderr).not.toMatch(/user-sync:/);

    // Its data landed in the working directory; its server and every port it printed are gone.
    expect(existsSync(path.join(dir, '.redis'))).toBe(true);
    expect(existsSync(statePath)).toBe(false);
    expect(isAlive(redisPid as number)).toBe(false);
    if (hasPgrep) {
      const pgrep = spawnSync('pgrep', ['-f', `redis-server .*:${localPort}\\b`], { encoding: 'utf8' });
      expect({ status: pgrep.status, pids: pgrep.stdout.trim() }).toEqual({ status: 1, pids: '' });
    }
    for (const port of printedPorts(result.stdout)) {
      expect({ port, refused: await refuses(port) }).toEqual({ port, refused: true });
    }
  }, 90_000);
});
