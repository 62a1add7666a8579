import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import { ConfigError } from '../errors.js';
import type { Logger } from '../logger.js';
import { isPlaceholderSecret } from './placeholders.js';
import { hasRole, setRole, type DashboardRole } from './roles.js';
import type { LoginThrottle } from './throttle.js';

/** A Basic-auth login with its role (`dashboard.users[]`). */
export interface DashboardLogin {
  username: string;
  /** 8 characters or more. */
  password: string;
  role: DashboardRole;
}

/** A bearer token with its role (`dashboard.tokens[]`). */
export interface DashboardToken {
  /** 16 characters or more. */
  token: string;
  role: DashboardRole;
}

/**
 * Credentials the dashboard accepts: HTTP Basic logins and bearer tokens, each with a role. The
 * single `username`/`password` pair and `token` are operators.
 */
export interface DashboardCredentials {
  /** Basic auth user name of an operator; goes with `password`. */
  username?: string;
  /** Basic auth password of that operator; goes with `username`. */
  password?: string;
  /**
   * An operator's token: accepted as `Authorization: Bearer <token>`, and as the password of
   * Basic auth with any user name (so that a browser can log in with it).
   */
  token?: string;
  /** More Basic-auth logins, each with its role. */
  users?: readonly DashboardLogin[];
  /** More tokens, each with its role; accepted like `token`. */
  tokens?: readonly DashboardToken[];
}

/**
 * How the dashboard authenticates requests: credentials, or the literal `'insecure-local'`,
 * which turns authentication off (everyone is an operator) and is only allowed on a loopback
 * host, with every request's Host header naming a loopback host.
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
  'or USER_SYNC_DASHBOARD_TOKEN (or dashboard.username/password/token, dashboard.users or ' +
  'dashboard.tokens in the config file), or pass --insecure-local to serve without authentication ' +
  'on 127.0.0.1';

/** Every login and token of the credentials, with its role and the config field of its secret. */
function entries(credentials: DashboardCredentials): {
  logins: Array<DashboardLogin & { field: string }>;
  tokens: Array<DashboardToken & { field: string }>;
} {
  const { username, password, token } = credentials;
  return {
    logins: [
      ...(username !== undefined && password !== undefined
        ? [{ username, password, role: 'operator' as const, field: 'dashboard.password' }]
        : []),
      ...(credentials.users ?? []).map((u, i) => ({ ...u, field: `dashboard.users[${i}].password` })),
    ],
    tokens: [
      ...(token !== undefined ? [{ token, role: 'operator' as const, field: 'dashboard.token' }] : []),
      ...(credentials.tokens ?? []).map((t, i) => ({ ...t, field: `dashboard.tokens[${i}].token` })),
    ],
  };
}

/**
 * Checks that `auth` is usable: `'insecure-local'`, or credentials with at least one complete
 * Basic login or token. Throws a ConfigError (field `dashboard…`) otherwise, so that a
 * dashboard never starts open by accident.
 */
export function assertDashboardAuth(auth: DashboardAuth): void {
  if (auth === 'insecure-local') return;
  if ((auth.username === undefined) !== (auth.password === undefined))
    throw new ConfigError('dashboard.password', 'username and password go together');
  const { logins, tokens } = entries(auth);
  const usable = logins.some((l) => l.username && l.password) || tokens.some((t) => t.token);
  if (!usable) throw new ConfigError('dashboard', NO_CREDENTIALS);
}

/** The environment variables that set credential fields, to name them in errors. */
const ENV_OF_FIELD: Readonly<Record<string, string>> = {
  'dashboard.password': 'USER_SYNC_DASHBOARD_PASSWORD',
  'dashboard.token': 'USER_SYNC_DASHBOARD_TOKEN',
};

/**
 * Refuses to serve where it is not safe: throws a ConfigError when `auth` is `'insecure-local'`
 * and `host` is not 127.0.0.1, localhost or ::1 (field `dashboard.host`), or when `host` is not
 * a loopback host and a password or token is a known placeholder (`isPlaceholderSecret`; the
 * field names it, e.g. `dashboard.users[1].password`).
 */
