/**
 * Response size limits against real servers that answer 400 MiB, streamed: deliveries read at
 * most `maxResponseBytes` (a 2xx is delivered whatever its size, an error answer past the
 * limit fails retryably with `response_too_large`), state reads at most
 * `maxStateResponseBytes`; either way the server is cut off long before it sends it all, and
 * the executor's keep-alive agents go on serving other requests.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from '@jest/globals';
import { DeliveryError } from '../../src/errors.js';
import type { ExecutionContext, Executor } from '../../src/executors/executor.js';
import { HTTP_EXECUTOR_DEFAULTS, createHttpExecutor } from '../../src/executors/http/executor.js';
import { captureLogger } from '../helpers/capture-logger.js';
import { deliveryTask, targetConfig } from '../helpers/fixtures.js';
import { MiB, startHugeTarget, type HugeAnswer, type HugeTarget } from '../helpers/huge-target.js';

const HUGE = 400 * MiB;
/** What a client that stops at its limit lets a server write at most: socket buffers, far below 400 MiB. */
const CUT_OFF = 64 * MiB;

const servers: Array<{ close(): Promise<void> }> = [];
const executors: Executor[] = [];

afterEach(async () => {
  await Promise.all(executors.splice(0).map(async (e) => e.close?.()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function huge(answer: (req: http.IncomingMessage) => HugeAnswer): Promise<HugeTarget> {
  const server = await startHugeTarget(answer);
  servers.push(server);
  return server;
}

/** A plain server answering 200 `ok`, counting its connections. */
async function small(): Promise<{ url: string; connections: () => number }> {
  let connections = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push({
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    connections: () => connections,
  };
}

function executor(options?: Parameters<typeof createHttpExecutor>[0]): Executor {
  const created = createHttpExecutor(options);
  executors.push(created);
  return created;
}

function context(logger = captureLogger().logger): ExecutionContext {
  return { logger, signal: new AbortController().signal, now: () => Date.now() };
}

async function failure(promise: Promise<unknown>): Promise<DeliveryError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(DeliveryError);
    return error as DeliveryError;
  }
  throw new Error('expected a DeliveryError');
}

/** Waits (bounded) for the server to notice the client is gone, then returns what it wrote. */
async function sentAfterCutOff(server: HugeTarget): Promise<number> {
  const deadline = Date.now() + 10_000;
  while (server.streaming() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  expect(server.streaming()).toBe(0);
  return server.sent.reduce((a, b) => a + b, 0);
}

describe('deliveries read at most maxResponseBytes', () => {
  it('(a) an error status with a 400 MiB body fails retryably: response_too_large, naming the limit and the target', async () => {
    const server = await huge(() => ({ status: 500, bytes: HUGE }));
    const error = await failure(
      executor().execute(deliveryTask(), targetConfig({ url: `${server.origin}/hook` }), context()),
    );
    expect(error.failureCode).toBe('response_too_large');
    expect(error.retryable).toBe(true);
    expect(error.status).toBe(500);
    expect(error.message).toBe(
      'HTTP 500 from orders: answer larger than maxResponseBytes (65536 bytes), not read further',
    );
    expect(error.excerpt).toBe('x'.repeat(1024));
    expect(await sentAfterCutOff(server)).toBeLessThan(CUT_OFF);
  });

  it('(a) a non-retryable status too: what it says cannot be read, so it is retried', async () => {
    const server = await huge(() => ({ status: 404, bytes: HUGE }));
    const error = await failure(
      executor().execute(deliveryTask(), targetConfig({ url: `${server.origin}/hook` }), context()),
    );
    expect(error).toMatchObject({ failureCode: 'response_too_large', retryable: true, status: 404 });
    expect(await sentAfterCutOff(server)).toBeLessThan(CUT_OFF);
  });

  it('(b) a 2xx with a 400 MiB body is delivered: decided by its status line, the rest left unread', async () => {
    const server = await huge(() => ({ status: 200, bytes: HUGE }));
    const { logger, entries } = captureLogger();
    const result = await executor().execute(
      deliveryTask(),
      targetConfig({ url: `${server.origin}/hook` }),
      context(logger),
    );
    expect(result).toEqual({ status: 200 });
    expect(await sentAfterCutOff(server)).toBeLessThan(CUT_OFF);
    expect(entries).toEqual([
      expect.objectContaining({
        level: 'warn',
        message: 'delivered; answer larger than maxResponseBytes left unread, its connection closed',
        status: 200,
        max_response_bytes: 65_536,
      }),
    ]);
  });

  it('honours a configured limit, to the byte', async () => {
    const sizes = [1_024, 1_025];
    const server = await huge(() => ({ status: 503, bytes: sizes.shift() ?? 0 }));
    const limited = executor({ maxResponseBytes: 1_024 });
    const target = targetConfig({ url: `${server.origin}/hook` });
    const atLimit = await failure(limited.execute(deliveryTask(), target, context()));
    expect(atLimit).toMatchObject({ failureCode: 'http_503', retryable: true });
    const over = await failure(limited.execute(deliveryTask(), target, context()));
    expect(over.failureCode).toBe('response_too_large');
    expect(over.message).toContain('maxResponseBytes (1024 bytes)');
  });

  it('keeps its keep-alive agents: after a cut-off answer, deliveries still share one connection', async () => {
    const server = await huge(() => ({ status: 200, bytes: HUGE }));
    const normal = await small();
    const shared = executor();
    await shared.execute(deliveryTask(), targetConfig({ url: `${server.origin}/hook` }), context());
    for (let i = 0; i < 3; i++) {
      await expect(
        shared.execute(deliveryTask(), targetConfig({ url: normal.url }), context()),
      ).resolves.toEqual({ status: 200 });
    }
    expect(normal.connections()).toBe(1);
  });
});

describe('compressed answers count as what they inflate to', () => {
  it('stops a gzip answer that inflates past the limit: a 2xx is delivered, an error fails', async () => {
    // 64 MiB of zeros, 64 KiB on the wire: the bytes held are what is counted.
    const bomb = gzipSync(Buffer.alloc(64 * MiB));
    expect(bomb.length).toBeLessThan(HTTP_EXECUTOR_DEFAULTS.maxResponseBytes);
    let status = 200;
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(status, { 'content-encoding': 'gzip', 'content-length': String(bomb.length) });
        res.end(bomb);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push({
      close: () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    });
    const target = targetConfig({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook` });
    const shared = executor();
    await expect(shared.execute(deliveryTask(), target, context())).resolves.toEqual({ status: 200 });
    status = 502;
    const error = await failure(shared.execute(deliveryTask(), target, context()));
    expect(error).toMatchObject({ failureCode: 'response_too_large', status: 502 });
    expect(error.excerpt).toBe('\u0000'.repeat(1024));
  });
});

describe('state reads read at most maxStateResponseBytes', () => {
  const bulkAnswer = () => ({ status: 200, bytes: HUGE, prefix: '{"versions":{"u1":1,' });

  it('(c) a bulk answer of 400 MiB fails the read: response_too_large, naming the limit and the target', async () => {
    const server = await huge(bulkAnswer);
    const reader = executor();
    const error = await failure(
      reader.readState!(
        ['u1', 'u2'],
        targetConfig({
          service: 'crm',
          state: { bulkUrl: `${server.origin}/bulk`, batchSize: 500, concurrency: 16 },
        }),
        context(),
      ),
    );
    expect(error.failureCode).toBe('response_too_large');
    expect(error.retryable).toBe(true);
    expect(error.status).toBe(200);
    expect(error.message).toBe(
      'cannot read state of target crm: answer larger than maxStateResponseBytes (8388608 bytes), not read further (bulk request of 2 ids)',
    );
    expect(error.excerpt?.startsWith('{"versions":{"u1":1,xxx')).toBe(true);
    expect(await sentAfterCutOff(server)).toBeLessThan(CUT_OFF);
  });

  it('(c) a single-user answer of 400 MiB fails the read the same way', async () => {
    const server = await huge(() => ({ status: 200, bytes: HUGE, prefix: '{"version":' }));
    const error = await failure(
      executor().readState!(
        ['u1'],
        targetConfig({
          service: 'crm',
          state: { url: `${server.origin}/users/{id}`, batchSize: 500, concurrency: 16 },
        }),
        context(),
      ),
    );
    expect(error.failureCode).toBe('response_too_large');
    expect(error.message).toBe(
      'cannot read state of target crm: answer larger than maxStateResponseBytes (8388608 bytes), not read further (user "u1")',
    );
    expect(await sentAfterCutOff(server)).toBeLessThan(CUT_OFF);
  });

  it('reads an answer up to the configured limit and refuses one byte more', async () => {
    const body = JSON.stringify({ versions: { u1: 3 } });
    const padded = (extra: number) => ({
      status: 200,
      bytes: 2_048 + extra,
      prefix: body,
      filler: Buffer.alloc(64 * 1024, ' '),
    });
    const answers = [padded(0), padded(1)];
    const server = await huge(() => answers.shift() ?? padded(0));
    const reader = executor({ maxStateResponseBytes: 2_048 });
    const target = targetConfig({
      service: 'crm',
      state: { bulkUrl: `${server.origin}/bulk`, batchSize: 500, concurrency: 16 },
    });
    await expect(reader.readState!(['u1'], target, context())).resolves.toEqual(new Map([['u1', 3]]));
    const error = await failure(reader.readState!(['u1'], target, context()));
    expect(error.failureCode).toBe('response_too_large');
    expect(error.message).toContain('maxStateResponseBytes (2048 bytes)');
  });
});
