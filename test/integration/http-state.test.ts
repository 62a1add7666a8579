import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Webhook } from 'standardwebhooks';
import type { TargetConfig } from '../../src/config/schema.js';
import { DeliveryError } from '../../src/errors.js';
import { createLogger } from '../../src/logger.js';
import type { ExecutionContext, Executor } from '../../src/executors/executor.js';
import { createHttpExecutor } from '../../src/executors/http/executor.js';
import { stateSecret } from '../../src/executors/http/signing.js';
import { USER_AGENT } from '../../src/executors/http/wire.js';
import {
  startHttpTarget,
  type HttpTarget,
  type ReceivedRequest,
  type Responder,
} from '../helpers/http-target.js';
import { deliveryTask, targetConfig } from '../helpers/fixtures.js';

const logger = createLogger({ silent: true });
const servers: HttpTarget[] = [];
const executors: Executor[] = [];

afterEach(async () => {
  await Promise.all(executors.splice(0).map(async (e) => e.close?.()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function server(respond?: Responder): Promise<HttpTarget & { origin: string }> {
  const started = await startHttpTarget(respond);
  servers.push(started);
  return Object.assign(started, { origin: new URL(started.url).origin });
}

function reader(): Required<Pick<Executor, 'readState'>> {
  const executor = createHttpExecutor();
  executors.push(executor);
  if (!executor.readState) throw new Error('the http executor has no readState');
  return { readState: executor.readState.bind(executor) };
}

const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

/** The `crm` http target with the given `state` setting. */
const target = (state: TargetConfig['state'], overrides: Partial<TargetConfig> = {}): TargetConfig =>
  targetConfig({ service: 'crm', state, ...overrides });

const single = (url: string, concurrency = 16) => ({ url, batchSize: 500, concurrency });
const bulk = (bulkUrl: string, batchSize = 500) => ({ bulkUrl, batchSize, concurrency: 16 });

function context(overrides: Partial<ExecutionContext> = {}): ExecutionContext {
  return { logger, signal: new AbortController().signal, now: () => Date.now(), ...overrides };
}

function json(res: ServerResponse, status: number, value: unknown): void {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(value));
}

async function failure(promise: Promise<unknown>): Promise<DeliveryError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(DeliveryError);
    return error as DeliveryError;
  }
  throw new Error('expected the read to fail');
}

/** The version the test servers hold for `u<n>`: none for every seventh user, else n + 1. */
const heldFor = (id: string): number | null => {
  const n = Number(id.slice(1));
  return n % 7 === 0 ? null : n + 1;
};

const ids = (count: number) => Array.from({ length: count }, (_, i) => `u${i}`);

function signatureHeaders(request: ReceivedRequest): Record<string, string> {
  return {
    'webhook-id': String(request.headers['webhook-id']),
    'webhook-timestamp': String(request.headers['webhook-timestamp']),
    'webhook-signature': String(request.headers['webhook-signature']),
  };
}

describe('http readState, bulk', () => {
  it('reads 1,200 ids in 3 POSTs of at most 500, with nulls, an entry for every id', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const srv = await server(async (req, res) => {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 30));
      const asked = (JSON.parse(req.body) as { ids: string[] }).ids;
      const versions = Object.fromEntries(asked.map((id) => [id, heldFor(id)]));
      inFlight -= 1;
      json(res, 200, { versions });
    });
    const wanted = ids(1200);
    const result = await reader().readState(
      wanted,
      target(bulk(`${srv.origin}/state/bulk`, 500), { headers: { 'x-api-key': 'k-123' } }),
      context(),
    );

    expect(srv.requests).toHaveLength(3);
    const sent = srv.requests.map((r) => (JSON.parse(r.body) as { ids: string[] }).ids);
    expect(sent.map((batch) => batch.length).sort()).toEqual([200, 500, 500]);
    expect(sent.flat().sort()).toEqual([...wanted].sort());
    expect(maxInFlight).toBeLessThanOrEqual(2);
    for (const request of srv.requests) {
      expect(request.method).toBe('POST');
      expect(request.url).toBe('/state/bulk');
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.headers.accept).toBe('application/json');
      expect(request.headers['user-agent']).toBe(USER_AGENT);
      expect(request.headers['x-api-key']).toBe('k-123');
      expect(request.headers.connection).toBe('keep-alive');
      expect(request.headers['webhook-signature']).toBeUndefined();
    }

    expect(result.size).toBe(1200);
    expect([...result.keys()]).toEqual(wanted);
    for (const id of wanted) expect(result.get(id)).toBe(heldFor(id));
    expect([...result.values()].filter((v) => v === null)).toHaveLength(Math.ceil(1200 / 7));
  });

  it('asks once per distinct id and answers every id', async () => {
    const srv = await server((req, res) => {
      const asked = (JSON.parse(req.body) as { ids: string[] }).ids;
      json(res, 200, { versions: Object.fromEntries(asked.map((id) => [id, 4])) });
    });
    const result = await reader().readState(['a', 'b', 'a'], target(bulk(`${srv.origin}/bulk`)), context());
    expect(JSON.parse(srv.requests[0]?.body ?? '')).toEqual({ ids: ['a', 'b'] });
    expect(result).toEqual(
      new Map([
        ['a', 4],
        ['b', 4],
      ]),
    );
  });

  it('an id left out of the answer fails the read, naming it', async () => {
    const srv = await server((req, res) => {
      const asked = (JSON.parse(req.body) as { ids: string[] }).ids;
      json(res, 200, {
        versions: Object.fromEntries(asked.filter((id) => id !== 'u3').map((id) => [id, 1])),
      });
    });
    const error = await failure(reader().readState(ids(10), target(bulk(`${srv.origin}/bulk`)), context()));
    expect(error.retryable).toBe(true);
    expect(error.failureCode).toBe('state_unavailable');
    expect(error.message).toContain('crm');
    expect(error.message).toContain('"u3"');
  });

  it('a version that is not a non-negative integer or null fails the read, naming the id', async () => {
    const srv = await server((_req, res) => json(res, 200, { versions: { u0: 1, u1: '2' } }));
    const error = await failure(
      reader().readState(['u0', 'u1'], target(bulk(`${srv.origin}/bulk`)), context()),
    );
    expect(error.failureCode).toBe('state_unavailable');
    expect(error.message).toContain('"u1"');
  });

  it('a 500 fails the read', async () => {
    const srv = await server((_req, res) => {
      res.statusCode = 500;
      res.end('boom');
    });
    const error = await failure(reader().readState(ids(3), target(bulk(`${srv.origin}/bulk`)), context()));
    expect(error.retryable).toBe(true);
    expect(error.failureCode).toBe('state_unavailable');
    expect(error.status).toBe(500);
    expect(error.message).toMatch(/crm.*HTTP 500/);
    expect(error.excerpt).toBe('boom');
  });

  it('a body that is not JSON fails the read', async () => {
    const srv = await server((_req, res) => res.end('<html>ok</html>'));
    const error = await failure(reader().readState(ids(3), target(bulk(`${srv.origin}/bulk`)), context()));
    expect(error.failureCode).toBe('state_unavailable');
    expect(error.message).toContain('not JSON');
  });

  it('a failed batch stops the read: no further batches are asked for', async () => {
    const srv = await server((_req, res) => {
      res.statusCode = 503;
      res.end();
    });
    await failure(reader().readState(ids(5000), target(bulk(`${srv.origin}/bulk`, 100)), context()));
    expect(srv.requests.length).toBeLessThanOrEqual(2);
  });

  it('signs the POST with state keys, so the receiver can verify it with standardwebhooks', async () => {
    const srv = await server((req, res) => {
      const asked = (JSON.parse(req.body) as { ids: string[] }).ids;
      json(res, 200, { versions: Object.fromEntries(asked.map((id) => [id, 1])) });
    });
    const [oldSecret, currentSecret] = [newSecret(), newSecret()];
    // A clock fixed at a real time: the timestamp is the context's, and standardwebhooks still
    // finds it within its tolerance.
    const now = Date.now();
    await reader().readState(
      ['u1', 'u2'],
      target(bulk(`${srv.origin}/bulk`), { secrets: [oldSecret, currentSecret] }),
      context({ now: () => now }),
    );
    const [request] = srv.requests;
    if (!request) throw new Error('no request');
    expect(String(request.headers['webhook-id'])).toMatch(/^state\.[0-9a-f]+$/);
    expect(request.headers['webhook-timestamp']).toBe(String(Math.floor(now / 1000)));
    // Signed once per delivery secret, with the state secret derived from it: a receiver holding
    // either verifies it, and never with a delivery secret (a state request is not an event).
    expect(new Webhook(stateSecret(oldSecret)).verify(request.body, signatureHeaders(request))).toEqual({
      ids: ['u1', 'u2'],
    });
    expect(() =>
      new Webhook(stateSecret(currentSecret)).verify(request.body, signatureHeaders(request)),
    ).not.toThrow();
    for (const secret of [oldSecret, currentSecret, newSecret()])
      expect(() => new Webhook(secret).verify(request.body, signatureHeaders(request))).toThrow();
  });
});

