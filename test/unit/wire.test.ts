import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import type { DeliveryTask } from '../../src/jobs/delivery-job.js';
import { USER_AGENT, buildWebhookBody } from '../../src/executors/http/wire.js';
import { deliveryTask } from '../helpers/fixtures.js';

/** The task the documented body below is built from: user 1 created, under event `01J8ABCDEF`. */
const sampleTask = (overrides: Partial<DeliveryTask> = {}): DeliveryTask =>
  deliveryTask({
    eventId: '01J8ABCDEF',
    type: 'user.created',
    user: { id: 1, username: 'testuser', email: 'test@example.com', role: 'guest', status: 'active' },
    changes: { email: 'test@example.com' },
    ...overrides,
  });

describe('buildWebhookBody', () => {
  it('produces exactly the documented body', () => {
    const body = buildWebhookBody(sampleTask());
    expect(body).toBe(
      '{"task_id":"01J8ABCDEF.orders","event_id":"01J8ABCDEF","user_id":1,"username":"testuser",' +
        '"event_type":"user.created","version":7,' +
        '"data":{"user":{"id":1,"username":"testuser","email":"test@example.com","role":"guest","status":"active"},' +
        '"changes":{"email":"test@example.com"}},' +
        '"timestamp":"2025-09-19T21:51:28Z","source":"my-service"}',
    );
    const parsed = JSON.parse(body) as Record<string, unknown>;
    expect(parsed).toEqual({
      task_id: '01J8ABCDEF.orders',
      event_id: '01J8ABCDEF',
      user_id: 1,
      username: 'testuser',
      event_type: 'user.created',
      version: 7,
      data: {
        user: { id: 1, username: 'testuser', email: 'test@example.com', role: 'guest', status: 'active' },
        changes: { email: 'test@example.com' },
      },
      timestamp: '2025-09-19T21:51:28Z',
      source: 'my-service',
    });
    expect(Object.keys(parsed)).toEqual([
      'task_id',
      'event_id',
      'user_id',
      'username',
      'event_type',
      'version',
      'data',
      'timestamp',
      'source',
    ]);
    expect(Object.keys(parsed.data as object)).toEqual(['user', 'changes']);
  });

  it('keeps a numeric user id a number', () => {
    const parsed = JSON.parse(buildWebhookBody(sampleTask({ userId: 42, user: { id: 42 } }))) as {
      user_id: unknown;
    };
    expect(parsed.user_id).toBe(42);
  });

  it('keeps a string user id a string, even when it looks numeric', () => {
    const parsed = JSON.parse(buildWebhookBody(sampleTask({ userId: '42', user: { id: '42' } }))) as {
      user_id: unknown;
      data: { user: { id: unknown } };
    };
    expect(parsed.user_id).toBe('42');
    expect(parsed.data.user.id).toBe('42');
    const uuid = JSON.parse(
      buildWebhookBody(sampleTask({ userId: 'usr_abc-1', user: { id: 'usr_abc-1' } })),
    ) as {
      user_id: unknown;
    };
    expect(uuid.user_id).toBe('usr_abc-1');
  });

  it('defaults changes to {} and username to null', () => {
    const body = buildWebhookBody(sampleTask({ changes: undefined, user: { id: 1 } }));
    const parsed = JSON.parse(body) as { username: unknown; data: { changes: unknown } };
    expect(parsed.data.changes).toEqual({});
    expect(parsed.username).toBeNull();
    expect(body).toContain('"username":null');
    expect(body).toContain('"changes":{}');
  });

  it('carries extra snapshot fields as they are', () => {
    const user = { id: 1, username: 'u', nested: { a: [1, 2] }, flag: false };
    const parsed = JSON.parse(buildWebhookBody(sampleTask({ user }))) as { data: { user: unknown } };
    expect(parsed.data.user).toEqual(user);
  });
});

describe('USER_AGENT', () => {
  it('names user-sync and the package version', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    expect(USER_AGENT).toBe(`user-sync/${pkg.version} (+https://github.com/user-sync)`);
  });
});
