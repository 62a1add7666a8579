import { describe, expect, it } from '@jest/globals';
import { ConfigError } from '../../src/errors.js';
import {
  assertBindAllowed,
  assertDashboardAuth,
  dashboardAuthFromConfig,
  isAuthorized,
  isLoopbackHost,
  parseAuthorization,
  safeEqual,
} from '../../src/dashboard/auth.js';

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;

describe('parseAuthorization', () => {
  it('reads Basic and Bearer, schemes in any case', () => {
    expect(parseAuthorization(basic('ops', 'p:a:ss wörd'))).toEqual({
      scheme: 'basic',
      username: 'ops',
      password: 'p:a:ss wörd',
    });
    expect(parseAuthorization(`basic ${Buffer.from('ops:').toString('base64')}`)).toEqual({
      scheme: 'basic',
      username: 'ops',
      password: '',
    });
    expect(parseAuthorization('Bearer abc.DEF-123_~+/=')).toEqual({
      scheme: 'bearer',
      token: 'abc.DEF-123_~+/=',
    });
    expect(parseAuthorization('BEARER tok')).toEqual({ scheme: 'bearer', token: 'tok' });
  });

  it('rejects anything else', () => {
    for (const header of [
      undefined,
      '',
      'Basic',
      'Basic !!!',
      `Basic ${Buffer.from('no-colon').toString('base64')}`,
      'Bearer',
      'Bearer two tokens',
      'Token abc',
      'Digest username="x"',
    ])
      expect(parseAuthorization(header)).toBeUndefined();
  });
});

describe('isAuthorized', () => {
  const both = { username: 'ops', password: 'long enough password', token: 't'.repeat(24) };

  it('accepts a matching Basic pair, a matching bearer token, or the token as Basic password', () => {
    expect(isAuthorized(both, parseAuthorization(basic('ops', 'long enough password')))).toBe(true);
    expect(isAuthorized(both, parseAuthorization(`Bearer ${'t'.repeat(24)}`))).toBe(true);
    expect(isAuthorized(both, parseAuthorization(basic('whoever', 't'.repeat(24))))).toBe(true);
  });

  it('refuses the rest', () => {
    expect(isAuthorized(both, undefined)).toBe(false);
    expect(isAuthorized(both, parseAuthorization(basic('ops', 'wrong')))).toBe(false);
    expect(isAuthorized(both, parseAuthorization(basic('OPS', 'long enough password')))).toBe(false);
    expect(isAuthorized(both, parseAuthorization(basic('ops', 'long enough password ')))).toBe(false);
    expect(isAuthorized(both, parseAuthorization('Bearer nope'))).toBe(false);
    expect(
      isAuthorized({ username: 'ops', password: 'pw-pw-pw-pw' }, parseAuthorization('Bearer pw-pw-pw-pw')),
    ).toBe(false);
    expect(isAuthorized({ token: 't'.repeat(24) }, parseAuthorization(basic('', '')))).toBe(false);
    expect(isAuthorized({}, parseAuthorization(basic('', '')))).toBe(false);
  });

  it('compares by value, whatever the lengths', () => {
    expect(safeEqual('a', 'a')).toBe(true);
    expect(safeEqual('a', 'ab')).toBe(false);
    expect(safeEqual('', '')).toBe(true);
  });
});

describe('dashboard auth from config', () => {
  it('uses configured credentials, with or without --insecure-local', () => {
    const config = { host: '0.0.0.0', username: 'ops', password: 'long enough password' };
    expect(dashboardAuthFromConfig(config, { insecureLocal: false })).toEqual({
      username: 'ops',
      password: 'long enough password',
    });
    expect(dashboardAuthFromConfig({ token: 'x'.repeat(16) }, { insecureLocal: true })).toEqual({
      token: 'x'.repeat(16),
    });
  });

  it('refuses to go without credentials, saying how to set them', () => {
    let error: unknown;
    try {
      dashboardAuthFromConfig({ host: '127.0.0.1' }, { insecureLocal: false });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).field).toBe('dashboard');
    for (const hint of [
      'USER_SYNC_DASHBOARD_USERNAME',
      'USER_SYNC_DASHBOARD_PASSWORD',
      'USER_SYNC_DASHBOARD_TOKEN',
      '--insecure-local',
    ])
      expect((error as ConfigError).reason).toContain(hint);
    expect(() => dashboardAuthFromConfig({ username: 'ops' }, { insecureLocal: false })).toThrow(
      'username and password go together',
    );
  });

  it('allows insecure-local on loopback hosts only', () => {
    for (const host of ['127.0.0.1', 'localhost', '::1', '[::1]', 'LOCALHOST'])
      expect(dashboardAuthFromConfig({ host }, { insecureLocal: true })).toBe('insecure-local');
    expect(dashboardAuthFromConfig({}, { insecureLocal: true })).toBe('insecure-local');
    for (const host of ['0.0.0.0', '::', '192.168.1.10', 'example.com', '127.0.0.2']) {
      expect(isLoopbackHost(host)).toBe(false);
      expect(() => dashboardAuthFromConfig({ host }, { insecureLocal: true })).toThrow(ConfigError);
      expect(() => assertBindAllowed('insecure-local', host)).toThrow(/dashboard\.host.*--insecure-local/);
      expect(() => assertBindAllowed({ token: 'x'.repeat(16) }, host)).not.toThrow();
    }
  });

  it('checks auth handed to the app directly', () => {
    expect(() => assertDashboardAuth({})).toThrow(ConfigError);
    expect(() => assertDashboardAuth({ password: 'only a password' })).toThrow(ConfigError);
    expect(() => assertDashboardAuth({ username: '', password: '' })).toThrow(ConfigError);
    expect(() => assertDashboardAuth('insecure-local')).not.toThrow();
    expect(() => assertDashboardAuth({ token: 'x' })).not.toThrow();
  });
});
