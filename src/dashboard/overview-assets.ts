/**
 * The overview page's style sheet and script, served by the app itself (`/overview/…`) because
 * the page's CSP allows no inline script or style and no other origin. Kept here as text so the
 * package needs no build step or file copying; the script is plain ES2020 run as is by the
 * browser, and reads nothing but the page and the same-origin JSON API.
 */
import { ID_RE } from '../jobs/event-fields.js';

const CSS = `
:root { --fg: #1d232b; --muted: #67707c; --line: #e3e6ea; --bg: #f6f7f9; --card: #fff;
  --ok: #1f7a3d; --ok-bg: #e3f4e8; --bad: #b42318; --bad-bg: #fde8e6; --warn: #9a5b00; --warn-bg: #fff1d6;
  --info: #2d5bb9; --info-bg: #e4ecfb; --off: #59616b; --off-bg: #eceef1; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--fg); background: var(--bg); }
a { color: var(--info); text-decoration: none; }
a:hover { text-decoration: underline; }
.top { display: flex; align-items: center; gap: 20px; padding: 10px 20px; background: #1d232b; color: #fff; }
.top h1 { margin: 0; font-size: 17px; font-weight: 600; }
.top nav { display: flex; gap: 16px; flex: 1; }
.top nav a { color: #cfe0ff; }
.role { font-size: 12px; padding: 2px 8px; border-radius: 10px; background: #3a4350; }
.role-operator { background: #7a4b00; }
main { padding: 14px 20px 24px; max-width: 1400px; margin: 0 auto; }
.bar { display: flex; align-items: center; justify-content: space-between; gap: 16px; flex-wrap: wrap; margin-bottom: 10px; }
.summary { margin: 0; font-weight: 600; }
.muted { color: var(--muted); font-weight: normal; }
.search { display: flex; align-items: center; gap: 6px; }
.search label { color: var(--muted); }
.search input { width: 200px; padding: 5px 8px; border: 1px solid #c5cad1; border-radius: 4px; font: inherit; }
button { font: inherit; padding: 4px 12px; border-radius: 4px; border: 1px solid #b9c0c9; background: #fff; cursor: pointer; }
button:hover { background: #f0f2f5; }
button:disabled { opacity: .5; cursor: default; }
button.pause { border-color: #d9a441; color: var(--warn); }
button.resume { border-color: #6fa783; color: var(--ok); }
button.close-breaker { border-color: #e08b84; color: var(--bad); display: block; margin-top: 4px; white-space: nowrap; }
.status { margin: 0 0 10px; padding: 6px 10px; border-radius: 4px; background: var(--info-bg); }
.status.error { background: var(--bad-bg); color: var(--bad); }
.lookup { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; margin-bottom: 12px; }
.lookup h2 { margin: 0 0 6px; font-size: 14px; }
.lookup pre { margin: 0; max-height: 260px; overflow: auto; font-size: 12px; white-space: pre-wrap; word-break: break-all; }
table.targets { width: 100%; border-collapse: collapse; background: var(--card); border: 1px solid var(--line); border-radius: 6px; }
.targets th { text-align: left; font-size: 12px; font-weight: 600; color: var(--muted); padding: 8px 10px;
  border-bottom: 1px solid var(--line); white-space: nowrap; }
.targets td { padding: 8px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
.targets tr:last-child td { border-bottom: 0; }
.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.target { max-width: 260px; }
.target .name { font-weight: 600; word-break: break-all; }
.kind { font-size: 12px; color: var(--muted); margin-left: 4px; }
.parts { display: block; font-size: 12px; color: var(--muted); }
.last-error { font-size: 12px; color: var(--bad); margin-top: 2px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; max-width: 260px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; white-space: nowrap; }
.state-ok { color: var(--ok); background: var(--ok-bg); }
.state-breaker-open { color: var(--bad); background: var(--bad-bg); }
.state-breaker-half-open { color: var(--warn); background: var(--warn-bg); }
.state-paused { color: var(--info); background: var(--info-bg); }
.state-disabled { color: var(--off); background: var(--off-bg); }
.detail { font-size: 12px; color: var(--muted); white-space: nowrap; }
.detail.reason { max-width: 220px; white-space: normal; overflow-wrap: anywhere; }
tr.row-breaker-open { background: #fffafa; }
tr.row-disabled td { color: var(--muted); }
.rate { white-space: nowrap; }
.spark { display: block; }
.spark .axis { stroke: var(--line); stroke-width: 1; }
.spark .area { fill: #dfe9fb; stroke: none; }
.spark .line { fill: none; stroke: var(--info); stroke-width: 1.5; stroke-linejoin: round; }
.rate-text { font-size: 11px; color: var(--muted); }
.good { color: var(--ok); }
.warn { color: var(--warn); }
.bad, .bad a { color: var(--bad); font-weight: 600; }
.empty { padding: 12px; }
.legend { font-size: 12px; margin-top: 10px; }
`;

