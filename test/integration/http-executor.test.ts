import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { Webhook } from 'standardwebhooks';
import type { TargetConfig } from '../../src/config/schema.js';
import { DeliveryError } from '../../src/errors.js';
import type { DeliveryTask } from '../../src/jobs/delivery-job.js';
import { createLogger } from '../../src/logger.js';
import type { ExecutionContext, Executor } from '../../src/executors/executor.js';
import { createHttpExecutor } from '../../src/executors/http/executor.js';
import { USER_AGENT, buildWebhookBody } from '../../src/executors/http/wire.js';
import { deliveryTask, targetConfig } from '../helpers/fixtures.js';

interface RecordedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void;

interface TestServer {
  url: string;
  port: number;
  requests: RecordedRequest[];
  connections: () => number;
  /** Resolves when the next request has been received in full. */
  nextRequest: () => Promise<RecordedRequest>;
  close: () => Promise<void>;
}

const servers: TestServer[] = [];
const executors: Executor[] = [];
const logger = createLogger({ silent: true });

/** A real HTTP server on 127.0.0.1, port 0, recording every request it receives. */
async function startServer(handler: Handler = (_req, res) => res.end('ok')): Promise<TestServer> {
  const requests: RecordedRequest[] = [];
  const waiters: Array<(request: RecordedRequest) => void> = [];
  let connections = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const recorded = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      requests.push(recorded);
      waiters.shift()?.(recorded);
      handler(req, res, body);
    });
  });
  server.on('connection', () => {
    connections += 1;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const testServer: TestServer = {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    connections: () => connections,
    nextRequest: () => new Promise((resolve) => waiters.push(resolve)),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  servers.push(testServer);
  return testServer;
}

function newExecutor(options?: Parameters<typeof createHttpExecutor>[0]): Executor {
  const executor = createHttpExecutor(options);
  executors.push(executor);
  return executor;
}

const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

/** The `orders` http target at `url`, signing with a fresh secret. */
const target = (url: string, overrides: Partial<TargetConfig> = {}): TargetConfig =>
  targetConfig({ url, secrets: [newSecret()], ...overrides });

/** The shared task, under event id `01J8ABCDEF` (task id `01J8ABCDEF.orders`). */
const task = (overrides: Partial<DeliveryTask> = {}): DeliveryTask =>
  deliveryTask({ eventId: '01J8ABCDEF', ...overrides });

function context(overrides: Partial<ExecutionContext> = {}): ExecutionContext {
  return { logger, signal: new AbortController().signal, now: () => Date.now(), ...overrides };
}

/** Runs a delivery that must fail and returns its DeliveryError. */
async function deliveryError(promise: Promise<unknown>): Promise<DeliveryError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(DeliveryError);
    return error as DeliveryError;
  }
  throw new Error('expected the delivery to fail');
}

function signatureHeaders(request: RecordedRequest): Record<string, string> {
  const header = (name: string) => {
    const value = request.headers[name];
    if (typeof value !== 'string') throw new Error(`missing header ${name}`);
    return value;
  };
  return {
    'webhook-id': header('webhook-id'),
    'webhook-timestamp': header('webhook-timestamp'),
    'webhook-signature': header('webhook-signature'),
  };
}

