import { describe, expect, it } from '@jest/globals';
import { breakerOf, CLOSED, MAX_REASON_LENGTH } from '../../src/dashboard/breaker-view.js';
import { escapeHtml, html } from '../../src/dashboard/html.js';
import { sweepShare, targetState, type Overview, type OverviewTarget } from '../../src/dashboard/overview.js';
import {
  formatDuration,
  formatLatency,
  formatShare,
  renderOverviewPage,
  sparkline,
} from '../../src/dashboard/overview-page.js';
import { rateSlot, rateWindow } from '../../src/jobs/rate.js';
import {
  LATENCY_BUCKETS_MS,
  latencyBucket,
  latencyQuantile,
  type LatencyHistogram,
} from '../../src/jobs/stats.js';
import type { SweepRun } from '../../src/sweep/classify.js';

const HOSTILE = '<img src=x onerror=alert(1)>';

/** A histogram of latencies (ms), as the delivery script would have counted them. */
function histogramOf(latencies: readonly number[]): LatencyHistogram {
  const per = new Map<string, number>();
  for (const ms of latencies) per.set(latencyBucket(ms), (per.get(latencyBucket(ms)) ?? 0) + 1);
  let cumulative = 0;
  const buckets: Array<[number, number]> = [];
  for (const bound of LATENCY_BUCKETS_MS) {
    cumulative += per.get(`le_${bound}`) ?? 0;
    buckets.push([bound, cumulative]);
  }
  buckets.push([Infinity, cumulative + (per.get('le_inf') ?? 0)]);
  return { buckets, count: latencies.length, sumMs: latencies.reduce((s, n) => s + n, 0) };
}

const target = (overrides: Partial<OverviewTarget> = {}): OverviewTarget => ({
  service: 'orders',
  kind: 'http',
  enabled: true,
  state: 'ok',
  paused: false,
  breaker: CLOSED,
  backlog: 0,
  oldestWaitingAgeMs: 0,
  deliveriesPerMinute: Array.from({ length: 60 }, (_, i) => i % 7),
  deliveredInWindow: 171,
  successRate: { window: 10, succeeded: 10, failed: 0, rate: 1 },
  latency: { count: 10, p50Ms: 40, p99Ms: 900 },
  sweep: null,
  deadLetters: 0,
  lastError: null,
  board: [{ partition: 0, queue: 'deliver.orders', url: '/admin/queues/queue/deliver.orders' }],
  ...overrides,
});

const overviewOf = (targets: OverviewTarget[], partitions = 1): Overview => ({
  generatedAt: '2025-09-19T12:00:00.000Z',
  board: '/admin/queues',
  partitions,
  windowMinutes: 60,
  targets,
});

describe('html escaping', () => {
  it('escapes every value put into a template, and only SafeHtml passes as is', () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe(
      '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;',
    );
    const inner = html`<b>${HOSTILE}</b>`;
    expect(
      html`<p title="${`" onmouseover="x`}">${inner}${[HOSTILE, 1, null, undefined, false]}</p>`.html,
    ).toBe(
      '<p title="&quot; onmouseover=&quot;x"><b>&lt;img src=x onerror=alert(1)&gt;</b>&lt;img src=x onerror=alert(1)&gt;1</p>',
    );
  });

  it('renders a page of hostile names, kinds, errors and breaker reasons as text', () => {
    const hostile = target({
      service: HOSTILE,
      kind: `"><script>alert(1)</script>`,
      state: 'breaker-open',
      breaker: { state: 'open', since: Date.parse('2025-09-19T11:55:00Z'), reason: HOSTILE, retryAt: null },
      lastError: { message: HOSTILE, at: HOSTILE, jobId: HOSTILE, source: 'failed' },
      deadLetters: 3,
      sweep: { runId: HOSTILE, finishedAt: HOSTILE, inSync: 1, compared: 2, unchecked: 0, share: 0.5 },
      board: [{ partition: 0, queue: HOSTILE, url: `/admin/queues/queue/${encodeURIComponent(HOSTILE)}` }],
    });
    for (const role of ['viewer', 'operator'] as const) {
      const page = renderOverviewPage(overviewOf([hostile]), role);
      expect(page).not.toContain('<img');
      expect(page).not.toContain('<script>alert');
      expect(page).not.toMatch(/\son[a-z]+=(?!alert)/);
      expect(page).toContain('&lt;img src=x onerror=alert(1)&gt;');
      expect(page).toContain('/api/dead-letters?target=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E');
      expect(page.includes('data-action=')).toBe(role === 'operator');
      expect(page).toContain('since 5 min');
    }
  });
});

