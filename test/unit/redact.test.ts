import { describe, expect, it } from '@jest/globals';
import { MASK, redactText, redactUrl } from '../../src/redact.js';

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

  it('shows nothing of what it cannot parse', () => {
    expect(redactUrl('not a url with secret')).toBe('(unparseable url)');
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
