/**
 * The dashboard in a real browser: headless Chromium (Debian's package, /usr/bin/chromium)
 * driven by playwright-core. Bull Board renders every queue, and a retry clicked on a failed
 * delivery moves it back to waiting; once a worker runs, it is delivered.
 *
 *   npm run test:e2e        (CHROMIUM_PATH overrides the browser's path)
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chromium, type Browser } from 'playwright-core';
import { startDashboard, type DashboardServer, type UserSnapshot } from '../../src/index.js';
import { ROOT } from '../helpers/cli.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { waitFor } from '../helpers/redis.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const LOGIN = { username: 'operator', password: 'e2e-password-123' };
const SCREENSHOTS = path.join(ROOT, 'test-results');

const user = (id: number): UserSnapshot => ({ id, username: `u${id}`, email: `u${id}@example.com` });

describe('dashboard in headless Chromium', () => {
  let h: Harness;
  let dashboard: DashboardServer;
  let browser: Browser;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
    }
    mkdirSync(SCREENSHOTS, { recursive: true });
    h = await startHarness({ httpTargets: 1, redisTarget: false, handlerTarget: false });
    dashboard = await startDashboard({
      deployment: h.service.deployment,
      auth: LOGIN,
      host: '127.0.0.1',
      port: 0,
    });
    browser = await chromium.launch({
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
  });

  afterAll(async () => {
    await browser?.close();
    await dashboard?.close();
    await h?.close();
  });

  it('renders every queue, and a retry clicked on a failed delivery moves it back to waiting', async () => {
    const server = h.http[0]!;
    server.respond = (_req, res) => ((res.statusCode = 400), res.end('rejected'));
    const { eventId } = await h.service.createPublisher('accounts').publishUserCreated(user(1));
    const jobId = `${eventId}.http-a`;
    await waitFor(async () => (await h.service.listDeadLetters()).total === 1, { what: 'a dead letter' });
    // Stop the workers: the retried job then stays in waiting, where the test can see it.
    await h.service.stop();

    const context = await browser.newContext({ httpCredentials: LOGIN });
    const page = await context.newPage();
    await page.goto(`${dashboard.url}/admin/queues`);
    for (const name of ['deliver.http-a', 'dead-letter', 'maintenance']) {
      await page.getByText(name, { exact: true }).first().waitFor({ timeout: 15_000 });
    }
    await page.getByText(/^Loading/).waitFor({ state: 'hidden', timeout: 15_000 });
    await page.screenshot({ path: path.join(SCREENSHOTS, 'dashboard-queues.png'), fullPage: true });

    await page.goto(`${dashboard.url}/admin/queues/queue/deliver.http-a?status=failed`);
    await page.getByText(jobId).first().waitFor({ timeout: 15_000 });
    await page.screenshot({ path: path.join(SCREENSHOTS, 'dashboard-failed.png'), fullPage: true });
    // The job's actions are icon buttons named by a tooltip; on a failed job, Retry is first.
    page.on('dialog', (dialog) => void dialog.accept());
    const retry = page.locator('ul[class*="jobActions"] li button').first();
    await retry.hover();
    await page.getByText('Retry', { exact: true }).waitFor({ state: 'visible', timeout: 5_000 });
    await retry.click();
    // A confirmation, if this version of Bull Board asks for one.
    const confirm = page.getByRole('button', { name: /^(retry|confirm|ok|yes)$/i }).last();
    if (await confirm.isVisible({ timeout: 1_000 }).catch(() => false)) await confirm.click();

    const queue = h.service.deployment.queues.delivery('http-a');
    await waitFor(async () => (await (await queue.getJob(jobId))?.getState()) === 'waiting', {
      timeoutMs: 10_000,
      what: 'the job back in waiting',
    });
    await context.close();

    server.respond = (_req, res) => res.end('ok');
    await h.service.start();
    await waitFor(async () => (await h.service.getStats()).by_target['http-a']?.delivered === 1, {
      what: 'the retried delivery',
    });
    expect(server.requests.map((r) => r.headers['webhook-id'])).toEqual([jobId, jobId]);
    expect((await h.service.listDeadLetters()).total).toBe(0);
  });
});
