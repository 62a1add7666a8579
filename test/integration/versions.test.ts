import { afterEach, describe, expect, it } from '@jest/globals';
import type { UserSnapshot } from '../../src/index.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { waitFor } from '../helpers/redis.js';
import type { ReceivedRequest } from '../helpers/http-target.js';

interface Seen {
  user: string;
  version: number;
  type: string;
}
const seen = (requests: ReceivedRequest[]): Seen[] =>
  requests.map((r) => {
    const body = JSON.parse(r.body) as { user_id: unknown; version: number; event_type: string };
    return { user: String(body.user_id), version: body.version, type: body.event_type };
  });

/** Versions each user received, in arrival order. */
function perUser(list: Seen[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const s of list) out.set(s.user, [...(out.get(s.user) ?? []), s.version]);
  return out;
}

const user = (id: number, role: string): UserSnapshot => ({
  id,
  username: `u${id}`,
  email: `u${id}@example.com`,
  role,
  status: 'active',
});

async function settled(h: Harness, total: number) {
  await waitFor(
    async () => {
      const s = await h.service.getStats();
      return s.completed_tasks + s.failed_tasks === total;
    },
    { timeoutMs: 20_000, what: `${total} finished deliveries` },
  );
}

describe('versions: no stale overwrite at any target kind', () => {
  let h: Harness;
  afterEach(async () => h?.close());

  it('an older version published after a newer one is superseded everywhere', async () => {
    h = await startHarness();
    const publisher = h.service.createPublisher('accounts');
    const newer = await publisher.publishUserUpdated(user(1, 'v3'), undefined, { version: 3 });
    await settled(h, 4);
    const older = await publisher.publishUserUpdated(user(1, 'v2'), undefined, { version: 2 });
    expect(older.ledgerUpdated).toBe(false);
    await settled(h, 8);
    for (const server of h.http) expect(seen(server.requests).map((s) => s.version)).toEqual([3]);
    expect(h.handled.map((e) => e.version)).toEqual([3]);
    const cached = JSON.parse((await h.redis.get(h.cacheKey(1))) ?? '{}') as {
      version: number;
      user: UserSnapshot;
    };
    expect(cached.version).toBe(3);
    expect(cached.user.role).toBe('v3');
    const stats = await h.service.getStats();
    for (const t of ['http-a', 'http-b', 'cache', 'audit'])
      expect(stats.by_target[t]).toMatchObject({ delivered: 1, superseded: 1 });
    expect(newer.ledgerUpdated).toBe(true);
  });

  it('a delete is not undone by a late, older update', async () => {
    h = await startHarness();
    const publisher = h.service.createPublisher('accounts');
    await publisher.publishUserCreated(user(2, 'a'), { version: 1 });
    await settled(h, 4);
    await publisher.publishUserDeleted({ id: 2 }, { version: 5 });
    await settled(h, 8);
    await publisher.publishUserUpdated(user(2, 'late'), undefined, { version: 4 });
    await settled(h, 12);
    for (const server of h.http)
      expect(seen(server.requests).map((s) => [s.version, s.type])).toEqual([
        [1, 'user.created'],
        [5, 'user.deleted'],
      ]);
    expect(await h.redis.exists(h.cacheKey(2))).toBe(0);
    expect(h.handled.map((e) => e.type)).toEqual(['user.created', 'user.deleted']);
  });

  it('a target that was down receives one up-to-date write, not every intermediate change (coalescing)', async () => {
    h = await startHarness({ config: { maxRetries: 20 } });
    let down = true;
    for (const server of h.http)
      server.respond = (_req, res) => ((res.statusCode = down ? 503 : 200), res.end());
    const publisher = h.service.createPublisher('accounts');
    await publisher.publishUserCreated(user(3, 'r1'));
    await waitFor(async () => (await h.service.getStats()).by_target['http-a']!.retried >= 1, {
      what: 'a retry',
    });
    await publisher.publishUserUpdated(user(3, 'r2'));
    await publisher.publishUserUpdated(user(3, 'r3'));
    down = false;
    await settled(h, 12);
    for (const server of h.http) {
      // The one answered with 200 is the last, and it carried the newest snapshot.
      expect(seen(server.requests.slice(-1))).toEqual([{ user: '3', version: 3, type: 'user.updated' }]);
      const versions = seen(server.requests).map((s) => s.version);
      expect([...versions].sort((a, b) => a - b)).toEqual(versions);
    }
    const stats = await h.service.getStats();
    expect(stats.by_target['http-a']).toMatchObject({ delivered: 1, superseded: 2, dead: 0 });
    // The handler target does not coalesce: it sees each version once, in order.
    expect(h.handled.map((e) => e.version)).toEqual([1, 2, 3]);
    const cached = JSON.parse((await h.redis.get(h.cacheKey(3))) ?? '{}') as { version: number };
    expect(cached.version).toBe(3);
  });

  it('under concurrency and random failures, every target ends at the newest version and never goes back', async () => {
    h = await startHarness({ config: { maxRetries: 30, workers: 8 } });
    let calls = 0;
    // What each target accepted (answered 200, or the handler returned), in order. Failed
    // attempts may be seen by a target too (at-least-once), but they do not count.
    const accepted = new Map<string, Seen[]>();
    const accept = (target: string, s: Seen) => accepted.set(target, [...(accepted.get(target) ?? []), s]);
    for (const [i, server] of h.http.entries()) {
      server.respond = (req, res) => {
        calls++;
        // Deterministic "random" failures: every third call fails.
        res.statusCode = calls % 3 === 0 ? 503 : 200;
        if (res.statusCode === 200) accept(`http-${i}`, seen([req])[0]!);
        res.end();
      };
    }
    h.subscriber.registerHandler('*', (event) => {
      calls++;
      if (calls % 5 === 0) throw new Error('handler hiccup');
      accept('audit', { user: String(event.userId), version: event.version, type: event.type });
    });
    const publisher = h.service.createPublisher('accounts');
    const users = [10, 11, 12, 13];
    const rounds = 8;
    const published: Array<Promise<unknown>> = [];
    for (let round = 1; round <= rounds; round++) {
      for (const id of users) {
        const type = round === rounds && id === 13 ? 'delete' : 'update';
        published.push(
          type === 'delete'
            ? publisher.publishUserDeleted({ id }, { version: round })
            : publisher.publishUserUpdated(user(id, `r${round}`), undefined, { version: round }),
        );
      }
    }
    await Promise.all(published);
    await settled(h, users.length * rounds * 4);
    expect([...accepted.keys()].sort()).toEqual(['audit', 'http-0', 'http-1']);
    for (const list of accepted.values()) {
      for (const [id, versions] of perUser(list)) {
        // Never an older version accepted after a newer one; each user ends at the newest.
        for (let i = 1; i < versions.length; i++) expect(versions[i]).toBeGreaterThan(versions[i - 1]!);
        expect(versions.at(-1)).toBe(rounds);
        expect(['10', '11', '12', '13']).toContain(id);
      }
    }
    for (const id of [10, 11, 12]) {
      const cached = JSON.parse((await h.redis.get(h.cacheKey(id))) ?? '{}') as {
        version: number;
        user: UserSnapshot;
      };
      expect(cached.version).toBe(rounds);
      expect(cached.user.role).toBe(`r${rounds}`);
    }
    expect(await h.redis.exists(h.cacheKey(13))).toBe(0);
    expect((await h.service.getStats()).failed_tasks).toBe(0);
  });
});
