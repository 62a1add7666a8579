/**
 * examples/receiver.mjs as a real process (as compose runs it), facing hostile requests: too
 * large, signed but not JSON, bad timestamps, bad signatures, more distinct ids than it
 * remembers. It answers each as documented and stays up.
 */
import { createHmac, randomBytes } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ROOT, spawnScript, type CliProcess } from '../helpers/cli.js';
import { freePort } from '../helpers/redis-server.js';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const OTHER_SECRET = `whsec_${randomBytes(32).toString('base64')}`;
/** The receiver's default MAX_SEEN_IDS. */
const MAX_SEEN = 10_000;

interface Answer {
  status: number;
  body: string;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

function sign(id: string, timestamp: string, body: Buffer | string, secret = SECRET): string {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest('base64')}`;
}

const now = () => String(Math.floor(Date.now() / 1000));

function event(userId: number, version: number): string {
  return JSON.stringify({
    task_id: `e-${userId}-${version}.orders`,
    event_id: `e-${userId}-${version}`,
    user_id: userId,
    username: `u${userId}`,
    event_type: 'user.updated',
    version,
    data: { user: { id: userId, username: `u${userId}` }, changes: {} },
    timestamp: new Date().toISOString(),
    source: 'test',
  });
}

describe('examples/receiver.mjs against hostile requests', () => {
  let port = 0;
  let receiver: CliProcess;

  /** One request; resolves with the answer, or with status 0 when the connection was cut. */
  function send(
    body: Buffer | string,
    headers: Record<string, string>,
    options: { method?: string; chunked?: boolean } = {},
  ): Promise<Answer> {
    return new Promise((resolve) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          path: '/webhooks/users',
          method: options.method ?? 'POST',
          headers,
          agent,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
          );
          res.on('error', () => resolve({ status: res.statusCode ?? 0, body: '' }));
        },
      );
      req.on('error', () => resolve({ status: 0, body: '' }));
      if (options.chunked) {
        // Written piece by piece without a content-length, stopping once the receiver answered.
        const piece = Buffer.alloc(64 * 1024, 'x');
        let written = 0;
        const more = () => {
          while (written < body.length && !req.destroyed) {
            written += piece.length;
            if (!req.write(piece)) return void req.once('drain', more);
          }
          req.end();
        };
        more();
      } else req.end(body);
    });
  }

  /** A correctly signed request for `body` under `id`. */
  function signed(id: string, body: Buffer | string, timestamp = now()): Promise<Answer> {
    return send(body, {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': timestamp,
      'webhook-signature': sign(id, timestamp, body),
    });
  }

  async function stillUp(): Promise<void> {
    expect(receiver.child.exitCode).toBeNull();
    const id = `alive-${randomBytes(4).toString('hex')}`;
    expect(await signed(id, event(999, Date.now()))).toEqual({ status: 200, body: '{"ok":true}' });
  }

  beforeAll(async () => {
    port = await freePort();
    receiver = spawnScript(path.join(ROOT, 'examples/receiver.mjs'), [], {
      env: { WEBHOOK_SECRET: `${OTHER_SECRET} ${SECRET}`, PORT: String(port) },
    });
    await receiver.waitForOutput(/listening/);
  });

  afterAll(async () => {
    agent.destroy();
    receiver.kill();
    await receiver.exited().catch(() => undefined);
  });

  it('applies a correctly signed event, with either secret while rotating, and drops a replay', async () => {
    expect(await signed('evt-1', event(1, 3))).toEqual({ status: 200, body: '{"ok":true}' });
    await receiver.waitForOutput(/user\.updated user=1 v3/);
    expect(await signed('evt-1', event(1, 3))).toEqual({ status: 200, body: '{"ok":true,"duplicate":true}' });
    const body = event(2, 1);
    const timestamp = now();
    const old = await send(body, {
      'webhook-id': 'evt-2',
      'webhook-timestamp': timestamp,
      'webhook-signature': sign('evt-2', timestamp, body, OTHER_SECRET),
    });
    expect(old.status).toBe(200);
  });

  it('refuses a body over 1 MiB with 413, declared or not, without reading it all', async () => {
    const big = Buffer.alloc(2 * 1024 * 1024, 'x');
    const declared = await signed('big-1', big);
    expect(declared.status).toBe(413);
    const chunked = await send(
      Buffer.alloc(64 * 1024 * 1024),
      { 'webhook-id': 'big-2', 'webhook-timestamp': now(), 'webhook-signature': 'v1,AAAA' },
      { chunked: true },
    );
    // The answer arrives, or the connection is cut while the client still writes: never 200.
    expect([413, 0]).toContain(chunked.status);
    await stillUp();
  });

  it('answers 400 to a correctly signed body that is not JSON, or not an event, and stays up', async () => {
    for (const [i, body] of ['not json {', '[1,2,3]', 'null', '{"user_id":1}', '"text"'].entries()) {
      const answer = await signed(`bad-body-${i}`, body);
      expect(answer.status).toBe(400);
      expect(answer.body).toContain('not a user-sync event');
    }
    await stillUp();
  });

  it('refuses a webhook-timestamp that is not digits (400) or is stale (401)', async () => {
    const body = event(3, 1);
    for (const timestamp of ['1e9', '-1', '0x10', '1700000000.5', 'abc', '9'.repeat(40)]) {
      const answer = await send(body, {
        'webhook-id': 'ts',
        'webhook-timestamp': timestamp,
        'webhook-signature': sign('ts', timestamp, body),
      });
      expect(answer.status).toBe(400);
    }
    const stale = String(Math.floor(Date.now() / 1000) - 3600);
    expect((await signed('stale', body, stale)).status).toBe(401);
    const future = String(Math.floor(Date.now() / 1000) + 3600);
    expect((await signed('future', body, future)).status).toBe(401);
    await stillUp();
  });

  it('refuses bad signatures with 401, and bad requests with 400 or 405', async () => {
    const body = event(4, 1);
    const timestamp = now();
    const base = { 'webhook-id': 'sig', 'webhook-timestamp': timestamp };
    const unknownKey = sign('sig', timestamp, body, `whsec_${randomBytes(32).toString('base64')}`);
    for (const signature of [
      unknownKey,
      'v1,',
      'v1,!!!',
      'v2,' + unknownKey.slice(3),
      sign('sig', timestamp, `${body} `),
    ]) {
      expect((await send(body, { ...base, 'webhook-signature': signature })).status).toBe(401);
    }
    // The right signature after more entries than are looked at.
    const many = [...Array.from({ length: 20 }, () => unknownKey), sign('sig', timestamp, body)].join(' ');
    expect((await send(body, { ...base, 'webhook-signature': many })).status).toBe(401);
    expect((await send(body, { 'webhook-timestamp': timestamp })).status).toBe(400);
    const longId = 'x'.repeat(300);
    expect((await signed(longId, body)).status).toBe(400);
    expect((await send('', {}, { method: 'GET' })).status).toBe(405);
    await stillUp();
  });

  it(`remembers the last ${MAX_SEEN} ids: an old one past the bound is accepted again, a recent one is not`, async () => {
    const ids = Array.from({ length: MAX_SEEN + 50 }, (_, i) => `flood-${i}`);
    const body = event(5, 1);
    const deadline = Date.now() + 60_000;
    for (let i = 0; i < ids.length; i += 32) {
      if (Date.now() > deadline) throw new Error('flood took longer than 60 s');
      const answers = await Promise.all(ids.slice(i, i + 32).map((id) => signed(id, body)));
      for (const answer of answers) expect(answer).toEqual({ status: 200, body: '{"ok":true}' });
    }
    expect(await signed(ids[0] as string, body)).toEqual({ status: 200, body: '{"ok":true}' });
    expect(await signed(ids.at(-1) as string, body)).toEqual({
      status: 200,
      body: '{"ok":true,"duplicate":true}',
    });
    await stillUp();
  }, 90_000);
});
