import { afterEach, describe, expect, it } from '@jest/globals';
import { startReceiver, verifySignature, type Receiver } from '../../src/demo/receiver.js';
import { signWebhook } from '../../src/index.js';
import { newSecret } from '../helpers/harness.js';

interface Delivery {
  id?: string;
  userId?: number;
  type?: string;
  version: number;
  secrets?: string[];
  timestamp?: number;
  signature?: string;
}

describe('demo receiver', () => {
  let receiver: Receiver | undefined;
  const secret = newSecret();
  afterEach(async () => {
    await receiver?.close();
    receiver = undefined;
  });

  async function post(r: Receiver, d: Delivery): Promise<{ status: number; body: Record<string, unknown> }> {
    const id = d.id ?? `evt${d.version}.demo`;
    const timestamp = d.timestamp ?? Math.floor(Date.now() / 1000);
    const body = JSON.stringify({
      task_id: id,
      event_id: id.split('.')[0],
      user_id: d.userId ?? 1,
      username: 'ada',
      event_type: d.type ?? 'user.updated',
      version: d.version,
      data: { user: { id: d.userId ?? 1, username: 'ada', v: d.version }, changes: {} },
      timestamp: new Date().toISOString(),
      source: 'test',
    });
    const response = await fetch(r.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'webhook-id': id,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': d.signature ?? signWebhook(id, timestamp, body, d.secrets ?? [secret]),
      },
      body,
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  it('accepts a valid signature and keeps the user', async () => {
    receiver = await startReceiver({ name: 'orders', secrets: [secret] });
    expect(receiver.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);
    const res = await post(receiver, { version: 1, type: 'user.created' });
    expect(res).toEqual({ status: 200, body: { ok: true } });
    expect(receiver.users.get('1')).toEqual({
      version: 1,
      user: { id: 1, username: 'ada', v: 1 },
      deleted: false,
    });
    expect(receiver).toMatchObject({ received: 1, rejected: 0, applied: 1 });
  });

  it('accepts any one of several signatures (secret rotation)', async () => {
    receiver = await startReceiver({ name: 'orders', secrets: [secret] });
    const res = await post(receiver, { version: 1, secrets: [newSecret(), secret] });
    expect(res.status).toBe(200);
  });

  it('answers 401 to a bad signature, an unknown secret or a stale timestamp, and keeps nothing', async () => {
    receiver = await startReceiver({ name: 'orders', secrets: [secret] });
    expect((await post(receiver, { version: 1, signature: 'v1,AAAA' })).status).toBe(401);
    expect((await post(receiver, { version: 1, secrets: [newSecret()] })).status).toBe(401);
    const old = Math.floor(Date.now() / 1000) - 6 * 60;
    expect((await post(receiver, { version: 1, timestamp: old })).status).toBe(401);
    expect(receiver.users.size).toBe(0);
    expect(receiver.rejected).toBe(3);
  });

  it('ignores an older version, drops duplicates by webhook-id, and keeps deletes as deleted', async () => {
    receiver = await startReceiver({ name: 'orders', secrets: [secret] });
    expect((await post(receiver, { version: 3 })).status).toBe(200);
    expect((await post(receiver, { version: 2 })).status).toBe(200);
    expect(receiver.users.get('1')?.version).toBe(3);
    expect(receiver.stale).toBe(1);
    expect(await post(receiver, { version: 3 })).toEqual({
      status: 200,
      body: { ok: true, duplicate: true },
    });
    expect(receiver.duplicates).toBe(1);
    expect((await post(receiver, { version: 4, type: 'user.deleted' })).status).toBe(200);
    expect(receiver.users.get('1')).toMatchObject({ version: 4, deleted: true });
    expect((await post(receiver, { version: 2, id: 'late.demo' })).status).toBe(200);
    expect(receiver.users.get('1')).toMatchObject({ version: 4, deleted: true });
  });

  it('fails failRate of valid requests with 503, or 422 for permanentFailRate of those', async () => {
    const rolls = [0.1, 0.9, 0.1, 0.01, 0.9];
    receiver = await startReceiver({
      name: 'billing',
      secrets: [secret],
      failRate: 0.2,
      permanentFailRate: 0.03,
      random: () => rolls.shift() ?? 0.9,
    });
    expect((await post(receiver, { version: 1 })).status).toBe(503);
    expect((await post(receiver, { version: 1 })).status).toBe(422);
    // A failed request is not remembered as applied: its retry goes through.
    expect((await post(receiver, { version: 1 })).status).toBe(200);
    expect(receiver.failed).toBe(2);
    expect(receiver.users.get('1')?.version).toBe(1);
  });

  it('answers 400 to missing headers and 405 to other methods', async () => {
    receiver = await startReceiver({ name: 'orders', secrets: [secret] });
    expect((await fetch(receiver.url, { method: 'POST', body: '{}' })).status).toBe(400);
    expect((await fetch(receiver.url)).status).toBe(405);
  });

  it('verifySignature checks each v1 entry against each secret', () => {
    const body = '{"a":1}';
    const header = `v1a,xxx ${signWebhook('m', 10, body, [secret])}`;
    expect(verifySignature('m', 10, body, header, [newSecret(), secret])).toBe(true);
    expect(verifySignature('m', 11, body, header, [secret])).toBe(false);
    expect(verifySignature('m', 10, body, 'garbage', [secret])).toBe(false);
  });
});
