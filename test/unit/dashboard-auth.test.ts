import { describe, expect, it } from '@jest/globals';
import { ConfigError } from '../../src/errors.js';
import {
  assertBindAllowed,
  assertDashboardAuth,
  authenticate,
  dashboardAuthFromConfig,
  isAuthorized,
  isLoopbackHost,
  parseAuthorization,
  safeEqual,
  type DashboardCredentials,
} from '../../src/dashboard/auth.js';
import { PLACEHOLDER_SECRETS, isPlaceholderSecret } from '../../src/dashboard/placeholders.js';

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
      expect(() => assertBindAllowed({ token: 'tok_3f9a1c7e5b2d8f40' }, host)).not.toThrow();
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

describe('roles', () => {
  const credentials: DashboardCredentials = {
    username: 'root-ops',
    password: 'legacy operator password',
    token: 'legacy-operator-token-0001',
    users: [
      { username: 'vera', password: 'viewer password 1', role: 'viewer' },
      { username: 'otto', password: 'operator password 2', role: 'operator' },
    ],
    tokens: [
      { token: 'viewer-token-00000001', role: 'viewer' },
      { token: 'operator-token-000002', role: 'operator' },
    ],
  };
  const as = (header: string) => authenticate(credentials, parseAuthorization(header));

  it('gives each login and token its role; the single pair and token are operators', () => {
    expect(as(basic('root-ops', 'legacy operator password'))).toBe('operator');
    expect(as('Bearer legacy-operator-token-0001')).toBe('operator');
    expect(as(basic('vera', 'viewer password 1'))).toBe('viewer');
    expect(as(basic('otto', 'operator password 2'))).toBe('operator');
    expect(as('Bearer viewer-token-00000001')).toBe('viewer');
    expect(as('Bearer operator-token-000002')).toBe('operator');
    // A token as the Basic password, with any user name (a browser's login).
    expect(as(basic('anyone', 'viewer-token-00000001'))).toBe('viewer');
    expect(as(basic('vera', 'operator-token-000002'))).toBe('operator');
  });

  it("refuses another login's password, a password as a bearer token, and near misses", () => {
    expect(as(basic('vera', 'operator password 2'))).toBeUndefined();
    expect(as(basic('otto', 'viewer password 1'))).toBeUndefined();
    expect(as('Bearer viewer password 1')).toBeUndefined();
    expect(as(basic('vera', 'viewer password 1 '))).toBeUndefined();
    expect(as('Bearer viewer-token-0000000')).toBeUndefined();
    expect(as(basic('', ''))).toBeUndefined();
  });

  it('accepts logins or tokens alone as credentials', () => {
    expect(() =>
      assertDashboardAuth({ users: [{ username: 'v', password: 'p'.repeat(8), role: 'viewer' }] }),
    ).not.toThrow();
    expect(() => assertDashboardAuth({ tokens: [{ token: 't'.repeat(16), role: 'viewer' }] })).not.toThrow();
    expect(() => assertDashboardAuth({ users: [], tokens: [] })).toThrow(ConfigError);
    expect(
      dashboardAuthFromConfig(
        {
          host: '0.0.0.0',
          users: [{ username: 'v', password: 'a real password', role: 'viewer' }],
          tokens: [],
        },
        { insecureLocal: true },
      ),
    ).toEqual({ users: [{ username: 'v', password: 'a real password', role: 'viewer' }] });
  });
});

describe('placeholder secrets', () => {
  it('knows the usual ones, whatever their case and punctuation', () => {
    for (const value of [
      ...PLACEHOLDER_SECRETS,
      'Change_Me',
      'CHANGE ME NOW',
      'changeme123',
      'Password',
      'aaaaaaaaaaaaaaaa',
    ])
      expect({ value, placeholder: isPlaceholderSecret(value) }).toEqual({ value, placeholder: true });
    for (const value of ['correct horse battery staple', 'k3Jd9-qLz0_w8Rt2', 'tok_3f9a1c7e5b2d8f40'])
      expect({ value, placeholder: isPlaceholderSecret(value) }).toEqual({ value, placeholder: false });
  });

  it('stops a dashboard beyond loopback with one, naming the field; on loopback it is allowed', () => {
    const cases: Array<[DashboardCredentials, string]> = [
      [{ username: 'admin', password: 'change-me-now' }, 'dashboard.password'],
      [{ token: 'changeme-changeme' }, 'dashboard.token'],
      [
        {
          token: 'tok_3f9a1c7e5b2d8f40',
          users: [
            { username: 'a', password: 'a real password', role: 'operator' },
            { username: 'b', password: '12345678', role: 'viewer' },
          ],
        },
        'dashboard.users[1].password',
      ],
      [{ tokens: [{ token: 'xxxxxxxxxxxxxxxx', role: 'viewer' }] }, 'dashboard.tokens[0].token'],
    ];
    for (const [credentials, field] of cases) {
      for (const host of ['0.0.0.0', '::', '192.168.1.10', 'dashboard.internal']) {
        let error: unknown;
        try {
          assertBindAllowed(credentials, host);
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(ConfigError);
        expect({ host, field: (error as ConfigError).field }).toEqual({ host, field });
        expect((error as ConfigError).reason).toMatch(/placeholder/);
      }
      for (const host of ['127.0.0.1', 'localhost', '::1'])
        expect(() => assertBindAllowed(credentials, host)).not.toThrow();
    }
  });
});
