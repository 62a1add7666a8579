/**
 * The dashboard's browser-facing protections: response headers against framing, sniffing,
 * referrer leaks and caching; same-origin JSON-only actions against CSRF; and, without
 * credentials, a loopback Host header against DNS rebinding.
 */
import type { Request, RequestHandler } from 'express';
import { isSafeMethod } from './roles.js';

/** Headers on every response, whatever answers it (Bull Board, the API, a 401, a 404, …). */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  /** Never shown in a frame: no clickjacking of the retry or pause buttons. */
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy': "frame-ancestors 'none'",
  /** A response is what its Content-Type says, never sniffed into HTML or script. */
  'X-Content-Type-Options': 'nosniff',
  /** Links out of the dashboard do not tell where they came from. */
  'Referrer-Policy': 'no-referrer',
};

/**
 * The overview page's policy, replacing the default one on that page: scripts, styles and
 * requests from the dashboard itself only, no inline script or style (an injected tag could not
 * run even if escaping failed), forms posted nowhere else, never framed.
 */
export const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
  "form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/**
 * Whether a path (of the dashboard app) is a static asset of Bull Board's UI, `<board>/static/…`:
 * the only answers that may be cached; everything else may carry personal data.
 */
export function isStaticAsset(path: string, boardPath: string): boolean {
  return path.toLowerCase().startsWith(`${boardPath.toLowerCase()}/static/`);
}

/**
 * Middleware, first of all: sets `SECURITY_HEADERS` on every response, and `Cache-Control:
 * no-store` on every response but Bull Board's static assets (the JSON API, /metrics, Bull
 * Board's pages and API, health checks, errors).
 */
export function securityHeaders(boardPath: string): RequestHandler {
  return (req, res, next) => {
    res.set(SECURITY_HEADERS);
    if (!isStaticAsset(req.path, boardPath)) res.set('Cache-Control', 'no-store');
    next();
  };
}

/**
 * The host name of a Host header without its port, lowercased: `[::1]:3000` → `[::1]`,
 * `LocalHost:80` → `localhost`. Undefined when the header is missing or malformed.
 */
export function hostHeaderName(host: string | undefined): string | undefined {
  if (!host) return undefined;
  const match = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/i.exec(host.trim());
  return match ? (match[1] as string).toLowerCase() : undefined;
}

/** Whether a Host header names the machine itself: `localhost`, `127.x.x.x` or `[::1]`, any port. */
export function isLoopbackHostHeader(host: string | undefined): boolean {
  const name = hostHeaderName(host);
  if (name === undefined) return false;
  if (name === 'localhost' || name === '[::1]') return true;
  const octets = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(name);
  return octets !== null && octets.slice(1).every((o) => Number(o) <= 255);
}

/**
 * Middleware for a dashboard without credentials (`insecure-local`): answers 421 `{ error }`
 * unless the Host header names a loopback host. A page of another site whose name was rebound
 * to 127.0.0.1 sends its own name as Host, so it cannot read or drive the dashboard.
 */
export const requireLoopbackHostHeader: RequestHandler = (req, res, next) => {
  if (isLoopbackHostHeader(req.headers.host)) return next();
  res.status(421).json({
    error:
      'misdirected request: without credentials (--insecure-local) the dashboard answers only ' +
      'requests addressed to localhost, 127.0.0.1 or [::1]',
  });
};

/** The origin of the request itself: its scheme and Host header (`http://127.0.0.1:3000`). */
export function requestOrigin(req: Request): string | undefined {
  const host = req.headers.host;
  if (!host) return undefined;
  try {
    return new URL(`${req.protocol}://${host}`).origin;
  } catch {
    return undefined;
  }
}

/**
 * Whether an `Origin` header names the request's own origin `own` (scheme, host and port, as
 * `requestOrigin` gives it). One difference is accepted: an `https:` Origin for a request that
 * arrived over plain HTTP with the same Host, which is what a reverse proxy terminating TLS in
 * front of the dashboard looks like; only the dashboard's own host can serve that page. The
 * other way round (an `http:` page driving an HTTPS dashboard) is refused.
 */
export function isSameOrigin(origin: string, own: string | undefined): boolean {
  if (own === undefined) return false;
  let given: URL;
  let mine: URL;
  try {
    given = new URL(origin);
    mine = new URL(own);
  } catch {
    return false;
  }
  if (given.origin === mine.origin) return true;
  if (given.protocol !== 'https:' || mine.protocol !== 'http:') return false;
  // Compare host names and ports as given, default ports left out on both sides.
  const port = (url: URL) => url.port || '';
  return given.hostname === mine.hostname && port(given) === port(mine);
}

/** Whether a request carries a body: a Transfer-Encoding, or a Content-Length above 0. */
export function hasBody(req: Request): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = Number(req.headers['content-length'] ?? 0);
  return !Number.isFinite(length) || length > 0;
}

/**
 * Middleware against cross-site request forgery, for every action (any method but GET, HEAD
 * and OPTIONS), on the JSON API and Bull Board alike:
 *
 * - 403 when `Sec-Fetch-Site` is `cross-site` or `same-site` (a browser says the request was
 *   started by another site's page);
 * - 403 when an `Origin` header is present and is not the request's own origin (see
 *   `isSameOrigin`);
 * - 415 when the request has a body that is not `application/json` (an HTML form can only send
 *   form types or text/plain; a body-less request is fine).
 */
export const sameOriginActions: RequestHandler = (req, res, next) => {
  if (isSafeMethod(req.method)) return next();
  const site = req.headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') {
    res
      .status(403)
      .json({ error: `forbidden: actions are not accepted from another site (Sec-Fetch-Site: ${site})` });
    return;
  }
  const origin = req.headers.origin;
  if (origin !== undefined && !isSameOrigin(origin, requestOrigin(req))) {
    res.status(403).json({ error: "forbidden: actions are accepted only from the dashboard's own origin" });
    return;
  }
  if (hasBody(req) && !req.is('application/json')) {
    res.status(415).json({ error: 'unsupported media type: send the body as application/json' });
    return;
  }
  next();
};