const JS = `'use strict';
(function () {
  var ID = /${ID_RE.source}/;
  var status = document.getElementById('status');
  function say(text, error) {
    status.textContent = text;
    status.className = error ? 'status error' : 'status';
    status.hidden = false;
  }
  function readJson(res) {
    return res.text().then(function (text) {
      try { return JSON.parse(text); } catch (e) { return null; }
    });
  }

  // Pause, resume, close a breaker (operators): the JSON API, same origin, a JSON body (CSRF rules).
  document.querySelectorAll('button[data-action]').forEach(function (button) {
    button.addEventListener('click', function () {
      var action = button.getAttribute('data-action');
      var service = button.getAttribute('data-service');
      button.disabled = true;
      var doing = { pause: 'Pausing ', resume: 'Resuming ', 'breaker/close': 'Closing the breaker of ' };
      say((doing[action] || action + ' ') + service + '…');
      fetch('/api/targets/' + encodeURIComponent(service) + '/' + action, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: '{}',
      })
        .then(function (res) {
          return readJson(res).then(function (body) {
            if (!res.ok) throw new Error((body && body.error) || 'HTTP ' + res.status);
            window.location.reload();
          });
        })
        .catch(function (error) {
          say(action + ' ' + service + ' failed: ' + error.message, true);
          button.disabled = false;
        });
    });
  });

  // User lookup: GET /api/users/:id, shown as JSON text (never as HTML).
  var form = document.getElementById('user-search');
  var input = document.getElementById('user-id');
  var lookup = document.getElementById('lookup');
  var lookupId = document.getElementById('lookup-id');
  var result = document.getElementById('lookup-result');
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    var id = input.value.trim();
    lookup.hidden = true;
    if (!ID.test(id)) {
      say('Not a user id: a positive number, or 1-128 letters, digits, "_" or "-".', true);
      return;
    }
    var path = '/api/users/' + encodeURIComponent(id);
    say('Looking up user ' + id + '…');
    fetch(path, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (res) {
        return readJson(res).then(function (body) {
          // The dashboard's own 404 for a route it does not serve names the path.
          if (res.status === 404 && body && body.error === 'not found: GET ' + path) {
            say('User lookup is not available on this dashboard (GET /api/users/:id is not served).');
            return;
          }
          if (!res.ok) {
            say('User ' + id + ': ' + ((body && body.error) || 'HTTP ' + res.status), true);
            return;
          }
          status.hidden = true;
          lookupId.textContent = id;
          result.textContent = JSON.stringify(body, null, 2);
          lookup.hidden = false;
        });
      })
      .catch(function (error) {
        say('User lookup failed: ' + error.message, true);
      });
  });
})();
`;

/** The page's own files: where each is served, its content type and its text. */
export const OVERVIEW_ASSETS = {
  css: { path: '/overview/overview.css', type: 'text/css; charset=utf-8', body: CSS },
  js: { path: '/overview/overview.js', type: 'text/javascript; charset=utf-8', body: JS },
} as const;
