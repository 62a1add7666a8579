import express, { type Express } from 'express';
import type { Logger } from '../logger.js';
import type { Deployment } from '../deployment.js';
import { apiRouter } from './api.js';
import { assertDashboardAuth, requireAuth, type DashboardAuth } from './auth.js';
import { BOARD_PATH, boardRoutes } from './bull-board.js';
import { healthRoutes } from './health.js';
import { errorHandler, notFound } from './http.js';
import { metricsRoute } from './metrics.js';
import { overviewRoutes } from './overview-routes.js';
import { viewersOnlyRead } from './roles.js';
import { requireLoopbackHostHeader, sameOriginActions, securityHeaders } from './security.js';
import { LoginThrottle, type LoginThrottleOptions } from './throttle.js';

/** What the dashboard app is built from. */
export interface DashboardAppOptions {
  /** The deployment to show; its queues and Redis connection are used, not closed. */
  deployment: Deployment;
  /** Credentials (with roles) required on every route but /healthz and /readyz, or `'insecure-local'`. */
  auth: DashboardAuth;
  /** Default: the deployment's logger, as `component: dashboard`. */
  logger?: Logger;
  /** Clock (ms) for ages and windows. Default `Date.now`. */
  now?: () => number;
  /** The login throttle's settings (see `LoginThrottleOptions`); default the `LOGIN_*` constants. */
  loginThrottle?: LoginThrottleOptions;
}

/**
 * The dashboard as an express app:
 *
 * - every response carries `SECURITY_HEADERS`, and `Cache-Control: no-store` but on static
 *   assets; with `'insecure-local'`, a Host header that is not loopback is a 421;
 * - every action (a method but GET, HEAD, OPTIONS) must be same-origin, its body JSON;
 * - `GET /healthz`, `GET /readyz`: open to all;
 * - everything else needs credentials (HTTP Basic or `Authorization: Bearer`), else 401, with
 *   failed logins throttled per address (429 while locked out); a viewer's actions are 403;
 * - `GET /`: the overview page, one row per target (state, backlog, deliveries per minute,
 *   success rate, latency, sweep share, dead letters), links into Bull Board, a user search;
 *   operators also get pause and resume buttons (see `overviewRoutes`); its script and style
 *   sheet are `/overview/overview.js` and `.css`, under a CSP allowing nothing inline;
 * - `/admin/queues`: Bull Board (every enabled target's queue, dead-letter, maintenance), read-only
 *   for viewers; operators may retry failed jobs and pause or resume target queues, nothing else;
 * - `/api/…`: the JSON API (see `apiRouter`; `GET /api/overview` is the page's data), errors as
 *   `{ "error": "…" }`;
 * - `GET /metrics`: Prometheus text format, read from Redis at each scrape.
 *
 * Throws a ConfigError when `auth` holds no usable credentials.
 */
export function createDashboardApp(options: DashboardAppOptions): Express {
  const { deployment, auth } = options;
  assertDashboardAuth(auth);
  const logger = options.logger ?? deployment.logger.child({ component: 'dashboard' });
  const now = options.now ?? Date.now;
  const throttle = new LoginThrottle(options.loginThrottle);

  const app = express();
  app.disable('x-powered-by');
  app.use(securityHeaders(BOARD_PATH));
  if (auth === 'insecure-local') app.use(requireLoopbackHostHeader);
  app.use(sameOriginActions);
  app.use(healthRoutes(deployment.redis));
  app.use(requireAuth(auth, { throttle, logger }));
  app.use(viewersOnlyRead);
  app.use('/api', apiRouter(deployment, now, logger));
  app.get(
    '/metrics',
    metricsRoute(deployment, now, () => ({ failures: throttle.failures, lockouts: throttle.lockouts })),
  );
  app.use(BOARD_PATH, ...boardRoutes(deployment));
  app.use(overviewRoutes(deployment, now));

  app.use(notFound);
  app.use(errorHandler(logger));
  return app;
}
