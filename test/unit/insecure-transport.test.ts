import { describe, expect, it } from '@jest/globals';
import { parseConfig } from '../../src/config/parse.js';
import { insecureUrls, isLoopbackHostname, targetUrls } from '../../src/config/targets.js';
import { summarizeTarget } from '../../src/dashboard/targets.js';
import { targetConfig } from '../helpers/fixtures.js';

describe('isLoopbackHostname', () => {
  it.each([
    'localhost',
    'LOCALHOST',
    '127.0.0.1',
    '127.1.2.3',
    '127.255.255.254',
    '[::1]',
    '[::ffff:7f00:1]',
  ])('%s is loopback', (host) => expect(isLoopbackHostname(host)).toBe(true));

  it.each([
    '10.0.0.1',
    '128.0.0.1',
    '0.0.0.0',
    'example.com',
    'localhost.example.com',
    '127.0.0.1.nip.io',
    '[::2]',
  ])('%s is not', (host) => expect(isLoopbackHostname(host)).toBe(false));

  it('sees through the forms the URL parser normalises', () => {
    for (const url of ['http://127.1/', 'http://0x7f.1/', 'http://[0:0:0:0:0:0:0:1]/', 'http://2130706433/'])
      expect(isLoopbackHostname(new URL(url).hostname)).toBe(true);
  });
});

describe('insecureUrls', () => {
  it('lists the plain http URLs of an http target whose host is not loopback', () => {
    const target = targetConfig({
      url: 'http://orders.internal:8080/hooks',
      state: { url: 'http://10.0.0.7/users/{id}', batchSize: 500, concurrency: 16 },
    });
    expect(insecureUrls(target)).toEqual(['http://orders.internal:8080/hooks', 'http://10.0.0.7/users/{id}']);
  });

  it('is empty for https, loopback, other kinds, and a target marked allowInsecureHttp', () => {
    expect(insecureUrls(targetConfig({ url: 'https://orders.example.com/hooks' }))).toEqual([]);
    expect(insecureUrls(targetConfig({ url: 'http://127.0.0.1:4001/hooks' }))).toEqual([]);
    expect(insecureUrls(targetConfig({ url: 'http://localhost:4001/hooks' }))).toEqual([]);
    expect(insecureUrls(targetConfig({ url: 'http://[::1]:4001/hooks' }))).toEqual([]);
    expect(insecureUrls(targetConfig({ kind: 'redis', url: 'redis://cache.internal:6379' }))).toEqual([]);
    expect(
      insecureUrls(targetConfig({ url: 'http://orders.internal/hooks', allowInsecureHttp: true })),
    ).toEqual([]);
  });
});

describe('targetUrls', () => {
  it('lists url, state.url and state.bulkUrl, whichever are set', () => {
    expect(targetUrls(targetConfig({ url: 'https://a/x' }))).toEqual(['https://a/x']);
    expect(
      targetUrls(
        targetConfig({ url: 'https://a/x', state: { bulkUrl: 'https://a/s', batchSize: 1, concurrency: 1 } }),
      ),
    ).toEqual(['https://a/x', 'https://a/s']);
  });
});

describe('summarizeTarget: insecureTransport', () => {
  it('says which targets send user data over plain http to a host that is not loopback', () => {
    const config = parseConfig(
      {
        targets: [
          { service: 'public', url: 'http://orders.example.com/hooks' },
          { service: 'private', url: 'http://orders.internal/hooks', allowInsecureHttp: true },
          { service: 'local', url: 'http://127.0.0.1:4001/hooks' },
          { service: 'tls', url: 'https://orders.example.com/hooks' },
          { service: 'cache', url: 'redis://cache.internal:6379' },
        ],
      },
      { env: {} },
    );
    expect(
      Object.fromEntries(config.targets.map((t) => [t.service, summarizeTarget(t).insecureTransport])),
    ).toEqual({
      public: true,
      private: false,
      local: false,
      tls: false,
      cache: false,
    });
  });
});
