import { describe, expect, it } from '@jest/globals';
import { DeliveryError } from '../../src/errors.js';
import { MASK, REDACT_LIMITS, redactError, redactText, redactUrl, redactValue } from '../../src/redact.js';

describe('redactUrl', () => {
  it('masks the password of the user info and keeps the user name', () => {
    expect(redactUrl('redis://:s3cret@cache:6379/2')).toBe('redis://:***@cache:6379/2');
    expect(redactUrl('https://user:secret@api.example.com:8443/hooks/users')).toBe(
      'https://user:***@api.example.com:8443/hooks/users',
    );
  });

  it('masks a user name that stands alone (a token in the user info)', () => {
    expect(redactUrl('http://tok_abcdef@example.com/')).toBe('http://***@example.com/');
  });

  it('masks every query value and drops the fragment', () => {
    expect(redactUrl('rediss://app:s3cret@cache:6380/0?password=s3cret&family=6')).toBe(
      'rediss://app:***@cache:6380/0?password=***&family=***',
    );
    expect(redactUrl('https://api.example.com/hooks?token=abc&x=1#frag')).toBe(
      'https://api.example.com/hooks?token=***&x=***',
    );
  });

  it('leaves a URL without credentials as it was', () => {
    expect(redactUrl('http://127.0.0.1:3000/webhooks')).toBe('http://127.0.0.1:3000/webhooks');
    expect(redactUrl('redis://cache:6379')).toBe('redis://cache:6379');
  });

  it('shows nothing of what does not start with scheme://', () => {
    expect(redactUrl('not a url with secret')).toBe('(unparseable url)');
    expect(redactUrl('svc:secret@api.example.com/x')).toBe('(unparseable url)');
  });
});

describe('redactText', () => {
  it('redacts every URL in a message', () => {
    const text = 'connect ECONNREFUSED redis://u:hunter22@10.0.0.1:6379/0?password=hunter22 (retry)';
    expect(redactText(text)).toBe(
      `connect ECONNREFUSED redis://u:${MASK}@10.0.0.1:6379/0?password=${MASK} (retry)`,
    );
  });

  it('masks the credentials of known URLs when they appear on their own', () => {
    const url = 'redis://:p%40ss-word@cache:6379';
    expect(redactText('WRONGPASS p@ss-word and p%40ss-word', [url])).toBe(`WRONGPASS ${MASK} and ${MASK}`);
  });

  it('leaves text without URLs or known credentials alone', () => {
    expect(redactText('HTTP 503 from orders')).toBe('HTTP 503 from orders');
  });
});

describe('redactUrl on what the URL parser refuses', () => {
  it('masks a scheme:// string by its text, so an error can still say what is wrong with it', () => {
    expect(redactUrl('https://svc:s3cr3t-value@exa mple.com/hooks?token=t0ken-value#x')).toBe(
      'https://svc:***@exa mple.com/hooks?token=***',
    );
    expect(redactUrl('redis://:s3cr3t-value@cache:99999/0?password=s3cr3t-value')).toBe(
      'redis://:***@cache:99999/0?password=***',
    );
    expect(redactUrl('http://t0ken@host:port/')).toBe('http://***@host:port/');
  });

  it('takes the last "@" of the authority, as the parser does', () => {
    expect(redactUrl('https://svc:p@ss@api.example.com/x')).toBe('https://svc:***@api.example.com/x');
  });

  it('changes nothing when applied again', () => {
    for (const url of [
      'https://svc:s3cr3t@api.example.com/x?a=1&b',
      'redis://:pw@cache:6379/0?password=pw',
      'https://svc:s3cr3t@exa mple.com',
      'https://api.example.com',
    ]) {
      const once = redactUrl(url);
      expect(redactUrl(once)).toBe(once);
      expect(redactText(once)).toBe(once);
    }
  });
});

