import { describe, expect, it } from '@jest/globals';
import { parseConfig } from '../../src/config/parse.js';
import { newestError, successRate, summarizeTarget } from '../../src/dashboard/targets.js';

describe('summarizeTarget', () => {
  it('shows header names and a secret count, never their values', () => {
    const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
    const config = parseConfig({
      targets: [
        {
          service: 'crm',
          url: 'https://bot:pw-value@crm.example.com/hook?key=key-value',
          headers: { 'x-api-key': 'header-value' },
          secrets: [secret, secret],
          events: ['user.created'],
          rateLimit: { max: 10, duration: '1s' },
        },
        { service: 'cache', url: 'redis://:redis-pw@127.0.0.1:6379/1' },
      ],
    });
    const [crm, cache] = config.targets.map(summarizeTarget);
    expect(crm).toEqual({
      service: 'crm',
      kind: 'http',
      url: 'https://bot:***@crm.example.com/hook?key=***',
      method: 'POST',
      enabled: true,
      events: ['user.created'],
      timeoutMs: 30_000,
      rateLimit: { max: 10, duration: 1_000 },
      coalesce: true,
      headers: ['x-api-key'],
      secrets: 2,
      insecureTransport: false,
    });
    expect(cache).toMatchObject({
      kind: 'redis',
      url: 'redis://:***@127.0.0.1:6379/1',
      keyTemplate: 'user:{id}',
    });
    const text = JSON.stringify([crm, cache]);
    for (const value of ['pw-value', 'key-value', 'header-value', 'whsec_', 'redis-pw'])
      expect(text).not.toContain(value);
  });
});

describe('successRate', () => {
  it('merges the newest finished jobs of both sets and counts them', () => {
    expect(successRate([50, 40, 30], [45, 35], 4)).toEqual({ window: 4, succeeded: 2, failed: 2, rate: 0.5 });
    expect(successRate([50, 40, 30], [45, 35])).toEqual({ window: 5, succeeded: 3, failed: 2, rate: 0.6 });
    expect(successRate([10], [])).toEqual({ window: 1, succeeded: 1, failed: 0, rate: 1 });
    expect(successRate([], [10, 9])).toEqual({ window: 2, succeeded: 0, failed: 2, rate: 0 });
    expect(successRate([], [])).toEqual({ window: 0, succeeded: 0, failed: 0, rate: null });
  });
});

describe('newestError', () => {
  it('picks the latest by time', () => {
    const at = (iso: string, jobId: string) => ({ message: 'x', at: iso, jobId, source: 'failed' as const });
    expect(newestError([])).toBeNull();
    expect(newestError([undefined])).toBeNull();
    expect(
      newestError([
        at('2025-01-01T00:00:00Z', 'a'),
        at('2025-01-02T00:00:00Z', 'b'),
        undefined,
        at('2024-12-31T00:00:00Z', 'c'),
      ])?.jobId,
    ).toBe('b');
  });
});