describe('http readState, single', () => {
  it('reads 50 ids with 50 GETs, never more than `concurrency` in flight, 404 as null', async () => {
    const concurrency = 5;
    let inFlight = 0;
    let maxInFlight = 0;
    const srv = await server(async (req, res) => {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 15));
      inFlight -= 1;
      const id = decodeURIComponent(req.url.split('/')[2] ?? '');
      const held = heldFor(id);
      if (held === null) json(res, 404, { error: 'no such user' });
      else json(res, 200, { version: held });
    });
    const wanted = ids(50);
    const result = await reader().readState(
      wanted,
      target(single(`${srv.origin}/users/{id}/version`, concurrency), {
        headers: { authorization: 'Bearer t' },
      }),
      context(),
    );

    expect(srv.requests).toHaveLength(50);
    expect(srv.requests.map((r) => r.url).sort()).toEqual(wanted.map((id) => `/users/${id}/version`).sort());
    expect(maxInFlight).toBeLessThanOrEqual(concurrency);
    expect(maxInFlight).toBeGreaterThan(1);
    for (const request of srv.requests) {
      expect(request.method).toBe('GET');
      expect(request.body).toBe('');
      expect(request.headers.accept).toBe('application/json');
      expect(request.headers['user-agent']).toBe(USER_AGENT);
      expect(request.headers.authorization).toBe('Bearer t');
      expect(request.headers['content-type']).toBeUndefined();
    }
    expect([...result.keys()]).toEqual(wanted);
    for (const id of wanted) expect(result.get(id)).toBe(heldFor(id));
    expect(result.get('u0')).toBeNull();
    expect(result.get('u7')).toBeNull();
    expect(result.get('u8')).toBe(9);
  });

  it('percent-encodes the id into the URL', async () => {
    const srv = await server((_req, res) => json(res, 200, { version: 1 }));
    const result = await reader().readState(
      ['a/b?c#d'],
      target(single(`${srv.origin}/users/{id}`)),
      context(),
    );
    expect(srv.requests[0]?.url).toBe('/users/a%2Fb%3Fc%23d');
    expect(result.get('a/b?c#d')).toBe(1);
  });

  it('a 500 for one user fails the read, naming the user', async () => {
    const srv = await server((req, res) => {
      if (req.url === '/users/u4') {
        res.statusCode = 500;
        res.end('nope');
      } else json(res, 200, { version: 1 });
    });
    const error = await failure(
      reader().readState(ids(10), target(single(`${srv.origin}/users/{id}`)), context()),
    );
    expect(error.retryable).toBe(true);
    expect(error.failureCode).toBe('state_unavailable');
    expect(error.status).toBe(500);
    expect(error.message).toMatch(/crm.*HTTP 500.*"u4"/);
  });

  it.each([
    ['not JSON', 'hello'],
    ['no version', '{"v":1}'],
    ['a negative version', '{"version":-1}'],
    ['a string version', '{"version":"3"}'],
    ['a null version', '{"version":null}'],
  ])('a 200 with %s fails the read', async (_what, body) => {
    const srv = await server((_req, res) => res.end(body));
    const error = await failure(
      reader().readState(['u1'], target(single(`${srv.origin}/users/{id}`)), context()),
    );
    expect(error.failureCode).toBe('state_unavailable');
    expect(error.message).toContain('invalid answer');
    expect(error.message).toContain('"u1"');
  });

  it('a redirect is not followed and fails the read', async () => {
    const elsewhere = await server((_req, res) => json(res, 200, { version: 1 }));
    const srv = await server((_req, res) => {
      res.statusCode = 302;
      res.setHeader('location', `${elsewhere.origin}/users/u1`);
      res.end();
    });
    const error = await failure(
      reader().readState(['u1'], target(single(`${srv.origin}/users/{id}`)), context()),
    );
    expect(error.status).toBe(302);
    expect(elsewhere.requests).toHaveLength(0);
  });

  it('signs each GET over the empty body with the state key, verifiable with standardwebhooks', async () => {
    const srv = await server((_req, res) => json(res, 200, { version: 2 }));
    const secret = newSecret();
    await reader().readState(
      ['u1', 'u2'],
      target(single(`${srv.origin}/users/{id}`), { secrets: [secret] }),
      context(),
    );
    expect(srv.requests).toHaveLength(2);
    const msgIds = new Set<string>();
    for (const request of srv.requests) {
      expect(request.body).toBe('');
      msgIds.add(String(request.headers['webhook-id']));
      expect(() => new Webhook(stateSecret(secret)).verify('', signatureHeaders(request))).not.toThrow();
      expect(() => new Webhook(secret).verify('', signatureHeaders(request))).toThrow();
      expect(() => new Webhook(newSecret()).verify('', signatureHeaders(request))).toThrow();
    }
    expect(msgIds.size).toBe(2);
    for (const msgId of msgIds) expect(msgId).toMatch(/^state\./);
  });

  it('sends no signature when the target has no secrets', async () => {
    const srv = await server((_req, res) => json(res, 200, { version: 2 }));
    await reader().readState(['u1'], target(single(`${srv.origin}/users/{id}`)), context());
    expect(srv.requests[0]?.headers['webhook-signature']).toBeUndefined();
    expect(String(srv.requests[0]?.headers['webhook-id'])).toMatch(/^state\./);
  });
});