describe('redactValue', () => {
  const secretUrl = 'redis://:s3cr3t-value@cache:6379/0?password=s3cr3t-value';

  it('redacts every string, however deep, and leaves other values alone', () => {
    const value = {
      url: secretUrl,
      n: 3,
      ok: true,
      none: null,
      list: ['plain', `cannot reach ${secretUrl}`],
      nested: { deeper: { error: `GET https://api.example.com/x?token=t0ken-value failed` } },
    };
    expect(redactValue(value)).toEqual({
      url: 'redis://:***@cache:6379/0?password=***',
      n: 3,
      ok: true,
      none: null,
      list: ['plain', 'cannot reach redis://:***@cache:6379/0?password=***'],
      nested: { deeper: { error: 'GET https://api.example.com/x?token=*** failed' } },
    });
  });

  it('never changes the value it is given', () => {
    const value = { url: secretUrl, nested: { url: secretUrl } };
    redactValue(value);
    expect(value).toEqual({ url: secretUrl, nested: { url: secretUrl } });
  });

  it('shows errors as name, message and code, and values with toJSON by what they return', () => {
    const error = Object.assign(new Error(`connect to ${secretUrl} refused`), { code: 'ECONNREFUSED' });
    expect(redactValue({ error, at: new URL(secretUrl) })).toEqual({
      error: {
        name: 'Error',
        message: 'connect to redis://:***@cache:6379/0?password=*** refused',
        code: 'ECONNREFUSED',
      },
      at: 'redis://:***@cache:6379/0?password=***',
    });
    expect(JSON.stringify(redactValue({ buffer: Buffer.from(secretUrl) }))).not.toContain('s3cr3t');
  });

  it('is bounded in depth and breadth, and safe on cycles, never showing what it does not follow', () => {
    let deep: Record<string, unknown> = { url: secretUrl };
    for (let i = 0; i < 20; i++) deep = { deep };
    const cyclic: Record<string, unknown> = { url: secretUrl };
    cyclic.self = cyclic;
    const wide = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, secretUrl]));
    const long = Array.from({ length: 500 }, () => secretUrl);
    const text = JSON.stringify(redactValue({ deep, cyclic, wide, long }));
    expect(text).not.toContain('s3cr3t');
    expect(text).toContain('[nested too deep]');
    expect(text).toContain('[circular]');
    expect(text).toContain(`[${500 - REDACT_LIMITS.entries} more keys]`);
    expect(text).toContain(`[${500 - REDACT_LIMITS.entries} more]`);
  });

  it('keeps a shared (not cyclic) object in each place it appears', () => {
    const shared = { url: secretUrl };
    expect(redactValue({ a: shared, b: shared })).toEqual({
      a: { url: 'redis://:***@cache:6379/0?password=***' },
      b: { url: 'redis://:***@cache:6379/0?password=***' },
    });
  });
});

describe('redactError', () => {
  it('redacts the message and the stack in place, keeping the class and its fields', () => {
    const error = new DeliveryError('GET https://svc:s3cr3t-value@api.example.com/x failed', {
      retryable: true,
      retryAfterMs: 500,
    });
    const redacted = redactError(error);
    expect(redacted).toBe(error);
    expect(redacted).toBeInstanceOf(DeliveryError);
    expect(error.retryAfterMs).toBe(500);
    expect(error.message).toBe('GET https://svc:***@api.example.com/x failed');
    expect(error.stack).toContain('GET https://svc:***@api.example.com/x failed');
    expect(error.stack).not.toContain('s3cr3t');
  });

  it('masks the credentials of known URLs where they stand alone', () => {
    const url = 'https://api.example.com/hook?token=t0ken-value';
    const error = redactError(new Error('no route for /hook?token=t0ken-value'), [url]);
    expect(error.message).toBe(`no route for /hook?token=${MASK}`);
  });

  it('handles an error whose message is a getter (DOMException)', () => {
    const error = new DOMException('aborted at https://svc:s3cr3t-value@api.example.com/', 'AbortError');
    const redacted = redactError(error);
    expect(redacted.message).toBe('aborted at https://svc:***@api.example.com/');
    expect(redacted.name).toBe('AbortError');
  });

  it('replaces an error it cannot change (frozen) by a redacted copy', () => {
    const error = Object.freeze(new Error('at https://svc:s3cr3t-value@api.example.com/'));
    const redacted = redactError(error);
    expect(redacted).not.toBe(error);
    expect(`${redacted.message}\n${redacted.stack ?? ''}`).not.toContain('s3cr3t');
  });
});
