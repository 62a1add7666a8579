import { describe, expect, it } from '@jest/globals';
import { parseConfig } from '../../src/config/parse.js';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

/** The ConfigError of a dashboard section, or a failure when it parses. */
function dashboardError(dashboard: unknown): ConfigError {
  try {
    parseConfig({ dashboard }, { env: {} });
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

const VIEWER = { username: 'vera', password: 'viewer password', role: 'viewer' };
const TOKEN = { token: 'operator-token-0001', role: 'operator' };

describe('dashboard users and tokens', () => {
  it('keeps logins and tokens with their roles', () => {
    const { dashboard } = parseConfig({ dashboard: { users: [VIEWER], tokens: [TOKEN] } }, { env: {} });
    expect(dashboard.users).toEqual([VIEWER]);
    expect(dashboard.tokens).toEqual([TOKEN]);
  });

  it.each([
    [
      'a short password',
      { users: [{ ...VIEWER, password: 'short' }] },
      'dashboard.users[0].password',
      'must be at least 8 characters',
    ],
    [
      'a missing password',
      { users: [{ username: 'v', role: 'viewer' }] },
      'dashboard.users[0].password',
      'is required',
    ],
    [
      'an empty username',
      { users: [{ ...VIEWER, username: '' }] },
      'dashboard.users[0].username',
      'must not be empty',
    ],
    [
      'an unknown role',
      { users: [{ ...VIEWER, role: 'admin' }] },
      'dashboard.users[0].role',
      'must be "viewer" or "operator"',
    ],
    ['a missing role', { tokens: [{ token: TOKEN.token }] }, 'dashboard.tokens[0].role', 'is required'],
    [
      'a short token',
      { tokens: [{ ...TOKEN, token: 'short' }] },
      'dashboard.tokens[0].token',
      'must be at least 16 characters',
    ],
    [
      'a token of the wrong type',
      { tokens: [{ ...TOKEN, token: 12 }] },
      'dashboard.tokens[0].token',
      'must be a string',
    ],
    [
      'users not an array',
      { users: VIEWER },
      'dashboard.users',
      'must be an array of { username, password, role }',
    ],
    ['tokens not an array', { tokens: 'x' }, 'dashboard.tokens', 'must be an array of { token, role }'],
    [
      'an unknown field',
      { users: [{ ...VIEWER, admin: true }] },
      'dashboard.users[0].admin',
      'is not a known field',
    ],
    [
      'a user name used twice',
      { users: [VIEWER, { ...VIEWER, password: 'other password', role: 'operator' }] },
      'dashboard.users[1].username',
      'is already used by dashboard.users[0]',
    ],
    [
      'a user name of the single login',
      { username: 'vera', password: 'another password', users: [VIEWER] },
      'dashboard.users[0].username',
      'is already used by dashboard.username',
    ],
    [
      'a token used twice',
      { token: TOKEN.token, tokens: [{ ...TOKEN, role: 'viewer' }] },
      'dashboard.tokens[0].token',
      'is the same as dashboard.token',
    ],
  ])('refuses %s, naming the field', (_name, dashboard, field, reason) => {
    const error = dashboardError(dashboard);
    expect({ field: error.field, reason: error.reason }).toEqual({ field, reason });
    expect(error.message).not.toContain(TOKEN.token);
  });

  it('keeps the environment variables of the single login', () => {
    const config = loadConfig({
      file: '/nonexistent/user-sync.config.json',
      requireFile: false,
      env: {
        USER_SYNC_DASHBOARD_USERNAME: 'ops',
        USER_SYNC_DASHBOARD_PASSWORD: 'a long password',
        USER_SYNC_DASHBOARD_TOKEN: 'a-token-of-16-chars',
      },
      overrides: { dashboard: { users: [VIEWER as { username: string; password: string; role: 'viewer' }] } },
    });
    expect(config.dashboard).toMatchObject({
      username: 'ops',
      password: 'a long password',
      token: 'a-token-of-16-chars',
      users: [VIEWER],
    });
  });
});
