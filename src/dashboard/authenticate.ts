import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { DashboardAuth, DashboardCredentials } from './auth.js';

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
