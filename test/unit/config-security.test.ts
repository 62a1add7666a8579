/**
 * The config fields and rules of response limits, state signing, credentials and plain http,
 * and config errors that never echo a credential.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { loadConfig } from '../../src/config/load.js';
import { parseConfig } from '../../src/config/parse.js';
import { BREAKER_DEFAULTS } from '../../src/config/breaker.js';
import { DEFAULTS, RESPONSE_LIMIT_BOUNDS, type SyncConfig } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';

const SECRET = 's3cr3t-value';
const WHSEC = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
const WHSEC_2 = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;
const HTTP = { service: 'orders', url: 'https://orders.example.com/hooks/users' };

function parse(input: unknown, env: NodeJS.ProcessEnv = {}): SyncConfig {
  return parseConfig(input, { env });
}

function parseError(input: unknown, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    parse(input, env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('maxResponseBytes and maxStateResponseBytes', () => {
  it('default to 64 KiB and 8 MiB', () => {
    expect(DEFAULTS.maxResponseBytes).toBe(65_536);
    expect(DEFAULTS.maxStateResponseBytes).toBe(8_388_608);
    expect(parse({})).toMatchObject({ maxResponseBytes: 65_536, maxStateResponseBytes: 8_388_608 });
  });

  it('keep values within their bounds', () => {
    const { min, maxResponseBytes, maxStateResponseBytes } = RESPONSE_LIMIT_BOUNDS;
    expect(parse({ maxResponseBytes: min, maxStateResponseBytes: min })).toMatchObject({
      maxResponseBytes: 1_024,
      maxStateResponseBytes: 1_024,
    });
    expect(parse({ maxResponseBytes, maxStateResponseBytes })).toMatchObject({
      maxResponseBytes: 16_777_216,
      maxStateResponseBytes: 67_108_864,
    });
  });

  it.each([
    ['maxResponseBytes', 0, 'at least 1 KiB'],
    ['maxResponseBytes', -5, 'at least 1 KiB'],
    ['maxResponseBytes', 1_023, 'at least 1 KiB'],
    ['maxResponseBytes', 16_777_217, 'at most 16 MiB'],
    ['maxResponseBytes', 65_536.5, 'whole number of bytes from 1024 to 16777216'],
    ['maxResponseBytes', '64KiB', 'whole number of bytes from 1024 to 16777216'],
    ['maxStateResponseBytes', 512, 'at least 1 KiB'],
    ['maxStateResponseBytes', 67_108_865, 'at most 64 MiB'],
    ['maxStateResponseBytes', null, 'whole number of bytes from 1024 to 67108864'],
  ])('refuses %s = %p, naming the field', (field, value, reason) => {
    const error = parseError({ [field]: value });
    expect(error.field).toBe(field);
    expect(error.reason).toContain(reason);
  });
});

describe('state.secrets', () => {
  const state = { bulkUrl: 'https://crm.example.com/state' };

  it('is left out by default (state requests then use keys derived from the delivery secrets)', () => {
    const [target] = parse({ targets: [{ ...HTTP, secrets: [WHSEC], state }] }).targets;
    expect(target?.state?.secrets).toBeUndefined();
  });

  it('keeps whsec_ secrets and resolves env:NAME from the environment', () => {
    const [target] = parse(
      { targets: [{ ...HTTP, state: { ...state, secrets: [WHSEC, 'env:STATE_SECRET'] } }] },
      { STATE_SECRET: WHSEC_2 },
    ).targets;
    expect(target?.state?.secrets).toEqual([WHSEC, WHSEC_2]);
  });

  it.each([
    [[], 'targets[0].state.secrets', 'at least one secret'],
    [['nope'], 'targets[0].state.secrets[0]', 'must start with "whsec_"'],
    [[WHSEC, 'whsec_c2hvcnQ='], 'targets[0].state.secrets[1]', 'at least 16 bytes'],
    [['env:MISSING'], 'targets[0].state.secrets[0]', 'environment variable MISSING is not set'],
  ])('refuses %p, naming %s', (secrets, field, reason) => {
    const error = parseError({ targets: [{ ...HTTP, state: { ...state, secrets } }] });
    expect(error.field).toBe(field);
    expect(error.reason).toContain(reason);
  });
});

describe('allowInsecureHttp', () => {
  it('is a boolean, left out by default', () => {
    expect(parse({ targets: [HTTP] }).targets[0]?.allowInsecureHttp).toBeUndefined();
    expect(parse({ targets: [{ ...HTTP, allowInsecureHttp: true }] }).targets[0]?.allowInsecureHttp).toBe(
      true,
    );
    expect(parseError({ targets: [{ ...HTTP, allowInsecureHttp: 'yes' }] }).field).toBe(
      'targets[0].allowInsecureHttp',
    );
  });
});

describe('credentials in a URL and an authorization header together', () => {
  it.each(['authorization', 'Authorization', 'AUTHORIZATION'])('is an error with header %s', (header) => {
    const error = parseError({
      targets: [
        { ...HTTP, url: `https://svc:${SECRET}@api.example.com/hook`, headers: { [header]: 'Bearer t' } },
      ],
    });
    expect(error.field).toBe('targets[0].url');
    expect(error.reason).toContain(`headers.${header} is set too`);
    expect(error.message).not.toContain(SECRET);
  });

  it('counts a user name alone (a token) as credentials', () => {
    const error = parseError({
      targets: [
        { ...HTTP, url: 'https://t0ken@api.example.com/hook', headers: { authorization: 'Bearer t' } },
      ],
    });
    expect(error.field).toBe('targets[0].url');
  });

  it('checks the state URLs too', () => {
    const single = parseError({
      targets: [
        {
          ...HTTP,
          headers: { Authorization: 'Bearer t' },
          state: { url: `https://svc:${SECRET}@crm.example.com/users/{id}` },
        },
      ],
    });
    expect(single.field).toBe('targets[0].state.url');
    const bulk = parseError({
      targets: [
        {
          ...HTTP,
          headers: { Authorization: 'Bearer t' },
          state: { bulkUrl: `https://svc:${SECRET}@crm.example.com/s` },
        },
      ],
    });
    expect(bulk.field).toBe('targets[0].state.bulkUrl');
  });

  it('accepts either alone', () => {
    expect(() =>
      parse({ targets: [{ ...HTTP, url: `https://svc:${SECRET}@api.example.com/hook` }] }),
    ).not.toThrow();
    expect(() => parse({ targets: [{ ...HTTP, headers: { authorization: 'Bearer t' } }] })).not.toThrow();
  });
});

describe('config errors never echo a credential', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'user-sync-config-security-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('shows an invalid URL redacted, still saying what is wrong with it', () => {
    const error = parseError({
      targets: [{ ...HTTP, url: `https://svc:${SECRET}@exa mple.com/hook?token=${SECRET}` }],
    });
    expect(error.field).toBe('targets[0].url');
    expect(error.message).toBe(
      'invalid config: targets[0].url: is not a valid URL: "https://svc:***@exa mple.com/hook?token=***"',
    );
  });

  it('does not show a value that is not a URL at all', () => {
    const error = parseError({
      targets: [{ service: 'orders', kind: 'http', url: `svc:${SECRET}@api/hook` }],
    });
    expect(error.message).not.toContain(SECRET);
  });

  it('refuses a redisUrl with credentials without echoing it', () => {
    const error = parseError({ redisUrl: `redis://:${SECRET}@cache:6379/0?password=${SECRET} ` });
    expect(error.field).toBe('redisUrl');
    expect(error.message).not.toContain(SECRET);
  });

  it('names REDIS_URL, and redacts it, when the environment gives a bad one', () => {
    const file = path.join(dir, 'empty.json');
    writeFileSync(file, '{}');
    try {
      loadConfig({ file, env: { REDIS_URL: `http://:${SECRET}@cache:6379/0?password=${SECRET}` } });
      throw new Error('expected a ConfigError');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).field).toBe('REDIS_URL');
      expect((error as ConfigError).message).not.toContain(SECRET);
    }
  });

  it('redacts a value an environment error echoes', () => {
    const file = path.join(dir, 'empty-2.json');
    writeFileSync(file, '{}');
    for (const env of [
      { USER_SYNC_WORKERS: `redis://:${SECRET}@cache:6379` },
      { USER_SYNC_ENABLED: `https://svc:${SECRET}@api.example.com/` },
    ]) {
      try {
        loadConfig({ file, env });
        throw new Error('expected a ConfigError');
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        expect((error as ConfigError).message).toMatch(/^invalid config \(environment\): USER_SYNC_/);
        expect((error as ConfigError).message).not.toContain(SECRET);
      }
    }
  });

  it('redacts whatever a ConfigError reason carries', () => {
    const error = new ConfigError(
      'targets[0].url',
      `cannot use redis://:${SECRET}@cache:6379/0?password=${SECRET}`,
    );
    expect(error.message).toBe(
      'invalid config: targets[0].url: cannot use redis://:***@cache:6379/0?password=***',
    );
    expect(error.reason).not.toContain(SECRET);
  });

  it('redacts what a broken config file echoes', () => {
    const file = path.join(dir, 'broken.json');
    writeFileSync(file, `{"redisUrl": "redis://:${SECRET}@cache:6379/0?password=${SECRET}" oops}`);
    try {
      loadConfig({ file, env: {} });
      throw new Error('expected a ConfigError');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message).not.toContain(SECRET);
    }
  });
});

describe('a config file that is not JSON', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'user-sync-config-json-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('never quotes the source around the error, where a cut secret could show', () => {
    const file = path.join(dir, 'broken.json');
    writeFileSync(file, `{"redisUrl": "redis://:${SECRET}@cache/0?password=${SECRET}", "x": yes}`);
    try {
      loadConfig({ file, env: {} });
      throw new Error('expected a ConfigError');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const { message } = error as ConfigError;
      expect(message).toContain('(file): is not valid JSON: Unexpected token');
      for (let i = 0; i + 4 <= SECRET.length; i++) expect(message).not.toContain(SECRET.slice(i, i + 4));
    }
  });
});

describe('circuitBreaker', () => {
  it('has defaults, and takes durations as strings', () => {
    expect(parseConfig({}).circuitBreaker).toEqual({ ...BREAKER_DEFAULTS });
    expect(
      parseConfig({ circuitBreaker: { cooldown: '10s', maxCooldown: '2m' } }).circuitBreaker,
    ).toMatchObject({
      cooldown: 10_000,
      maxCooldown: 120_000,
      consecutiveFailures: 5,
    });
  });

  it.each([
    [{ failureRatio: 0 }, 'circuitBreaker.failureRatio'],
    [{ failureRatio: 1.5 }, 'circuitBreaker.failureRatio'],
    [{ failureRatio: '0.5' }, 'circuitBreaker.failureRatio'],
    [{ consecutiveFailures: 0 }, 'circuitBreaker.consecutiveFailures'],
    [{ consecutiveFailures: 2.5 }, 'circuitBreaker.consecutiveFailures'],
    [{ minAttempts: -1 }, 'circuitBreaker.minAttempts'],
    [{ window: '1s' }, 'circuitBreaker.window'],
    [{ window: 'forever' }, 'circuitBreaker.window'],
    [{ cooldown: '2d' }, 'circuitBreaker.cooldown'],
    [{ cooldown: '1m', maxCooldown: '30s' }, 'circuitBreaker.maxCooldown'],
    [{ enabled: 'yes' }, 'circuitBreaker.enabled'],
    [{ threshold: 3 }, 'circuitBreaker'],
  ])('refuses %j, naming %s', (breaker, field) => {
    expect(() => parseConfig({ circuitBreaker: breaker as never })).toThrow(field);
  });
});
