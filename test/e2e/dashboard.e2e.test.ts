/**
 * The dashboard in a real browser: headless Chromium (Debian's package, /usr/bin/chromium)
 * driven by playwright-core. Bull Board renders every queue, and a retry clicked on a failed
 * delivery moves it back to waiting (the browser's own request passes the CSRF checks); once a
 * worker runs, it is delivered. A viewer's Bull Board offers no action.
 *
 *   npm run test:e2e        (CHROMIUM_PATH overrides the browser's path)
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type Browser } from 'playwright-core';
import { startDashboard, type DashboardServer, type UserSnapshot } from '../../src/index.js';
import { launchChromium } from '../helpers/browser.js';
import { ROOT } from '../helpers/cli.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { waitFor } from '../helpers/redis.js';

const LOGIN = { username: 'operator', password: 'e2e-password-123' };
const VIEWER = { username: 'viewer', password: 'e2e-viewer-456' };
const SCREENSHOTS = path.join(ROOT, 'test-results');

const user = (id: number): UserSnapshot => ({ id, username: `u${id}`, email: `u${id}@example.com` });

describe('dashboard in headless Chromium', () => {
  let h: Harness;
  let dashboard: DashboardServer;
  let browser: Browser;

  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    h = await startHarness({ httpTargets: 1, redisTarget: false, handlerTarget: false });
    dashboard = await startDashboard({
      deployment: h.service.deployment,
      auth: { ...LOGIN, users: [{ ...VIEWER, role: 'viewer' }] },
      host: '127.0.0.1',
      port: 0,
    });
    browser = await launchChromium();
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
    const retried = page.waitForRequest(
      (request) => request.method() === 'PUT' && request.url().endsWith('/retry'),
    );
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
    // What the browser sent is what the CSRF checks expect of the dashboard's own page.
    const headers = await (await retried).allHeaders();
    expect({ origin: headers.origin, site: headers['sec-fetch-site'] }).toEqual({
      origin: dashboard.url,
      site: 'same-origin',
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

  it('shows a viewer every queue and job, and no action to take', async () => {
    const server = h.http[0]!;
    server.respond = (_req, res) => ((res.statusCode = 400), res.end('rejected'));
    const { eventId } = await h.service.createPublisher('accounts').publishUserCreated(user(2));
    const jobId = `${eventId}.http-a`;
    await waitFor(async () => (await h.service.listDeadLetters()).total === 1, { what: 'a dead letter' });

    const context = await browser.newContext({ httpCredentials: VIEWER });
    const page = await context.newPage();
    const actions: string[] = [];
    page.on('request', (request) => {
      if (!['GET', 'HEAD'].includes(request.method())) actions.push(`${request.method()} ${request.url()}`);
    });
    await page.goto(`${dashboard.url}/admin/queues/queue/deliver.http-a?status=failed`);
    await page.getByText(jobId).first().waitFor({ timeout: 15_000 });
    await page.screenshot({ path: path.join(SCREENSHOTS, 'dashboard-viewer.png'), fullPage: true });
    expect(await page.locator('ul[class*="jobActions"] li button').count()).toBe(0);
    expect(
      await page
        .getByRole('button', { name: /^(retry|clean|promote|add job|empty|obliterate|pause)/i })
        .count(),
    ).toBe(0);
    expect(actions).toEqual([]);
    await context.close();
  });
});
