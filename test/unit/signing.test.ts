import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { Webhook } from 'standardwebhooks';
import {
  STATE_SECRET_CONTEXT,
  signWebhook,
  signatureKey,
  stateSecret,
} from '../../src/executors/http/signing.js';
import * as publicApi from '../../src/index.js';

const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;
const nowSeconds = () => Math.floor(Date.now() / 1000);

const body = JSON.stringify({ task_id: 'evt_1.orders', user_id: 1, username: 'ünïcödé' });

function headersFor(msgId: string, timestamp: number, signature: string) {
  return { 'webhook-id': msgId, 'webhook-timestamp': String(timestamp), 'webhook-signature': signature };
}

describe('signatureKey', () => {
  it('strips whsec_ and base64-decodes', () => {
    const raw = randomBytes(32);
    expect(signatureKey(`whsec_${raw.toString('base64')}`).equals(raw)).toBe(true);
    expect(signatureKey(raw.toString('base64')).equals(raw)).toBe(true);
  });

  it('rejects a secret that is not base64 without repeating it', () => {
    let thrown: unknown;
    try {
      signatureKey('whsec_not base64!');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TypeError);
    expect((thrown as Error).message).toMatch(/base64/);
    expect((thrown as Error).message).not.toContain('not base64!');
  });
});

describe('signWebhook', () => {
  it('matches an independently computed HMAC (known vector)', () => {
    const key = Buffer.alloc(32, 7);
    const secret = `whsec_${key.toString('base64')}`;
    const expected = createHmac('sha256', key)
      .update('msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}')
      .digest('base64');
    expect(signWebhook('msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}', [secret])).toBe(
      `v1,${expected}`,
    );
  });

  it('matches the Standard Webhooks reference test vector', () => {
    // From the standard-webhooks specification's test suite.
    const signature = signWebhook('msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}', [
      'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    ]);
    expect(signature).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('is accepted by the standardwebhooks verifier with one secret', () => {
    const secret = newSecret();
    const ts = nowSeconds();
    const signature = signWebhook('evt_1.orders', ts, body, [secret]);
    expect(signature).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(new Webhook(secret).verify(body, headersFor('evt_1.orders', ts, signature))).toEqual(
      JSON.parse(body),
    );
  });

  it('signs with every secret, in order, so either side of a rotation verifies', () => {
    const [oldSecret, newer] = [newSecret(), newSecret()];
    const ts = nowSeconds();
    const signature = signWebhook('evt_1.orders', ts, body, [oldSecret, newer]);
    const parts = signature.split(' ');
    expect(parts).toHaveLength(2);
    expect(parts[0]).toBe(signWebhook('evt_1.orders', ts, body, [oldSecret]));
    expect(parts[1]).toBe(signWebhook('evt_1.orders', ts, body, [newer]));
    const headers = headersFor('evt_1.orders', ts, signature);
    expect(() => new Webhook(oldSecret).verify(body, headers)).not.toThrow();
    // A receiver that already holds only the new secret accepts too.
    expect(() => new Webhook(newer).verify(body, headers)).not.toThrow();
    expect(() => new Webhook(newSecret()).verify(body, headers)).toThrow();
  });

  it('fails verification for a tampered body, id or timestamp', () => {
    const secret = newSecret();
    const ts = nowSeconds();
    const signature = signWebhook('evt_1.orders', ts, body, [secret]);
    const webhook = new Webhook(secret);
    expect(() =>
      webhook.verify(body.replace('"user_id":1', '"user_id":2'), headersFor('evt_1.orders', ts, signature)),
    ).toThrow();
    expect(() => webhook.verify(body, headersFor('evt_2.orders', ts, signature))).toThrow();
    expect(() => webhook.verify(body, headersFor('evt_1.orders', ts - 1, signature))).toThrow();
  });

  it('returns an empty string without secrets and rejects a fractional timestamp', () => {
    expect(signWebhook('id', 1, body, [])).toBe('');
    expect(() => signWebhook('id', 1.5, body, [newSecret()])).toThrow(RangeError);
  });
});

describe('stateSecret', () => {
  const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;

  it('is whsec_ + base64(HMAC-SHA256(the secret key, "user-sync state request v1")), as documented', () => {
    expect(STATE_SECRET_CONTEXT).toBe('user-sync state request v1');
    const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
    const expected = createHmac('sha256', key).update('user-sync state request v1', 'utf8').digest('base64');
    expect(stateSecret(secret)).toBe(`whsec_${expected}`);
    // A fixed vector, so that receivers in other languages can check their own derivation.
    expect(stateSecret(secret)).toBe('whsec_Bp/72CtnjSjKqD76kJyPvJSrMr4mApoM76iWysqaubY=');
  });

  it('is a valid Standard Webhooks secret, different from the one it comes from', () => {
    const derived = stateSecret(secret);
    expect(derived).not.toBe(secret);
    expect(signatureKey(derived)).toHaveLength(32);
    const now = Math.floor(Date.now() / 1000);
    const headers = {
      'webhook-id': 'state.abc',
      'webhook-timestamp': String(now),
      'webhook-signature': signWebhook('state.abc', now, '', [derived]),
    };
    expect(() => new Webhook(derived).verify('', headers)).not.toThrow();
    expect(() => new Webhook(secret).verify('', headers)).toThrow();
  });

  it('is exported from the package, for receivers', () => {
    expect(publicApi.stateSecret).toBe(stateSecret);
  });
});
