/** `user-sync dashboard`: Bull Board, the JSON API, health and metrics, until SIGTERM or Ctrl-C. */
import { assertBindAllowed, dashboardAuthFromConfig } from '../dashboard/auth.js';
import { startDashboard } from '../dashboard/server.js';
import { toError } from '../errors.js';
import { createLogger } from '../logger.js';
import { Deployment } from '../deployment.js';
import { connectCliRedis, loadCliConfig, type CommonOptions } from './common.js';
import { onShutdownSignal } from './signals.js';

/** Options of `user-sync dashboard`. */
export interface DashboardCommandOptions extends CommonOptions {
  /** Interface to listen on; default `dashboard.host` (127.0.0.1). */
  host?: string;
  /** Port; default `dashboard.port` (3000). */
  port?: number;
  /** Serve without credentials; only on a loopback host. */
  insecureLocal?: boolean;
}

/**
 * Serves the dashboard of the deployment named by the config (its queues, stats and dead
 * letters live in Redis, so one dashboard shows every worker). Refuses to start without
 * credentials (`USER_SYNC_DASHBOARD_USERNAME`/`_PASSWORD` or `_TOKEN`, or `dashboard.users` /
 * `dashboard.tokens`) unless `insecureLocal`, and on a host other than loopback with a password
 * or token that is a known placeholder.
 * Resolves once stopped by the first SIGTERM/SIGINT.
 */
export async function runDashboard(options: DashboardCommandOptions): Promise<void> {
  const logger = createLogger();
  const config = loadCliConfig(options);
  const host = options.host ?? config.dashboard.host;
  const port = options.port ?? config.dashboard.port;
  const auth = dashboardAuthFromConfig(
    { ...config.dashboard, host },
    { insecureLocal: options.insecureLocal ?? false },
  );
  // Before connecting anywhere: no placeholder password beyond loopback, no open dashboard either.
  assertBindAllowed(auth, host);
  const redis = await connectCliRedis(config, { longRunning: true });
  const deployment = new Deployment(config, redis, { logger });
  // The dashboard's config is the deployment's too: producers may read its targets. A registry
  // it cannot write (a foreign key) is worth a warning, not a dashboard that will not start.
  if (config.targets.length > 0)
    await deployment
      .writeRegistry('dashboard')
      .catch((error: unknown) =>
        logger.warn('target registry not written', { error: toError(error).message }),
      );
  let stop: (signal: NodeJS.Signals) => void = () => undefined;
  const stopped = new Promise<NodeJS.Signals>((resolve) => (stop = resolve));
  const removeSignals = onShutdownSignal((signal) => stop(signal));
  try {
    const dashboard = await startDashboard({ deployment, auth, host, port, logger });
    console.log(
      `Dashboard: ${dashboard.url}/  (Bull Board: ${dashboard.url}/admin/queues, API: ${dashboard.url}/api/overview, metrics: ${dashboard.url}/metrics)`,
    );
    if (auth === 'insecure-local')
      console.log('No authentication (--insecure-local): reachable from this machine only.');
    const signal = await stopped;
    logger.info(`${signal} received: stopping the dashboard`);
    await dashboard.close();
  } finally {
    removeSignals();
    await deployment.close().catch(() => undefined);
    await redis.quit().catch(() => redis.disconnect());
  }
}