afterEach(async () => {
  await Promise.all(executors.splice(0).map(async (executor) => executor.close?.()));
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

describe('http executor: the request', () => {
  let server: TestServer;
  beforeEach(async () => {
    server = await startServer();
  });

  it('sends the configured method, path, headers and exact signed body', async () => {
    const t = target(`${server.url}/hooks/users?x=1`);
    const fixedNow = Date.now();
    const result = await newExecutor().execute(task(), t, context({ now: () => fixedNow }));
    expect(result).toEqual({ status: 200 });

    expect(server.requests).toHaveLength(1);
    const [request] = server.requests;
    if (!request) throw new Error('no request');
    expect(request.method).toBe('POST');
    expect(request.url).toBe('/hooks/users?x=1');
    expect(request.body).toBe(buildWebhookBody(task()));
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers['user-agent']).toBe(USER_AGENT);
    expect(request.headers['user-agent']).toMatch(/^user-sync\/\S+/);
    expect(request.headers['webhook-id']).toBe('01J8ABCDEF.orders');
    expect(request.headers['idempotency-key']).toBe('01J8ABCDEF.orders');
    expect(request.headers['webhook-timestamp']).toBe(String(Math.floor(fixedNow / 1000)));
    expect(request.headers['content-length']).toBe(String(Buffer.byteLength(request.body)));

    const secret = t.secrets[0];
    if (!secret) throw new Error('no secret');
    expect(() => new Webhook(secret).verify(request.body, signatureHeaders(request))).not.toThrow();
    expect(() => new Webhook(newSecret()).verify(request.body, signatureHeaders(request))).toThrow();
  });

  it('signs once per secret so a receiver holding either accepts', async () => {
    const [oldSecret, newSecretValue] = [newSecret(), newSecret()];
    await newExecutor().execute(
      task(),
      target(server.url, { secrets: [oldSecret, newSecretValue] }),
      context(),
    );
    const [request] = server.requests;
    if (!request) throw new Error('no request');
    expect(String(request.headers['webhook-signature']).split(' ')).toHaveLength(2);
    expect(() => new Webhook(oldSecret).verify(request.body, signatureHeaders(request))).not.toThrow();
    expect(() => new Webhook(newSecretValue).verify(request.body, signatureHeaders(request))).not.toThrow();
  });

  it('sends no signature header when the target has no secrets', async () => {
    await newExecutor().execute(task(), target(server.url, { secrets: [] }), context());
    expect(server.requests[0]?.headers['webhook-signature']).toBeUndefined();
    expect(server.requests[0]?.headers['webhook-id']).toBe('01J8ABCDEF.orders');
  });

  it('uses the target method, and the target URL only', async () => {
    const hostile = { ...task(), url: 'http://example.invalid/steal', method: 'DELETE' } as DeliveryTask;
    await newExecutor().execute(hostile, target(`${server.url}/put-here`, { method: 'PUT' }), context());
    expect(server.requests[0]?.method).toBe('PUT');
    expect(server.requests[0]?.url).toBe('/put-here');
  });

  it('passes custom target headers but never lets them replace its own', async () => {
    const t = target(server.url, {
      headers: {
        Authorization: 'Bearer target-token',
        'X-Api-Key': 'k-123',
        'Content-Type': 'text/plain',
        'User-Agent': 'spoof',
        'Webhook-Id': 'spoof',
        'Idempotency-Key': 'spoof',
      },
    });
    await newExecutor().execute(task(), t, context());
    const headers = server.requests[0]?.headers ?? {};
    expect(headers.authorization).toBe('Bearer target-token');
    expect(headers['x-api-key']).toBe('k-123');
    expect(headers['content-type']).toBe('application/json');
    expect(headers['user-agent']).toBe(USER_AGENT);
    expect(headers['webhook-id']).toBe('01J8ABCDEF.orders');
    expect(headers['idempotency-key']).toBe('01J8ABCDEF.orders');
  });

  it('keeps webhook-id stable across attempts while the timestamp follows the clock', async () => {
    const executor = newExecutor();
    const t = target(server.url);
    const start = Date.now();
    await executor.execute(task({ attempt: 1 }), t, context({ now: () => start }));
    await executor.execute(task({ attempt: 2 }), t, context({ now: () => start + 60_000 }));
    const [first, second] = server.requests;
    expect(first?.headers['webhook-id']).toBe(second?.headers['webhook-id']);
    expect(Number(second?.headers['webhook-timestamp']) - Number(first?.headers['webhook-timestamp'])).toBe(
      60,
    );
  });

  it('reuses one TCP connection for sequential deliveries', async () => {
    const executor = newExecutor();
    const t = target(server.url);
    await executor.execute(task(), t, context());
    await executor.execute(task({ taskId: '01J8ABCDEG.orders', eventId: '01J8ABCDEG' }), t, context());
    await executor.execute(task({ taskId: '01J8ABCDEH.orders', eventId: '01J8ABCDEH' }), t, context());
    expect(server.requests).toHaveLength(3);
    expect(server.connections()).toBe(1);
  });
});

describe('http executor: responses', () => {
  it('accepts any 2xx', async () => {
    const server = await startServer((_req, res) => {
      res.statusCode = 204;
      res.end();
    });
    await expect(newExecutor().execute(task(), target(server.url), context())).resolves.toEqual({
      status: 204,
    });
  });

  it('500 is retryable', async () => {
    const server = await startServer((_req, res) => {
      res.statusCode = 500;
      res.end('internal error');
    });
    const error = await deliveryError(newExecutor().execute(task(), target(server.url), context()));
    expect(error.retryable).toBe(true);
    expect(error.status).toBe(500);
    expect(error.failureCode).toBe('http_500');
    expect(error.message).toBe('HTTP 500 from orders');
    expect(error.excerpt).toBe('internal error');
    expect(error.retryAfterMs).toBeUndefined();
  });

  it('404 is dead, with the response excerpt', async () => {
    const server = await startServer((_req, res) => {
      res.statusCode = 404;
      res.end('{"error":"no such route"}');
    });
    const error = await deliveryError(newExecutor().execute(task(), target(server.url), context()));
    expect(error.retryable).toBe(false);
    expect(error.status).toBe(404);
    expect(error.failureCode).toBe('http_404');
    expect(error.excerpt).toBe('{"error":"no such route"}');
  });

  it('410 is dead', async () => {
    const server = await startServer((_req, res) => {
      res.statusCode = 410;
      res.end('gone');
    });
    const error = await deliveryError(newExecutor().execute(task(), target(server.url), context()));
    expect(error.retryable).toBe(false);
    expect(error.status).toBe(410);
  });

  it('caps a long excerpt without splitting a UTF-8 character', async () => {
    const long = 'x'.repeat(1023) + 'é'.repeat(5000);
    const server = await startServer((_req, res) => {
      res.statusCode = 400;
      res.end(long);
    });
    const error = await deliveryError(newExecutor().execute(task(), target(server.url), context()));
    // 1023 bytes of "x", then "é" (2 bytes) does not fit in 1024: it is left out whole.
    expect(error.excerpt).toBe('x'.repeat(1023));

    const small = await deliveryError(
      newExecutor({ excerptBytes: 16 }).execute(task(), target(server.url), context()),
    );
    expect(small.excerpt).toBe('x'.repeat(16));
  });

  it('caps an excerpt of multi-byte text on a character boundary', async () => {
    const server = await startServer((_req, res) => {
      res.statusCode = 422;
      res.end('€'.repeat(2000)); // 3 bytes each
    });
    const error = await deliveryError(newExecutor().execute(task(), target(server.url), context()));
    expect(error.excerpt).toBe('€'.repeat(341)); // 1023 bytes
    expect(Buffer.byteLength(error.excerpt ?? '')).toBeLessThanOrEqual(1024);
    expect(error.excerpt).not.toContain('\uFFFD');
  });

  it('429 honours Retry-After in seconds', async () => {
    const server = await startServer((_req, res) => {
      res.statusCode = 429;
      res.setHeader('Retry-After', '2');
      res.end('slow down');
    });
    const error = await deliveryError(newExecutor().execute(task(), target(server.url), context()));
    expect(error.retryable).toBe(true);
    expect(error.status).toBe(429);
    expect(error.retryAfterMs).toBe(2000);
  });

  it('503 honours a Retry-After date within the configured bound', async () => {
    const now = Date.now();
    const server = await startServer((_req, res) => {
      res.statusCode = 503;
      res.setHeader('Retry-After', new Date(now + 7_200_000).toUTCString());
      res.end();
    });
    const error = await deliveryError(
      newExecutor({ retryAfterMaxMs: 60_000 }).execute(
        task(),
        target(server.url),
        context({ now: () => now }),
      ),
    );
    expect(error.retryable).toBe(true);
    expect(error.retryAfterMs).toBe(60_000);
  });

  it('does not follow a 302, and dead-letters it', async () => {
    const server = await startServer((req, res) => {
      if (req.url === '/elsewhere') {
        res.end('followed');
        return;
      }
      res.statusCode = 302;
      res.setHeader('Location', '/elsewhere');
      res.end();
    });
    const error = await deliveryError(
      newExecutor().execute(task(), target(`${server.url}/start`), context()),
    );
    expect(error.retryable).toBe(false);
    expect(error.status).toBe(302);
    expect(server.requests.map((r) => r.url)).toEqual(['/start']);
  });
});

describe('http executor: request failures', () => {
  it('a server that never answers times out after the target timeout, retryable', async () => {
    const server = await startServer(() => {
      // never respond
    });
    const error = await deliveryError(
      newExecutor().execute(task(), target(server.url, { timeoutMs: 200 }), context()),
    );
    expect(error.retryable).toBe(true);
    expect(error.failureCode).toBe('timeout');
    expect(error.status).toBeUndefined();
    // The bound that fired is the target's timeoutMs (got names it), not some other limit.
    expect(error.message).toContain('for 200ms');
  });

  it('a refused connection is retryable', async () => {
    const server = await startServer();
    await server.close();
    servers.splice(servers.indexOf(server), 1);
    const error = await deliveryError(newExecutor().execute(task(), target(server.url), context()));
    expect(error.retryable).toBe(true);
    expect(error.failureCode).toBe('connection');
    expect(error.cause).toBeInstanceOf(Error);
    expect((error.cause as { code?: unknown }).code).toBe('ECONNREFUSED');
  });

  it('an abort through the context signal is retryable', async () => {
    const server = await startServer(() => {
      // never respond
    });
    const controller = new AbortController();
    const received = server.nextRequest();
    const pending = newExecutor().execute(task(), target(server.url), context({ signal: controller.signal }));
    await received;
    controller.abort();
    const error = await deliveryError(pending);
    expect(error.retryable).toBe(true);
    expect(error.failureCode).toBe('aborted');
  });

  it('an already aborted signal sends nothing', async () => {
    const server = await startServer();
    const error = await deliveryError(
      newExecutor().execute(task(), target(server.url), context({ signal: AbortSignal.abort() })),
    );
    expect(error.failureCode).toBe('aborted');
    expect(server.requests).toHaveLength(0);
  });

  it('never puts secrets or target credentials in the error, its message or its cause', async () => {
    const server = await startServer(() => {
      // never respond
    });
    const secret = newSecret();
    const t = target(server.url, {
      timeoutMs: 100,
      secrets: [secret],
      headers: { authorization: 'Bearer s3cr3t' },
    });
    const error = await deliveryError(newExecutor().execute(task(), t, context()));
    const serialized = [error.message, error.stack, JSON.stringify(error), JSON.stringify(error.cause)].join(
      '\n',
    );
    const cause = error.cause as Error;
    const everything = `${serialized}\n${cause.message}\n${cause.stack ?? ''}`;
    expect(everything).not.toContain(secret.slice(6));
    expect(everything).not.toContain('s3cr3t');
  });
});
