import express, { type Express } from 'express';
import type { Logger } from '../logger.js';
import type { Deployment } from '../deployment.js';
import { apiRouter } from './api.js';
import { assertDashboardAuth, requireAuth, type DashboardAuth } from './auth.js';
import { BOARD_PATH, createBoardApp } from './bull-board.js';
import { healthRoutes } from './health.js';
import { errorHandler, notFound } from './http.js';
import { metricsRoute } from './metrics.js';

/** What the dashboard app is built from. */
export interface DashboardAppOptions {
  /** The deployment to show; its queues and Redis connection are used, not closed. */
  deployment: Deployment;
  /** Credentials required on every route but /healthz and /readyz, or `'insecure-local'`. */
  auth: DashboardAuth;
  /** Default: the deployment's logger, as `component: dashboard`. */
  logger?: Logger;
  /** Clock (ms) for ages and windows. Default `Date.now`. */
  now?: () => number;
}

/**
 * The dashboard as an express app:
 *
 * - `GET /healthz`, `GET /readyz`: open to all;
 * - everything else needs credentials (HTTP Basic or `Authorization: Bearer`), else 401;
 * - `/admin/queues`: Bull Board (every enabled target's queue, dead-letter, maintenance);
 * - `GET /api/stats`, `/api/queue-status`, `/api/targets`, `/api/dead-letters`, `/api/sweep`,
 *   `POST /api/dead-letters/replay`: JSON, errors as `{ "error": "…" }`;
 * - `GET /metrics`: Prometheus text format, read from Redis at each scrape.
 *
 * Throws a ConfigError when `auth` holds no usable credentials.
 */
export function createDashboardApp(options: DashboardAppOptions): Express {
  const { deployment, auth } = options;
  assertDashboardAuth(auth);
  const logger = options.logger ?? deployment.logger.child({ component: 'dashboard' });
  const now = options.now ?? Date.now;

  const app = express();
  app.disable('x-powered-by');
  app.use(healthRoutes(deployment.redis));
  app.use(requireAuth(auth));
  app.use('/api', apiRouter(deployment, now));
  app.get('/metrics', metricsRoute(deployment, now));
  app.use(BOARD_PATH, createBoardApp(deployment));
  app.get('/', (_req, res) => res.redirect(BOARD_PATH));

  app.use(notFound);
  app.use(errorHandler(logger));
  return app;
}
