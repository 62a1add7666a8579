import { afterEach, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { createLogger } from '../../src/index.js';
import { ensureRedis, freePort, type RedisHandle } from '../../src/embedded-redis.js';
import { pingRedis } from '../../src/redis.js';

const logger = createLogger({ silent: true });
const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

describe('ensureRedis', () => {
  const handles: RedisHandle[] = [];
  const dirs: string[] = [];
  const tempDir = async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'user-sync-redis-'));
    dirs.push(dir);
    return dir;
  };
  /** A URL nothing listens on, so that the embedded path is taken. */
  const closedUrl = async () => `redis://127.0.0.1:${await freePort()}`;

  afterEach(async () => {
    await Promise.all(handles.splice(0).map((h) => h.stop()));
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });

  it('uses a configured URL as it is, probing nothing', async () => {
    const dataDir = path.join(await tempDir(), 'data');
    const handle = await ensureRedis({ url: 'redis://redis.internal:6380/2', dataDir, logger });
    expect(handle).toMatchObject({ url: 'redis://redis.internal:6380/2', embedded: false });
    await handle.stop();
    expect(existsSync(dataDir)).toBe(false);
  });

  it('uses a Redis that answers on the probe URL', async () => {
    const probeUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
    const handle = await ensureRedis({ dataDir: await tempDir(), logger, probeUrl });
    expect(handle).toMatchObject({ url: probeUrl, embedded: false });
  });

  (hasRedisServer ? it : it.skip)(
    'starts redis-server with AOF and noeviction when nothing answers, and stop() leaves nothing behind',
    async () => {
      const dataDir = path.join(await tempDir(), '.redis');
      const probeUrl = await closedUrl();
      const handle = await ensureRedis({ dataDir, logger, probeUrl });
      handles.push(handle);
      expect(handle.embedded).toBe(true);
      expect(handle.url).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
      const pid = handle.pid as number;
      expect(isAlive(pid)).toBe(true);

      const client = new Redis(handle.url, { maxRetriesPerRequest: 1 });
      try {
        expect(await client.ping()).toBe('PONG');
        expect(await client.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
        expect(await client.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
        expect(await client.config('GET', 'save')).toEqual(['save', '']);
        expect(await client.config('GET', 'bind')).toEqual(['bind', '127.0.0.1']);
        await client.set('k', 'v');
      } finally {
        await client.quit();
      }
      const files = await readdir(dataDir);
      expect(files.some((f) => f === 'appendonlydir' || f.startsWith('appendonly'))).toBe(true);
      expect(files).toContain('embedded-redis.json');

      // Another process in the same directory uses the running server instead of starting a second one.
      const again = await ensureRedis({ dataDir, logger, probeUrl });
      expect(again).toMatchObject({ url: handle.url, embedded: false });

      await handle.stop();
      await handle.stop();
      expect((await pingRedis(handle.url)).ok).toBe(false);
      expect(isAlive(pid)).toBe(false);
      expect(await readdir(dataDir)).not.toContain('embedded-redis.json');

      // The AOF survives: a server started on the same directory has the data.
      const restarted = await ensureRedis({ dataDir, logger, probeUrl });
      handles.push(restarted);
      const reader = new Redis(restarted.url, { maxRetriesPerRequest: 1 });
      try {
        expect(await reader.get('k')).toBe('v');
      } finally {
        await reader.quit();
      }
    },
  );

  it('says how to get Redis when redis-server is not on PATH', async () => {
    const error = await ensureRedis({
      dataDir: await tempDir(),
      logger,
      probeUrl: await closedUrl(),
      command: 'redis-server-that-does-not-exist',
    }).catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/not found on PATH/);
    expect((error as Error).message).toContain('apt-get install redis-server');
    expect((error as Error).message).toContain('brew install redis');
    expect((error as Error).message).toContain('REDIS_URL');
  });

  it('gives up, bounded, on a server that never answers, and kills it', async () => {
    const dir = await tempDir();
    const fake = path.join(dir, 'silent-redis');
    // Writes its pid (kept by exec) and sleeps without ever listening.
    await writeFile(fake, '#!/bin/sh\necho $$ > "$(dirname "$0")/pid"\nexec sleep 30\n');
    await chmod(fake, 0o755);
    const error = await ensureRedis({
      dataDir: path.join(dir, 'data'),
      logger,
      probeUrl: await closedUrl(),
      command: fake,
      startTimeoutMs: 400,
      stopTimeoutMs: 500,
    }).catch((e: unknown) => e as Error);
    // Bounded by the configured startTimeoutMs (named in the message), and the silent process,
    // which would sleep for 30 s, is gone.
    expect((error as Error).message).toMatch(
      /did not answer PING on redis:\/\/127\.0\.0\.1:\d+ within 400 ms/,
    );
    const pid = Number((await readFile(path.join(dir, 'pid'), 'utf8')).trim());
    expect(pid).toBeGreaterThan(0);
    expect(isAlive(pid)).toBe(false);
  });

  it('reports a server that exits at once with its output', async () => {
    const dir = await tempDir();
    const fake = path.join(dir, 'broken-redis');
    await writeFile(fake, '#!/bin/sh\necho "FATAL: bad config"\nexit 3\n');
    await chmod(fake, 0o755);
    const error = await ensureRedis({
      dataDir: path.join(dir, 'data'),
      logger,
      probeUrl: await closedUrl(),
      command: fake,
    }).catch((e: unknown) => e as Error);
    expect((error as Error).message).toMatch(/exited \(code 3\) before answering PING.*FATAL: bad config/);
  });
});
