import { describe, expect, it } from '@jest/globals';
import {
  NEVER_ALLOWED,
  OPERATOR_BOARD_ACTIONS,
  boardHooks,
  matchBoardAction,
  resolveBoardRoute,
} from '../../src/dashboard/board-guard.js';
import {
  hostHeaderName,
  isLoopbackHostHeader,
  isSameOrigin,
  isStaticAsset,
} from '../../src/dashboard/security.js';

describe('Host headers (DNS rebinding)', () => {
  it('reads the host name without the port', () => {
    expect(hostHeaderName('localhost:3000')).toBe('localhost');
    expect(hostHeaderName('[::1]:3000')).toBe('[::1]');
    expect(hostHeaderName('[::1]')).toBe('[::1]');
    expect(hostHeaderName('LocalHost')).toBe('localhost');
    expect(hostHeaderName('127.0.0.1:80')).toBe('127.0.0.1');
    for (const bad of [undefined, '', 'a:b:c', '::1', 'host:port', 'localhost:123456', '[::1'])
      expect({ bad, name: hostHeaderName(bad) }).toEqual({ bad, name: undefined });
  });

  it('takes localhost, any 127.x address and [::1], with any port, and nothing else', () => {
    for (const host of [
      'localhost',
      'localhost:3000',
      'LOCALHOST:1',
      '127.0.0.1',
      '127.0.0.1:3000',
      '127.1.2.3:80',
      '127.255.255.255',
      '[::1]',
      '[::1]:3000',
    ])
      expect({ host, ok: isLoopbackHostHeader(host) }).toEqual({ host, ok: true });
    for (const host of [
      undefined,
      '',
      'evil.example',
      'evil.example:3000',
      'localhost.evil.example',
      'localhost.',
      '127.0.0.1.nip.io',
      '127.0.0.256',
      '128.0.0.1',
      '0.0.0.0',
      '10.0.0.1:3000',
      '[::ffff:127.0.0.1]',
      '[::2]',
      '::1',
    ])
      expect({ host, ok: isLoopbackHostHeader(host) }).toEqual({ host, ok: false });
  });
});

describe('origins (CSRF)', () => {
  it('compares scheme, host and port', () => {
    expect(isSameOrigin('http://127.0.0.1:3000', 'http://127.0.0.1:3000')).toBe(true);
    expect(isSameOrigin('HTTP://LOCALHOST:3000', 'http://localhost:3000')).toBe(true);
    expect(isSameOrigin('http://example.com:80', 'http://example.com')).toBe(true);
    // Behind a proxy that terminates TLS: the page is https, the request reaches us as http.
    expect(isSameOrigin('https://dashboard.example.com', 'http://dashboard.example.com')).toBe(true);
    expect(isSameOrigin('https://dashboard.example.com:8443', 'http://dashboard.example.com:8443')).toBe(
      true,
    );
    expect(isSameOrigin('https://dashboard.example.com:8443', 'http://dashboard.example.com')).toBe(false);
    expect(isSameOrigin('https://evil.example', 'http://dashboard.example.com')).toBe(false);
    // Never the other way round: a plain-http page driving an https dashboard.
    expect(isSameOrigin('http://dashboard.example.com', 'https://dashboard.example.com')).toBe(false);
    expect(isSameOrigin('http://127.0.0.1:3001', 'http://127.0.0.1:3000')).toBe(false);
    expect(isSameOrigin('http://evil.example', 'http://127.0.0.1:3000')).toBe(false);
    expect(isSameOrigin('null', 'http://127.0.0.1:3000')).toBe(false);
    expect(isSameOrigin('http://127.0.0.1:3000', undefined)).toBe(false);
  });

  it('caches only the static assets of Bull Board', () => {
    expect(isStaticAsset('/admin/queues/static/js/main.js', '/admin/queues')).toBe(true);
    expect(isStaticAsset('/ADMIN/QUEUES/static/x.css', '/admin/queues')).toBe(true);
    for (const path of [
      '/admin/queues',
      '/admin/queues/api/queues',
      '/api/stats',
      '/metrics',
      '/static/x.js',
    ])
      expect({ path, cached: isStaticAsset(path, '/admin/queues') }).toEqual({ path, cached: false });
  });
});

