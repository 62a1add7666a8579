import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
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

/** What an `Authorization` header says, once parsed. */
export type AuthorizationHeader =
  { scheme: 'basic'; username: string; password: string } | { scheme: 'bearer'; token: string };

/** The challenge sent with every 401. */
export const WWW_AUTHENTICATE = 'Basic realm="user-sync"';

/**
 * Parses `Basic <base64 of user:password>` or `Bearer <token>` (schemes case-insensitive).
 * Anything else, malformed included, is `undefined`.
 */
export function parseAuthorization(header: string | undefined): AuthorizationHeader | undefined {
  if (!header) return undefined;
  const basic = /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(header);
  if (basic) {
    const decoded = Buffer.from(basic[1] as string, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    return { scheme: 'basic', username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  const bearer = /^Bearer +([!-~]+) *$/i.exec(header);
  if (bearer) return { scheme: 'bearer', token: bearer[1] as string };
  return undefined;
}

/** Compares two strings in time independent of where they differ (digests: equal lengths). */
export function safeEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/**
 * Whether a parsed header matches the credentials. Basic auth needs both user name and password
 * to match (both are always compared); a token is accepted as `Bearer <token>` and, so that a
 * browser can log in to Bull Board, as the password of Basic auth with any user name.
 */
export function isAuthorized(
  credentials: DashboardCredentials,
  header: AuthorizationHeader | undefined,
): boolean {
  if (!header) return false;
  const { username, password, token } = credentials;
  if (header.scheme === 'bearer') return token !== undefined && safeEqual(header.token, token);
  let ok = false;
  if (username !== undefined && password !== undefined) {
    const userOk = safeEqual(header.username, username);
    const passwordOk = safeEqual(header.password, password);
    ok = userOk && passwordOk;
  }
  if (token !== undefined && safeEqual(header.password, token)) ok = true;
  return ok;
}

/**
 * Middleware that lets a request through only with valid credentials; otherwise answers 401
 * with a Basic challenge. With `'insecure-local'`, lets everything through.
 */
export function requireAuth(auth: DashboardAuth): RequestHandler {
  if (auth === 'insecure-local') return (_req, _res, next) => next();
  return (req, res, next) => {
    if (isAuthorized(auth, parseAuthorization(req.headers.authorization))) return next();
    res
      .status(401)
      .set('WWW-Authenticate', WWW_AUTHENTICATE)
      .json({ error: 'authentication required: HTTP Basic or a bearer token' });
  };
}
