import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { assertBindAllowed } from './auth.js';
import { createDashboardApp, type DashboardAppOptions } from './app.js';

/** Where to serve the dashboard. */
export interface StartDashboardOptions extends DashboardAppOptions {
  /** Host to bind; `'insecure-local'` allows only 127.0.0.1, localhost or ::1. */
  host: string;
  /** Port to bind; 0 picks a free one. */
  port: number;
}

/** A running dashboard. */
export interface DashboardServer {
  /** `http://<host>:<port>`, without credentials. */
  url: string;
  /** The port bound (the one picked, when 0 was asked). */
  port: number;
  /** Stops serving: closes every connection, keep-alive ones included. The deployment stays open. */
  close(): Promise<void>;
}

/**
 * Serves `createDashboardApp(options)` on `host:port`. Rejects with a ConfigError when `auth`
 * has no usable credentials, or is `'insecure-local'` and `host` is not a loopback host; with
 * the listen error (EADDRINUSE, …) when the port cannot be bound.
 */
export async function startDashboard(options: StartDashboardOptions): Promise<DashboardServer> {
  const { host, port, ...appOptions } = options;
  assertBindAllowed(appOptions.auth, host);
  const app = createDashboardApp(appOptions);
  const server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  const logger = appOptions.logger ?? appOptions.deployment.logger.child({ component: 'dashboard' });
  const url = `http://${shownHost}:${bound}`;
  logger.info('dashboard listening', {
    url,
    auth: appOptions.auth === 'insecure-local' ? 'none (insecure-local)' : 'required',
  });
  let closing: Promise<void> | undefined;
  return {
    url,
    port: bound,
    close: () =>
      (closing ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      })),
  };
}
