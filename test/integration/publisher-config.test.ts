/**
 * A publisher takes the plain config object the service takes (`SyncConfigInput`): durations as
 * strings, defaults left out, validated with errors naming the field. Before, a plain object
 * reached the publish script unparsed and failed deep inside it (`ERR value is not an integer`).
 */
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import {
  ConfigError,
  UserEventPublisher,
  UserSyncIntegration,
  createLogger,
  type SyncConfigInput,
} from '../../src/index.js';
import { deletePrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const silent = createLogger({ silent: true });

describe('publisher config', () => {
  const redis = testRedis();
  const prefixes: string[] = [];
  afterEach(async () => {
    for (const prefix of prefixes.splice(0)) await deletePrefix(redis, prefix);
  });
  afterAll(async () => redis.quit());

  function plainConfig(extra: Partial<SyncConfigInput> = {}): SyncConfigInput {
    const prefix = uniquePrefix('pubcfg');
    prefixes.push(prefix);
    return {
      prefix,
      enabled: true,
      queueSize: 100,
      dedupeWindow: '1h',
      replicaAckTimeout: '2s',
      maxTimestampAhead: '1d',
      targets: [{ service: 'audit', kind: 'handler' }],
      ...extra,
    };
  }

  it('accepts the plain SyncConfigInput the service takes (durations as strings)', async () => {
    const publisher = new UserEventPublisher(redis, 'accounts', { config: plainConfig(), logger: silent });
    const result = await publisher.publishUserCreated({ id: 1, username: 'ada' });
    expect(result).toMatchObject({ version: 1, enabled: true, duplicate: false });
    expect(result.tasks).toEqual([`${result.eventId}.audit`]);
    // The Go hooks take the same options.
    const sync = new UserSyncIntegration(redis, 'accounts', { config: plainConfig(), logger: silent });
    expect((await sync.onUserCreated(2, 'grace', 'g@example.com', 'guest', 'active')).tasks).toHaveLength(1);
  });

  it.each([
    [{ queueSize: 'ten' }, 'queueSize', /must be|expected number/],
    [{ dedupeWindow: 'a week' }, 'dedupeWindow', /must be a positive duration/],
    [{ registryRefresh: 0 }, 'registryRefresh', /greater than 0/],
    [{ targets: [{ service: 'a/b', kind: 'handler' }] }, 'targets[0].service', /letters, digits/],
    [{ targets: [{ service: 'a', url: 'ftp://x' }] }, 'targets[0].kind', /./],
    [{ partitions: 2000 }, 'partitions', /./],
    [{ surprise: true }, 'surprise', /is not a known field/],
  ] as Array<[Record<string, unknown>, string, RegExp]>)(
    'a bad field is a ConfigError naming it: %j',
    (bad, field, reason) => {
      const error = (() => {
        try {
          new UserEventPublisher(redis, 'accounts', {
            config: { ...plainConfig(), ...bad },
          });
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).field).toBe(field);
      expect((error as ConfigError).reason).toMatch(reason);
    },
  );

  it('a config passed as the options object is refused, naming the field, not silently ignored', () => {
    const config = plainConfig();
    expect(() => new UserEventPublisher(redis, 'accounts', config as never)).toThrow(
      expect.objectContaining({
        field: 'prefix',
        message: expect.stringContaining('pass the config as { config: { ... } }'),
      }),
    );
    expect(() => new UserEventPublisher(redis, 'accounts', { logger: silent, nonsense: 1 } as never)).toThrow(
      /nonsense: is not a publisher option/,
    );
    expect(() => new UserSyncIntegration(redis, undefined as never)).toThrow(/source/);
  });
});
