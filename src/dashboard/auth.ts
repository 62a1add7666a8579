import { ConfigError } from '../errors.js';

/** Credentials the dashboard accepts: HTTP Basic (username and password), a bearer token, or both. */
export interface DashboardCredentials {
  /** Basic auth user name; goes with `password`. */
  username?: string;
  /** Basic auth password; goes with `username`. */
  password?: string;
  /** Accepted as `Authorization: Bearer <token>`, and as the password of Basic auth with any user name. */
  token?: string;
}

/**
 * How the dashboard authenticates requests: credentials, or the literal `'insecure-local'`,
 * which turns authentication off and is only allowed on a loopback host.
 */
export type DashboardAuth = DashboardCredentials | 'insecure-local';

/** Hosts `insecure-local` may bind: the machine itself, nothing reachable from outside. */
export const LOOPBACK_HOSTS: readonly string[] = ['127.0.0.1', 'localhost', '::1', '[::1]'];

/** Whether `host` is a loopback host the dashboard may serve on without credentials. */
export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_HOSTS.includes(host.trim().toLowerCase());
}

const NO_CREDENTIALS =
  'no credentials configured: set USER_SYNC_DASHBOARD_USERNAME and USER_SYNC_DASHBOARD_PASSWORD, ' +
  'or USER_SYNC_DASHBOARD_TOKEN (or dashboard.username/password/token in the config file), ' +
  'or pass --insecure-local to serve without authentication on 127.0.0.1';

/** Whether credentials allow anyone in at all: a username and password pair, or a token. */
function hasCredentials(credentials: DashboardCredentials): boolean {
  return Boolean((credentials.username && credentials.password) || credentials.token);
}

/**
 * Checks that `auth` is usable: `'insecure-local'`, or credentials with a complete Basic pair
 * and/or a token. Throws a ConfigError (field `dashboard…`) otherwise, so that a dashboard never
 * starts open by accident.
 */
export function assertDashboardAuth(auth: DashboardAuth): void {
  if (auth === 'insecure-local') return;
  if ((auth.username === undefined) !== (auth.password === undefined))
    throw new ConfigError('dashboard.password', 'username and password go together');
  if (!hasCredentials(auth)) throw new ConfigError('dashboard', NO_CREDENTIALS);
}

/**
 * Refuses to serve without credentials on a host other than loopback: throws a ConfigError
 * (field `dashboard.host`) when `auth` is `'insecure-local'` and `host` is not 127.0.0.1,
 * localhost or ::1.
 */
export function assertBindAllowed(auth: DashboardAuth, host: string): void {
  if (auth === 'insecure-local' && !isLoopbackHost(host)) {
    throw new ConfigError(
      'dashboard.host',
      `is ${JSON.stringify(host)}, but --insecure-local serves only on 127.0.0.1, localhost or ::1; ` +
        'configure credentials to serve on other hosts',
    );
  }
}

/**
 * The dashboard's authentication from its configuration (`config.dashboard`, environment
 * variables included). Configured credentials are always used, with or without `insecureLocal`.
 * Without credentials, throws a ConfigError saying how to set them, unless `insecureLocal` is
 * true: then returns `'insecure-local'`, after checking that `dashboard.host` (if given) is a
 * loopback host.
 */
export function dashboardAuthFromConfig(
  dashboard: { host?: string; username?: string; password?: string; token?: string },
  options: { insecureLocal: boolean },
): DashboardAuth {
  const credentials: DashboardCredentials = {
    ...(dashboard.username !== undefined ? { username: dashboard.username } : {}),
    ...(dashboard.password !== undefined ? { password: dashboard.password } : {}),
    ...(dashboard.token !== undefined ? { token: dashboard.token } : {}),
  };
  if (Object.keys(credentials).length > 0 || !options.insecureLocal) {
    assertDashboardAuth(credentials);
    return credentials;
  }
  if (dashboard.host !== undefined) assertBindAllowed('insecure-local', dashboard.host);
  return 'insecure-local';
}
