/**
 * The overview page at the dashboard's root, written on the server from `readOverview`'s
 * figures: one row per target, every value escaped (`html.ts`). No script or style is inline
 * (the page's CSP, `PAGE_CSP`, allows only the app's own files): the buttons and the user search
 * are wired by `/overview/overview.js`, the look is `/overview/overview.css`.
 */
import type { DashboardRole } from './roles.js';
import { html, type SafeHtml } from './html.js';
import type { Overview, OverviewTarget, TargetState } from './overview.js';
import { OVERVIEW_ASSETS } from './overview-assets.js';

/** How each state is named on the page. */
export const STATE_LABELS: Readonly<Record<TargetState, string>> = {
  ok: 'ok',
  'breaker-open': 'breaker open',
  'breaker-half-open': 'breaker half-open',
  paused: 'paused',
  disabled: 'disabled',
};

/** A duration for people: `—` for none, `850 ms`, `12 s`, `4 min`, `2 h 5 min`, `3 d 4 h`. Pure. */
export function formatDuration(ms: number | null, zero = '—'): string {
  if (ms === null || !Number.isFinite(ms)) return '—';
  if (ms <= 0) return zero;
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  const s = Math.floor(ms / 1_000);
  if (s < 60) return `${s} s`;
  const min = Math.floor(s / 60);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 24) return min % 60 ? `${h} h ${min % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

/** A latency: `—` when unknown, `12 ms`, `1.3 s`, `2.5 min`. Pure. */
export function formatLatency(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '—';
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

/** A share (0 to 1) as a percentage, `—` when unknown; never rounds up to 100% or down to 0%. Pure. */
export function formatShare(share: number | null): string {
  if (share === null || !Number.isFinite(share)) return '—';
  if (share >= 1) return '100%';
  if (share <= 0) return '0%';
  const percent = Math.min(99.9, Math.max(0.1, Math.floor(share * 1000) / 10));
  return `${percent}%`;
}

/** A count with thousands separated: `12,345`. */
const count = (n: number) => n.toLocaleString('en-US');

/** Good, warn or bad, for a share where higher is better. */
function shareClass(share: number | null | undefined): string {
  if (share === null || share === undefined) return '';
  return share >= 0.99 ? 'good' : share >= 0.9 ? 'warn' : 'bad';
}

/** Width and height of a sparkline, px. */
const SPARK_W = 128;
const SPARK_H = 28;

/**
 * Deliveries per minute as an inline SVG line with its area filled, scaled to its own peak (at
 * least 1). Presentation attributes only (no style attribute: the CSP forbids inline styles).
 */
export function sparkline(values: readonly number[], label: string): SafeHtml {
  const n = values.length;
  const peak = Math.max(1, ...values);
  const x = (i: number) => (n <= 1 ? 0 : (i * (SPARK_W - 2)) / (n - 1) + 1).toFixed(1);
  const y = (v: number) => (SPARK_H - 2 - (v / peak) * (SPARK_H - 4)).toFixed(1);
  const line = values.map((v, i) => `${x(i)},${y(v)}`).join(' ');
  const area = n > 0 ? `${x(0)},${SPARK_H - 1} ${line} ${x(n - 1)},${SPARK_H - 1}` : '';
  return html`<svg
    class="spark"
    width="${SPARK_W}"
    height="${SPARK_H}"
    viewBox="0 0 ${SPARK_W} ${SPARK_H}"
    role="img"
    aria-label="${label}"
  >
    <title>${label}</title>
    <line x1="0" y1="${SPARK_H - 1}" x2="${SPARK_W}" y2="${SPARK_H - 1}" class="axis" />
    <polygon points="${area}" class="area" />
    <polyline points="${line}" class="line" />
  </svg>`;
}

/** Relative to the page's time: `3 min ago` / `in 40 s`. */
function relative(at: number, now: number): string {
  const delta = at - now;
  return delta >= 0 ? `in ${formatDuration(delta, 'now')}` : `${formatDuration(-delta, 'now')} ago`;
}

function targetCell(t: OverviewTarget, partitions: number): SafeHtml {
  const first = t.board[0];
  const name = first
    ? html`<a class="name" href="${first.url}" title="${`Open ${first.queue} in Bull Board`}"
        >${t.service}</a
      >`
    : html`<span class="name">${t.service}</span>`;
  const parts =
    partitions > 1 && t.board.length > 1
      ? html`<span class="parts"
          >partitions
          ${t.board.map((b) => html` <a href="${b.url}" title="${b.queue}">${b.partition}</a>`)}</span
        >`
      : '';
  const error = t.lastError
    ? html`<div class="last-error" title="${`${t.lastError.at}: ${t.lastError.message}`}">
        ${clip(t.lastError.message, 90)}
      </div>`
    : '';
  return html`<td class="target">${name} <span class="kind">${t.kind}</span>${parts}${error}</td>`;
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function stateCell(t: OverviewTarget, now: number): SafeHtml {
  const badges = [html`<span class="badge state-${t.state}">${STATE_LABELS[t.state]}</span>`];
  // Paused by hand over a breaker that is not closed: both matter.
  if (t.state === 'paused' && t.breaker.state !== 'closed')
    badges.push(
      html` <span class="badge state-breaker-${t.breaker.state}">breaker ${t.breaker.state}</span>`,
    );
  const details: SafeHtml[] = [];
  if (t.breaker.state !== 'closed') {
    const when = [
      t.breaker.since !== null ? `since ${relative(t.breaker.since, now).replace(/ ago$/, '')}` : '',
      t.breaker.retryAt !== null ? `probe ${relative(t.breaker.retryAt, now)}` : '',
    ].filter(Boolean);
    if (when.length) details.push(html`<div class="detail">${when.join(' · ')}</div>`);
    if (t.breaker.reason)
      details.push(
        html`<div class="detail reason" title="${t.breaker.reason}">${clip(t.breaker.reason, 60)}</div>`,
      );
  }
  return html`<td class="state">${badges}${details}</td>`;
}

function rateCell(t: OverviewTarget, windowMinutes: number): SafeHtml {
  // A disabled target that delivered nothing lately has no chart worth drawing.
  if (!t.enabled && t.deliveredInWindow === 0) return html`<td class="rate muted">—</td>`;
  const peak = Math.max(0, ...t.deliveriesPerMinute);
  const label = `${t.deliveredInWindow} deliveries in the last ${windowMinutes} min, at most ${peak} a minute`;
  return html`<td class="rate">
    ${sparkline(t.deliveriesPerMinute, label)}<span class="rate-text"
      >${count(t.deliveredInWindow)} / h · peak ${count(peak)}/min</span
    >
  </td>`;
}

function sweepCell(t: OverviewTarget): SafeHtml {
  const s = t.sweep;
  if (!s) return html`<td class="num muted" title="no sweep run has checked this target">—</td>`;
  if (s.share === null)
    return html`<td
      class="num muted"
      title="${s.unchecked > 0 ? 'this target cannot report the versions it holds' : 'no user compared'}"
    >
      ${s.unchecked > 0 ? 'n/a' : '—'}
    </td>`;
  return html`<td
    class="num ${shareClass(s.share)}"
    title="${`${s.inSync} of ${s.compared} users in sync at the sweep run finished ${s.finishedAt}`}"
  >
    ${formatShare(s.share)}
  </td>`;
}

function actionsCell(t: OverviewTarget): SafeHtml {
  if (!t.enabled) return html`<td class="actions muted">—</td>`;
  const action = t.paused ? 'resume' : 'pause';
  // An operator who knows the target is back closes its breaker rather than wait for a probe.
  const close =
    t.breaker.state === 'closed'
      ? html``
      : html`<button
          type="button"
          class="close-breaker"
          data-action="breaker/close"
          data-service="${t.service}"
        >
          Close breaker
        </button>`;
  return html`<td class="actions">
    <button type="button" class="${action}" data-action="${action}" data-service="${t.service}">
      ${t.paused ? 'Resume' : 'Pause'}
    </button>
    ${close}
  </td>`;
}

function row(t: OverviewTarget, overview: Overview, now: number, operator: boolean): SafeHtml {
  const sr = t.successRate;
  const dlq = `/api/dead-letters?target=${encodeURIComponent(t.service)}`;
  return html`<tr class="row-${t.state}" data-service="${t.service}">
    ${targetCell(t, overview.partitions)} ${stateCell(t, now)}
    <td class="num">${count(t.backlog)}</td>
    <td class="num">${formatDuration(t.oldestWaitingAgeMs)}</td>
    ${rateCell(t, overview.windowMinutes)}
    <td
      class="num ${shareClass(sr.rate)}"
      title="${`${sr.succeeded} of the last ${sr.window} finished deliveries succeeded`}"
    >
      ${formatShare(sr.rate)}
    </td>
    <td class="num">${formatLatency(t.latency.p50Ms)}</td>
    <td class="num">${formatLatency(t.latency.p99Ms)}</td>
    ${sweepCell(t)}
    <td class="num ${t.deadLetters > 0 ? 'bad' : ''}">
      ${t.deadLetters > 0 ? html`<a href="${dlq}">${count(t.deadLetters)}</a>` : '0'}
    </td>
    ${operator ? actionsCell(t) : ''}
  </tr>`;
}

/** "3 targets: 2 ok, 1 paused". */
function summary(targets: readonly OverviewTarget[]): string {
  const by = new Map<TargetState, number>();
  for (const t of targets) by.set(t.state, (by.get(t.state) ?? 0) + 1);
  const parts = (Object.keys(STATE_LABELS) as TargetState[])
    .filter((s) => by.has(s))
    .map((s) => `${by.get(s)} ${STATE_LABELS[s]}`);
  return `${targets.length} target${targets.length === 1 ? '' : 's'}${parts.length ? `: ${parts.join(', ')}` : ''}`;
}

/** The whole page for `role`: operators get a pause or resume button per enabled target. */
export function renderOverviewPage(overview: Overview, role: DashboardRole): string {
  const operator = role === 'operator';
  const now = Date.parse(overview.generatedAt);
  const head = [
    'Target',
    'State',
    'Backlog',
    'Oldest waiting',
    `Deliveries/min, last ${overview.windowMinutes} min`,
    'Success',
    'p50',
    'p99',
    'In sync',
    'Dead letters',
    ...(operator ? ['Actions'] : []),
  ];
  const numeric = new Set(['Backlog', 'Oldest waiting', 'Success', 'p50', 'p99', 'In sync', 'Dead letters']);
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>user-sync · overview</title>
        <link rel="icon" href="${overview.board}/static/favicon-32x32.png" />
        <link rel="stylesheet" href="${OVERVIEW_ASSETS.css.path}" />
      </head>
      <body>
        <header class="top">
          <h1>user-sync</h1>
          <nav>
            <a href="${overview.board}">Bull Board</a><a href="/api/overview">JSON</a
            ><a href="/metrics">Metrics</a>
          </nav>
          <span class="role role-${role}">${operator ? 'operator' : 'viewer · read-only'}</span>
        </header>
        <main>
          <div class="bar">
            <p class="summary">
              ${summary(overview.targets)}
              <span class="muted"
                >· as of
                <time datetime="${overview.generatedAt}"
                  >${overview.generatedAt.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}</time
                >
                · <a href="/">refresh</a></span
              >
            </p>
            <form id="user-search" class="search" role="search" autocomplete="off">
              <label for="user-id">Find a user</label>
              <input
                id="user-id"
                name="id"
                type="search"
                maxlength="128"
                placeholder="user id, e.g. 42"
                required
              />
              <button type="submit">Look up</button>
            </form>
          </div>
          <p id="status" class="status" role="status" hidden></p>
          <section id="lookup" class="lookup" hidden>
            <h2>User <span id="lookup-id"></span></h2>
            <pre id="lookup-result"></pre>
          </section>
          <table class="targets">
            <thead>
              <tr>
                ${head.map((h) => html`<th${numeric.has(h) ? html` class="num"` : ''} scope="col">${h}</th>`)}
              </tr>
            </thead>
            <tbody>
              ${overview.targets.map((t) => row(t, overview, now, operator))}
            </tbody>
          </table>
          ${overview.targets.length === 0 ? html`<p class="empty">No target is configured.</p>` : ''}
          <p class="legend muted">
            Success: the last finished deliveries (dead = failed). p50/p99: publish to delivered since the
            deployment began. In sync: the newest sweep run's share of users the target holds at the ledger's
            version. Each target links to its queue in Bull Board.
          </p>
        </main>
        <script src="${OVERVIEW_ASSETS.js.path}"></script>
      </body>
    </html> `.html;
}
