/**
 * `user-sync dashboard` as users start it (the built CLI): it will not serve beyond loopback with
 * a placeholder password, whatever the compose file or a hurried operator put there.
 */
import { beforeAll, describe, expect, it } from '@jest/globals';
import { requireBuild, runCli, spawnCli } from '../helpers/cli.js';
import { TEST_REDIS_URL, uniquePrefix } from '../helpers/redis.js';

const env = (extra: Record<string, string>) => ({
  REDIS_URL: TEST_REDIS_URL,
  USER_SYNC_PREFIX: uniquePrefix('dash-cli'),
  USER_SYNC_CONFIG: undefined,
  USER_SYNC_DASHBOARD_USERNAME: undefined,
  USER_SYNC_DASHBOARD_PASSWORD: undefined,
  USER_SYNC_DASHBOARD_TOKEN: undefined,
  ...extra,
});

describe('user-sync dashboard', () => {
  beforeAll(() => requireBuild());

  it('refuses to listen beyond loopback with a placeholder password or token, naming the field', async () => {
    for (const [extra, field] of [
      [
        { USER_SYNC_DASHBOARD_USERNAME: 'admin', USER_SYNC_DASHBOARD_PASSWORD: 'change-me-now' },
        'dashboard.password',
      ],
      [
        { USER_SYNC_DASHBOARD_USERNAME: 'admin', USER_SYNC_DASHBOARD_PASSWORD: 'Password' + '123' },
        'dashboard.password',
      ],
      [{ USER_SYNC_DASHBOARD_TOKEN: 'changeme-changeme-changeme' }, 'dashboard.token'],
    ] as const) {
      const result = await runCli(['dashboard', '--host', '0.0.0.0', '--port', '0'], { env: env(extra) });
      expect({ field, code: result.code }).toEqual({ field, code: 1 });
      expect(result.stderr).toContain(`${field}: is a well-known placeholder`);
      expect(result.stderr).toMatch(/USER_SYNC_DASHBOARD_(PASSWORD|TOKEN)/);
      expect(result.stdout).not.toContain('Dashboard:');
    }
  });

  it('serves on loopback with the same password, for a local trial', async () => {
    const dashboard = spawnCli(['dashboard', '--host', '127.0.0.1', '--port', '0'], {
      env: env({ USER_SYNC_DASHBOARD_USERNAME: 'admin', USER_SYNC_DASHBOARD_PASSWORD: 'change-me-now' }),
    });
    try {
      await dashboard.waitForOutput(/Dashboard: http:\/\/127\.0\.0\.1:\d+/);
    } finally {
      dashboard.kill();
      await dashboard.exited();
    }
  });
});