export function assertBindAllowed(auth: DashboardAuth, host: string): void {
  if (auth === 'insecure-local') {
    if (isLoopbackHost(host)) return;
    throw new ConfigError(
      'dashboard.host',
      `is ${JSON.stringify(host)}, but --insecure-local serves only on 127.0.0.1, localhost or ::1; ` +
        'configure credentials to serve on other hosts',
    );
  }
  if (isLoopbackHost(host)) return;
  const { logins, tokens } = entries(auth);
  for (const { field, secret } of [
    ...logins.map((l) => ({ field: l.field, secret: l.password })),
    ...tokens.map((t) => ({ field: t.field, secret: t.token })),
  ]) {
    if (isPlaceholderSecret(secret)) {
      const variable = ENV_OF_FIELD[field];
      throw new ConfigError(
        field,
        `is a well-known placeholder, and the dashboard would listen on ${JSON.stringify(host)}: ` +
          `set a real secret${variable ? ` (${variable})` : ''}, e.g. the output of \`openssl rand -base64 18\``,
      );
    }
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
  dashboard: { host?: string } & DashboardCredentials,
  options: { insecureLocal: boolean },
): DashboardAuth {
  const credentials: DashboardCredentials = {
    ...(dashboard.username !== undefined ? { username: dashboard.username } : {}),
    ...(dashboard.password !== undefined ? { password: dashboard.password } : {}),
    ...(dashboard.token !== undefined ? { token: dashboard.token } : {}),
    ...(dashboard.users?.length ? { users: dashboard.users } : {}),
    ...(dashboard.tokens?.length ? { tokens: dashboard.tokens } : {}),
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

/** The higher of two roles (undefined: none). */
function higher(a: DashboardRole | undefined, b: DashboardRole): DashboardRole {
  return a !== undefined && hasRole(a, b) ? a : b;
}

/**
 * The role a parsed header authenticates as, or undefined. Every configured login and token is
 * compared, whatever matched before, in constant time each (`safeEqual`): how long it takes
 * says nothing of which one matched or how close a guess came. Basic auth needs both user name
 * and password of a login to match; a token is accepted as `Bearer <token>` and as the password
 * of Basic auth with any user name. When several match, the highest role wins.
 */
export function authenticate(
  credentials: DashboardCredentials,
  header: AuthorizationHeader | undefined,
): DashboardRole | undefined {
  if (!header) return undefined;
  const { logins, tokens } = entries(credentials);
  const given = header.scheme === 'bearer' ? header.token : header.password;
  let role: DashboardRole | undefined;
  if (header.scheme === 'basic') {
    for (const login of logins) {
      const userOk = safeEqual(header.username, login.username);
      const passwordOk = safeEqual(header.password, login.password);
      if (userOk && passwordOk) role = higher(role, login.role);
    }
  }
  for (const token of tokens) if (safeEqual(given, token.token)) role = higher(role, token.role);
  return role;
}

/** Whether a parsed header matches any of the credentials (see `authenticate`). */
export function isAuthorized(
  credentials: DashboardCredentials,
  header: AuthorizationHeader | undefined,
): boolean {
  return authenticate(credentials, header) !== undefined;
}

/** What `requireAuth` works with besides the credentials. */
export interface RequireAuthOptions {
  /** Slows and refuses repeated failed logins per address. */
  throttle: LoginThrottle;
  /** Where lockouts are logged. */
  logger: Logger;
}

function challenge(res: Response): void {
  res
    .status(401)
    .set('WWW-Authenticate', WWW_AUTHENTICATE)
    .json({ error: 'authentication required: HTTP Basic or a bearer token' });
}

function tooManyAttempts(res: Response, retryAfterMs: number): void {
  res
    .status(429)
    .set('Retry-After', String(Math.max(1, Math.ceil(retryAfterMs / 1000))))
    .json({ error: 'too many failed logins from this address: try again later' });
}

/**
 * Middleware that lets a request through only with valid credentials, recording its role
 * (`roleOf`); otherwise answers 401 with a Basic challenge. A request without credentials is
 * challenged and not counted; one with credentials goes through the login throttle first: it
 * waits when its address failed often lately, and gets a 429 with `Retry-After` while the
 * address is locked out (its credentials are then not looked at). Each lockout is logged once,
 * with `remote_address`. With `'insecure-local'`, every request is an operator.
 */
export function requireAuth(auth: DashboardAuth, options: RequireAuthOptions): RequestHandler {
  if (auth === 'insecure-local') {
    return (req, _res, next) => {
      setRole(req, 'operator');
      next();
    };
  }
  const { throttle, logger } = options;
  return async (req, res, next) => {
    const header = req.headers.authorization;
    if (header === undefined || header.trim() === '') return challenge(res);
    const address = req.socket.remoteAddress ?? 'unknown';
    let gate = throttle.gate(address);
    if (!gate.locked && gate.delayMs > 0) {
      await throttle.sleep(gate.delayMs);
      gate = throttle.gate(address);
    }
    if (gate.locked) return tooManyAttempts(res, gate.retryAfterMs);
    const role = authenticate(auth, parseAuthorization(header));
    if (role !== undefined) {
      throttle.succeed(address);
      setRole(req, role);
      return next();
    }
    const failure = throttle.fail(address);
    if (failure.lockedForMs === undefined) return challenge(res);
    logger.warn('dashboard logins locked out for an address after repeated failures', {
      remote_address: address,
      failures: failure.failures,
      locked_for_seconds: Math.ceil(failure.lockedForMs / 1000),
    });
    tooManyAttempts(res, failure.lockedForMs);
  };
}