describe('http readState: state requests never pass for deliveries', () => {
  /** One receiver for everything: deliveries at /hook, single state at /users/<id>, bulk at /bulk. */
  async function receiver() {
    return server((req, res) => {
      if (req.url === '/bulk') {
        const asked = (JSON.parse(req.body) as { ids: string[] }).ids;
        json(res, 200, { versions: Object.fromEntries(asked.map((id) => [id, 1])) });
      } else if (req.url.startsWith('/users/')) json(res, 200, { version: 1 });
      else json(res, 200, { ok: true });
    });
  }

  const verifies = (secret: string, request: ReceivedRequest): boolean => {
    try {
      new Webhook(secret).verify(request.body, signatureHeaders(request));
      return true;
    } catch {
      return false;
    }
  };

  it('a captured GET or POST state request verifies with the state secret only; deliveries with the delivery secret only', async () => {
    const recv = await receiver();
    const secret = newSecret();
    const executor = createHttpExecutor();
    executors.push(executor);
    const single = target(
      { url: `${recv.origin}/users/{id}`, batchSize: 500, concurrency: 16 },
      { url: `${recv.origin}/hook`, secrets: [secret] },
    );
    const bulkTarget = target(
      { bulkUrl: `${recv.origin}/bulk`, batchSize: 500, concurrency: 16 },
      { url: `${recv.origin}/hook`, secrets: [secret] },
    );
    await executor.execute(deliveryTask(), single, context());
    await executor.readState!(['u1'], single, context());
    await executor.readState!(['u1', 'u2'], bulkTarget, context());

    const [delivery, get, post] = recv.requests;
    if (!delivery || !get || !post) throw new Error('missing requests');
    expect([delivery.method, get.method, post.method]).toEqual(['POST', 'GET', 'POST']);
    expect(verifies(secret, delivery)).toBe(true);
    expect(verifies(stateSecret(secret), delivery)).toBe(false);
    for (const request of [get, post]) {
      expect(verifies(secret, request)).toBe(false);
      expect(verifies(stateSecret(secret), request)).toBe(true);
    }
  });

  it('signs with state.secrets when given: not with the delivery secret, not with the derived one', async () => {
    const recv = await receiver();
    const [secret, own] = [newSecret(), newSecret()];
    await reader().readState(
      ['u1'],
      target(
        { bulkUrl: `${recv.origin}/bulk`, batchSize: 500, concurrency: 16, secrets: [own] },
        { secrets: [secret] },
      ),
      context(),
    );
    const [request] = recv.requests;
    if (!request) throw new Error('no request');
    expect(verifies(own, request)).toBe(true);
    expect(verifies(secret, request)).toBe(false);
    expect(verifies(stateSecret(secret), request)).toBe(false);
  });
});

