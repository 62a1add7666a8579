/**
 * Headless Chromium (Debian's) driven by playwright-core, for the e2e tests, and the dashboard
 * logins they and the dashboard's integration tests use.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Launches Chromium headless; throws, saying how to install it, when it is missing. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // As root, in a sandboxed container, on a machine with no network but loopback.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** An operator and a viewer with fresh random passwords (Basic auth users of `dashboard.users`). */
export function dashboardLogins() {
  return {
    OPERATOR: {
      username: 'otto',
      password: `op-${randomBytes(8).toString('hex')}`,
      role: 'operator' as const,
    },
    VIEWER: { username: 'vera', password: `vw-${randomBytes(8).toString('hex')}`, role: 'viewer' as const },
  };
}