describe('overview figures', () => {
  it('estimates quantiles from the histogram as Prometheus does', () => {
    expect(latencyQuantile(histogramOf([]), 0.5)).toBeNull();
    // Ten deliveries, all in (50, 100]: the median halfway through the bucket.
    expect(latencyQuantile(histogramOf(Array<number>(10).fill(70)), 0.5)).toBe(75);
    // 98 fast, 2 slow: p50 in the first bucket, p99 in the slow one.
    const mixed = histogramOf([...Array<number>(98).fill(5), 2_000, 2_400]);
    expect(latencyQuantile(mixed, 0.5)).toBeCloseTo((10 * 50) / 98, 5);
    expect(latencyQuantile(mixed, 0.99)).toBe(1_000 + 1_500 * 0.5);
    // Beyond the last bound: the last bound, a floor.
    expect(latencyQuantile(histogramOf([400_000, 500_000]), 0.99)).toBe(300_000);
    expect(latencyQuantile(mixed, 1.5)).toBeNull();
  });

  it('places a moment in its hour and minute, and a window of 60 minutes over two hours at most', () => {
    expect(rateSlot(Date.UTC(2025, 8, 19, 12, 34, 56))).toEqual({
      hour: Math.floor(Date.UTC(2025, 8, 19, 12) / 3_600_000),
      minute: 34,
    });
    const { slots, hours } = rateWindow(Date.UTC(2025, 8, 19, 12, 34, 56));
    expect(slots).toHaveLength(60);
    expect(slots[59]).toEqual(rateSlot(Date.UTC(2025, 8, 19, 12, 34)));
    expect(slots[0]).toEqual(rateSlot(Date.UTC(2025, 8, 19, 11, 35)));
    expect(hours).toHaveLength(2);
    expect(rateWindow(Date.UTC(2025, 8, 19, 12, 59, 1)).hours).toHaveLength(1);
  });

  it('reads a breaker record strictly: anything malformed is closed or null', () => {
    expect(breakerOf(null)).toEqual(CLOSED);
    expect(breakerOf({})).toEqual(CLOSED);
    expect(breakerOf({ state: 'OPEN' })).toEqual(CLOSED);
    expect(breakerOf({ state: 'closed', reason: 'x' })).toEqual(CLOSED);
    expect(
      breakerOf({ state: 'open', since: '1700000000000', retryAt: '1700000060000', reason: 'r' }),
    ).toEqual({
      state: 'open',
      since: 1_700_000_000_000,
      reason: 'r',
      retryAt: 1_700_000_060_000,
    });
    for (const bad of ['-1', '1e3', '0', '12.5', ' 5', '99999999999999999', 'NaN'])
      expect(breakerOf({ state: 'half-open', since: bad, retryAt: bad })).toMatchObject({
        since: null,
        retryAt: null,
      });
    expect(breakerOf({ state: 'open', reason: 'x'.repeat(10_000) }).reason).toHaveLength(MAX_REASON_LENGTH);
  });

  it('says a state by precedence: disabled, paused, breaker open, half-open, ok', () => {
    const open = { state: 'open' as const, since: null, reason: null, retryAt: null };
    expect(targetState({ enabled: false, paused: true, breaker: open })).toBe('disabled');
    expect(targetState({ enabled: true, paused: true, breaker: open })).toBe('paused');
    expect(targetState({ enabled: true, paused: false, breaker: open })).toBe('breaker-open');
    expect(targetState({ enabled: true, paused: false, breaker: { ...open, state: 'half-open' } })).toBe(
      'breaker-half-open',
    );
    expect(targetState({ enabled: true, paused: false, breaker: CLOSED })).toBe('ok');
  });

  it("takes the newest sweep run that has the target's figures, counting only numbers", () => {
    const run = (id: string, targets: Record<string, unknown>) =>
      ({ id, finishedAt: id, targets }) as unknown as SweepRun;
    const runs = [
      run('new', { other: {} }),
      run('mid', {
        orders: { in_sync: 8, missing: 1, stale: 1, unchecked: 0, filtered: 5, foreign: '9', extra: -3 },
      }),
      run('old', { orders: { in_sync: 1 } }),
    ];
    expect(sweepShare(runs, 'orders')).toEqual({
      runId: 'mid',
      finishedAt: 'mid',
      inSync: 8,
      compared: 10,
      unchecked: 0,
      share: 0.8,
    });
    expect(sweepShare(runs, 'nobody')).toBeNull();
    expect(sweepShare([run('r', { orders: { unchecked: 4 } })], 'orders')).toMatchObject({
      share: null,
      unchecked: 4,
    });
    expect(sweepShare([run('r', { __proto__: { orders: { in_sync: 1 } } })], 'orders')).toBeNull();
  });

  it('formats durations, latencies and shares for people', () => {
    expect(
      [0, 850, 12_000, 4 * 60_000, 125 * 60_000, 28 * 3_600_000].map((ms) => formatDuration(ms)),
    ).toEqual(['—', '850 ms', '12 s', '4 min', '2 h 5 min', '1 d 4 h']);
    expect([null, 12.4, 1_340, 150_000].map(formatLatency)).toEqual(['—', '12 ms', '1.3 s', '2.5 min']);
    expect([null, 1, 0, 0.9999, 0.00001, 0.875].map(formatShare)).toEqual([
      '—',
      '100%',
      '0%',
      '99.9%',
      '0.1%',
      '87.5%',
    ]);
  });

  it('draws a sparkline within its box, flat when nothing was delivered', () => {
    const svg = sparkline([0, 5, 10], 'label').html;
    const points = /<polyline points="([^"]+)"/.exec(svg)?.[1]?.split(' ') ?? [];
    expect(points).toEqual(['1.0,26.0', '64.0,14.0', '127.0,2.0']);
    const flat = sparkline(Array<number>(60).fill(0), 'none').html;
    expect(
      /<polyline points="([^"]+)"/
        .exec(flat)?.[1]
        ?.split(' ')
        .every((p) => p.endsWith(',26.0')),
    ).toBe(true);
  });

  it('links every partition of a partitioned target', () => {
    const board = [0, 1, 2].map((p) => ({
      partition: p,
      queue: `deliver.orders.p${p}`,
      url: `/admin/queues/queue/deliver.orders.p${p}`,
    }));
    const page = renderOverviewPage(overviewOf([target({ board })], 3), 'viewer');
    for (const b of board) expect(page).toContain(`href="${b.url}"`);
  });
});