describe('the Bull Board allow-list', () => {
  it('matches the allowed actions as express would: any case, a trailing slash, decoded parameters', () => {
    expect(matchBoardAction('PUT', '/api/queues/deliver.orders/0190-ab.orders/retry')).toEqual({
      action: 'retryJob',
      params: { queueName: 'deliver.orders', jobId: '0190-ab.orders' },
    });
    expect(matchBoardAction('put', '/API/QUEUES/deliver.orders/x%2Fy/RETRY/')).toEqual({
      action: 'retryJob',
      params: { queueName: 'deliver.orders', jobId: 'x/y' },
    });
    expect(matchBoardAction('PUT', '/api/queues/deliver.orders/retry/failed')).toEqual({
      action: 'retryAll',
      params: { queueName: 'deliver.orders', queueStatus: 'failed' },
    });
    expect(matchBoardAction('PUT', '/api/queues/deliver.orders/pause')?.action).toBe('pause');
    expect(matchBoardAction('PUT', '/api/queues/deliver.orders/resume')?.action).toBe('resume');
    // As in Bull Board's table, retry-all comes first: a job id "retry" does not turn it into a job retry.
    expect(matchBoardAction('PUT', '/api/queues/q/retry/retry')?.action).toBe('retryAll');
  });

  it("resolves a path to the route Bull Board's router would pick, first match in its table", () => {
    expect(resolveBoardRoute('PUT', '/api/queues/q/clean/retry')).toEqual({
      key: 'put /api/queues/:queueName/clean/:queueStatus',
      params: { queueName: 'q', queueStatus: 'retry' },
    });
    expect(resolveBoardRoute('PUT', '/api/queues/pause')?.key).toBe('put /api/queues/pause');
    expect(resolveBoardRoute('HEAD', '/api/queues')?.key).toBe('get /api/queues');
    expect(resolveBoardRoute('PUT', '/api/queues/q/rate-limit/release')?.key).toBe(
      'put /api/queues/:queueName/rate-limit/release',
    );
    expect(resolveBoardRoute('DELETE', '/api/queues/q')).toBeUndefined();
  });

  it('matches nothing else', () => {
    for (const [method, path] of [
      ['POST', '/api/queues/deliver.orders/add'],
      ['PUT', '/api/queues/deliver.orders/empty'],
      ['PUT', '/api/queues/deliver.orders/obliterate'],
      ['PUT', '/api/queues/deliver.orders/clean/failed'],
      ['PUT', '/api/queues/deliver.orders/clean/retry'],
      ['PUT', '/api/queues/deliver.orders/rate-limit/release'],
      ['PUT', '/api/queues/deliver.orders/promote'],
      ['PUT', '/api/queues/pause'],
      ['PUT', '/api/queues/resume'],
      ['PATCH', '/api/queues/deliver.orders/1/update-data'],
      ['POST', '/api/queues/deliver.orders/1/retry'],
      ['DELETE', '/api/queues/deliver.orders/1/retry'],
      ['PUT', '/api/queues/deliver.orders/1/retry/extra'],
      ['PUT', '/api/queues//1/retry'],
      ['PUT', '/api/queues/deliver.orders/%E0%A4%A/retry'],
      ['PUT', '/x/api/queues/deliver.orders/pause'],
    ] as const)
      expect({ method, path, matched: matchBoardAction(method, path) }).toEqual({
        method,
        path,
        matched: undefined,
      });
  });

  it("refuses, inside Bull Board, every action route it resolves that is not allowed, and a viewer's every action", async () => {
    const before = (role: 'viewer' | 'operator') => boardHooks(role).before!;
    const request = (params: Record<string, string> = {}) => ({
      queues: new Map(),
      uiConfig: {},
      query: {},
      params,
      body: {},
      headers: {},
    });
    const refused = { allow: false, status: 403, message: NEVER_ALLOWED };
    const { retryAll, retryJob, pause, resume } = OPERATOR_BOARD_ACTIONS;
    for (const { method, route } of [retryJob, pause, resume]) {
      expect(await before('operator')({ method, route, request: request() })).toBeUndefined();
      expect(await before('viewer')({ method, route, request: request() })).toEqual(refused);
    }
    expect(
      await before('operator')({ ...retryAll, request: request({ queueStatus: 'failed' }) }),
    ).toBeUndefined();
    expect(await before('operator')({ ...retryAll, request: request({ queueStatus: 'completed' }) })).toEqual(
      refused,
    );
    for (const [method, route] of [
      ['post', '/api/queues/:queueName/add'],
      ['put', '/api/queues/:queueName/clean/:queueStatus'],
      ['patch', '/api/queues/:queueName/:jobId/update-data'],
      ['put', '/api/queues/pause'],
    ] as const)
      expect(await before('operator')({ method, route, request: request() })).toEqual(refused);
    expect(
      await before('viewer')({ method: 'get', route: '/api/queues', request: request() }),
    ).toBeUndefined();
  });
});
