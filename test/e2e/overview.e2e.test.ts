/**
 * The overview page in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core)
 * at a laptop's 1366×768: real workers deliver to real HTTP targets on loopback, a Redis target
 * and a target that answers its state, then the page is shown (a) healthy, (b) with one target's
 * breaker open, (c) with a target paused by clicking its button, and to a viewer. Full-page
 * screenshots go to test-results/overview/ (gitignored); the page must load under its CSP with
 * no violation, and the user search must treat a hostile id as text.
 *
 *   npm run test:e2e        (CHROMIUM_PATH overrides the browser's path)
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type Browser, type Page } from 'playwright-core';
import { startDashboard, type DashboardServer, type UserSnapshot } from '../../src/index.js';
import { rateSlot, RATE_TTL_SECONDS } from '../../src/jobs/rate.js';
import { launchChromium } from '../helpers/browser.js';
import { ROOT } from '../helpers/cli.js';
import { newSecret, startHarness, type Harness } from '../helpers/harness.js';
import { startHttpTarget, type HttpTarget } from '../helpers/http-target.js';
import { waitFor } from '../helpers/redis.js';
import { startStateReceiver, type StateReceiver } from '../helpers/state-receiver.js';

const OPERATOR = { username: 'operator', password: 'e2e-password-123' };
const VIEWER = { username: 'viewer', password: 'e2e-viewer-456' };
const SCREENSHOTS = path.join(ROOT, 'test-results', 'overview');
const VIEWPORT = { width: 1366, height: 768 };
const USERS = 40;
const HOSTILE = '<img src=x onerror=alert(1)>';

const user = (id: number): UserSnapshot => ({ id, username: `u${id}`, email: `u${id}@example.com` });

describe('overview page in headless Chromium', () => {
  let h: Harness;
  let orders: StateReceiver;
  let billing: HttpTarget;
  let crm: HttpTarget;
  let dashboard: DashboardServer;
  let browser: Browser;
  /** Everything a page reported that a CSP refused, or a script error. */
  const violations: string[] = [];

  const open = async (login: typeof OPERATOR): Promise<Page> => {
    const context = await browser.newContext({ httpCredentials: login, viewport: VIEWPORT });
    const page = await context.newPage();
    violations.length = 0;
    page.on('console', (m) => {
      const { url } = m.location();
      if (m.type() === 'error' && !url.includes('/api/users/')) violations.push(`${m.text()} (${url})`);
    });
    // Every answer but the lookup's (404 until GET /api/users/:id exists) must be a success.
    page.on('response', (r) => {
      if (r.status() >= 400 && !r.url().includes('/api/users/')) violations.push(`${r.status()} ${r.url()}`);
    });
    page.on('pageerror', (e) => violations.push(e.message));
    page.on('dialog', (d) => {
      violations.push(`dialog: ${d.message()}`);
      void d.dismiss();
    });
    await page.goto(dashboard.url);
    await page.locator('table.targets tbody tr').first().waitFor();
    return page;
  };
  const shot = (page: Page, name: string) =>
    page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
  const row = (page: Page, service: string) => page.locator(`tr[data-service="${service}"]`);

  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    orders = await startStateReceiver();
    billing = await startHttpTarget();
    // crm turns away one user in eight for good: dead letters, a success rate below 100%.
    crm = await startHttpTarget((req, res) => {
      const id = Number((JSON.parse(req.body) as { user_id: number }).user_id);
      res.statusCode = id % 8 === 0 ? 422 : 200;
      res.end(id % 8 === 0 ? 'unprocessable: email domain not allowed' : 'ok');
    });
    h = await startHarness({
      httpTargets: 0,
      handlerTarget: false,
      config: {
        targets: [
          { service: 'orders', url: orders.webhookUrl, state: { bulkUrl: orders.bulkUrl } },
          { service: 'billing', url: billing.url, secrets: [newSecret()] },
          { service: 'crm', url: crm.url, secrets: [newSecret()] },
          { service: 'legacy-erp', url: 'http://127.0.0.1:9/users', enabled: false },
        ],
      },
    });
    dashboard = await startDashboard({
      deployment: h.service.deployment,
      auth: { ...OPERATOR, users: [{ ...VIEWER, role: 'viewer' }] },
      host: '127.0.0.1',
      port: 0,
    });
    browser = await launchChromium();

    // An hour of history for the charts: the earlier minutes' counters, as the delivery script
    // writes them (rate.ts); the current minute is what the workers deliver below.
    const keys = h.service.deployment.keyspace.partition(0);
    const now = Date.now();
    for (const [service, base] of [
      ['orders', 36],
      ['billing', 24],
      ['crm', 12],
      ['cache', 30],
    ] as const) {
      const pipeline = h.redis.pipeline();
      for (let ago = 59; ago >= 1; ago--) {
        const { hour, minute } = rateSlot(now - ago * 60_000);
        const wave = Math.round(base * (1 + 0.45 * Math.sin((ago + base) / 6)) + ((ago * 7) % 5));
        pipeline.hincrby(keys.deliveryRate(service, hour), String(minute), wave);
        pipeline.expire(keys.deliveryRate(service, hour), RATE_TTL_SECONDS);
      }
      await pipeline.exec();
    }

    const publisher = h.service.createPublisher('accounts');
    for (let id = 1; id <= USERS; id++) await publisher.publishUserCreated(user(id));
    await waitFor(
      async () => {
        const t = (await h.service.getStats()).by_target;
        return (
          t.orders?.delivered === USERS &&
          t.billing?.delivered === USERS &&
          t.cache?.delivered === USERS &&
          t.crm?.delivered === USERS - USERS / 8 &&
          t.crm?.dead === USERS / 8
        );
      },
      { what: 'every delivery finished', timeoutMs: 30_000 },
    );
    const run = await h.service.runSweep({ trigger: 'manual' });
    expect(run?.targets.orders?.in_sync).toBe(USERS);
  });

  afterAll(async () => {
    await browser?.close();
    await dashboard?.close();
    await h?.close();
    await Promise.all([orders?.close(), billing?.close(), crm?.close()]);
  });

  it('(a) shows every target healthy, with links into Bull Board', async () => {
    const page = await open(OPERATOR);
    await shot(page, 'overview-healthy');
    await expect(page.locator('header nav a', { hasText: 'Bull Board' }).getAttribute('href')).resolves.toBe(
      '/admin/queues',
    );
    for (const service of ['orders', 'billing', 'crm', 'cache']) {
      await expect(row(page, service).locator('.badge').innerText()).resolves.toBe('ok');
      await expect(row(page, service).locator('a.name').getAttribute('href')).resolves.toBe(
        `/admin/queues/queue/deliver.${service}`,
      );
      await expect(row(page, service).locator('button[data-action="pause"]').count()).resolves.toBe(1);
      await expect(row(page, service).locator('svg.spark polyline').count()).resolves.toBe(1);
    }
    await expect(row(page, 'legacy-erp').locator('.badge').innerText()).resolves.toBe('disabled');
    await expect(row(page, 'legacy-erp').locator('button').count()).resolves.toBe(0);
    await expect(row(page, 'orders').locator('td').nth(8).innerText()).resolves.toBe('100%');
    await expect(row(page, 'crm').locator('td').nth(9).innerText()).resolves.toBe(String(USERS / 8));
    await expect(row(page, 'crm').locator('td').nth(5).innerText()).resolves.toBe('87.5%');
    await expect(row(page, 'crm').locator('.last-error').innerText()).resolves.toContain('422');
    expect(violations).toEqual([]);
    // The link to Bull Board opens the target's queue there.
    await row(page, 'orders').locator('a.name').click();
    await page.getByText('deliver.orders', { exact: true }).first().waitFor({ timeout: 15_000 });
    await page.context().close();
  });

  it('(b) shows an open breaker: since when, why, when the next probe is', async () => {
    const now = Date.now();
    await h.redis.hset(h.service.deployment.keyspace.deployment.breaker('billing'), {
      state: 'open',
      since: String(now - 4 * 60_000),
      reason: '12 consecutive failures (HTTP 503)',
      retryAt: String(now + 45_000),
    });
    const page = await open(OPERATOR);
    await shot(page, 'overview-breaker-open');
    const billingRow = row(page, 'billing');
    await expect(billingRow.locator('.badge').innerText()).resolves.toBe('breaker open');
    await expect(billingRow.locator('.detail.reason').innerText()).resolves.toBe(
      '12 consecutive failures (HTTP 503)',
    );
    await expect(billingRow.locator('.detail').first().innerText()).resolves.toMatch(
      /^since 4 min · probe in 4\d s$/,
    );
    await expect(row(page, 'orders').locator('.badge').innerText()).resolves.toBe('ok');
    expect(violations).toEqual([]);
    await page.context().close();
  });

  it('(c) pauses a target when its button is clicked: its deliveries wait', async () => {
    const page = await open(OPERATOR);
    const clicked = page.waitForRequest(
      (r) => r.method() === 'POST' && r.url().endsWith('/api/targets/crm/pause'),
    );
    await row(page, 'crm').locator('button[data-action="pause"]').click();
    const request = await clicked;
    await row(page, 'crm').locator('button[data-action="resume"]').waitFor();
    const headers = await request.allHeaders();
    expect({ origin: headers.origin, site: headers['sec-fetch-site'] }).toEqual({
      origin: dashboard.url,
      site: 'same-origin',
    });
    await expect(h.service.deployment.queues.delivery('crm').isPaused()).resolves.toBe(true);

    const publisher = h.service.createPublisher('accounts');
    for (let id = USERS + 1; id <= USERS + 5; id++) await publisher.publishUserCreated(user(id));
    await waitFor(async () => (await h.service.getStats()).by_target.orders?.delivered === USERS + 5, {
      what: 'the other targets delivered',
    });
    await page.reload();
    await expect(row(page, 'crm').locator('.badge').innerText()).resolves.toBe('paused');
    await expect(row(page, 'crm').locator('td').nth(2).innerText()).resolves.toBe('5');
    await expect(row(page, 'crm').locator('td').nth(3).innerText()).resolves.not.toBe('—');
    await shot(page, 'overview-paused');
    expect(violations).toEqual([]);
    await page.context().close();
  });

  it('shows a viewer everything and no button; a hostile user id stays text', async () => {
    const page = await open(VIEWER);
    await expect(page.locator('.role').innerText()).resolves.toBe('viewer · read-only');
    await expect(page.locator('button[data-action]').count()).resolves.toBe(0);
    await expect(page.locator('table.targets tbody tr').count()).resolves.toBe(5);
    await shot(page, 'overview-viewer');

    const lookups: string[] = [];
    page.on('request', (r) => {
      if (r.url().includes('/api/users/')) lookups.push(new URL(r.url()).pathname);
    });
    await page.fill('#user-id', HOSTILE);
    await page.click('#user-search button');
    await expect(page.locator('#status').innerText()).resolves.toMatch(/^Not a user id/);
    await page.fill('#user-id', '..');
    await page.click('#user-search button');
    await expect(page.locator('#status').innerText()).resolves.toMatch(/^Not a user id/);
    expect(lookups).toEqual([]);

    await page.fill('#user-id', '42');
    await page.click('#user-search button');
    await page
      .getByText(/User lookup is not available|^\{/)
      .first()
      .waitFor();
    expect(lookups).toEqual(['/api/users/42']);
    await shot(page, 'overview-lookup');
    expect(violations).toEqual([]);
    await page.context().close();
  });

  it('(d) closes an open breaker when an operator clicks its button', async () => {
    const key = h.service.deployment.keyspace.deployment.breaker('billing');
    await h.redis.hset(key, {
      state: 'open',
      since: String(Date.now()),
      reason: 'r',
      retryAt: String(Date.now() + 60_000),
    });
    const page = await open(OPERATOR);
    await expect(row(page, 'orders').locator('button.close-breaker').count()).resolves.toBe(0);
    const closed = page.waitForResponse(
      (r) => r.request().method() === 'POST' && r.url().endsWith('/api/targets/billing/breaker/close'),
    );
    await row(page, 'billing').locator('button.close-breaker').click();
    expect((await closed).status()).toBe(200);
    await page.waitForLoadState('load');
    await waitFor(async () => (await row(page, 'billing').locator('.badge').first().innerText()) === 'ok', {
      what: 'billing shown ok after the reload',
    });
    await expect(h.redis.hget(key, 'state')).resolves.toBe('closed');
    expect(violations).toEqual([]);
    await page.context().close();
  });

  it('shows a hostile breaker reason as text: no element is made of it', async () => {
    await h.redis.hset(h.service.deployment.keyspace.deployment.breaker('billing'), 'state', 'open');
    await h.redis.hset(h.service.deployment.keyspace.deployment.breaker('billing'), 'reason', HOSTILE);
    const page = await open(OPERATOR);
    await expect(row(page, 'billing').locator('.detail.reason').innerText()).resolves.toBe(HOSTILE);
    await expect(page.locator('img').count()).resolves.toBe(0);
    expect(violations).toEqual([]);
    await page.context().close();
  });
});