describe('http readState, failures', () => {
  it('a server that is down fails the read on the refused connection', async () => {
    const srv = await server();
    await srv.close();
    servers.splice(servers.indexOf(srv), 1);
    for (const state of [single(`${srv.origin}/users/{id}`), bulk(`${srv.origin}/bulk`)]) {
      const error = await failure(reader().readState(ids(20), target(state), context()));
      expect(error.retryable).toBe(true);
      expect(error.failureCode).toBe('state_unavailable');
      expect(error.message).toMatch(/crm.*connection/);
      expect((error.cause as { code?: unknown }).code).toBe('ECONNREFUSED');
    }
  });

  it('a target that does not answer fails the read after timeoutMs', async () => {
    const srv = await server(() => {
      // never respond
    });
    const error = await failure(
      reader().readState(['u1'], target(single(`${srv.origin}/users/{id}`), { timeoutMs: 150 }), context()),
    );
    expect(error.failureCode).toBe('state_unavailable');
    expect(error.message).toContain('timeout');
    // The bound that fired is the target's timeoutMs (got names it), not some other limit.
    expect(error.message).toContain('for 150ms');
  });

  it('an abort through the context signal fails the read', async () => {
    const srv = await server(() => {
      // never respond
    });
    const controller = new AbortController();
    const pending = reader().readState(
      ids(3),
      target(bulk(`${srv.origin}/bulk`)),
      context({ signal: controller.signal }),
    );
    setTimeout(() => controller.abort(), 50);
    const error = await failure(pending);
    expect(error.failureCode).toBe('state_unavailable');
  });

  it('never puts secrets or credentials in the error, its message or its cause', async () => {
    const srv = await server(() => {
      // never respond
    });
    const secret = newSecret();
    for (const state of [single(`${srv.origin}/users/{id}`), bulk(`${srv.origin}/bulk`)]) {
      const error = await failure(
        reader().readState(
          ['u1'],
          target(state, { timeoutMs: 100, secrets: [secret], headers: { authorization: 'Bearer s3cr3t' } }),
          context(),
        ),
      );
      const cause = error.cause as Error;
      const everything = [
        error.message,
        error.stack,
        JSON.stringify(error),
        JSON.stringify(cause),
        cause.message,
        cause.stack,
      ].join('\n');
      expect(everything).not.toContain(secret.slice(6));
      expect(everything).not.toContain('s3cr3t');
    }
  });

  it('a target without a state setting cannot be read, and nothing is sent', async () => {
    const srv = await server();
    const error = await failure(reader().readState(['u1'], target(undefined, { url: srv.url }), context()));
    expect(error.message).toMatch(/crm.*no state setting/);
    expect(error.retryable).toBe(false);
    expect(srv.requests).toHaveLength(0);
  });

  it('no ids: an empty Map and no request', async () => {
    const srv = await server();
    await expect(reader().readState([], target(bulk(`${srv.origin}/bulk`)), context())).resolves.toEqual(
      new Map(),
    );
    await expect(reader().readState([], target(single(`${srv.origin}/u/{id}`)), context())).resolves.toEqual(
      new Map(),
    );
    expect(srv.requests).toHaveLength(0);
  });
});
