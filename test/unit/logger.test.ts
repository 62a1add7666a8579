import { describe, expect, it } from '@jest/globals';
import Transport from 'winston-transport';
import { createLogger } from '../../src/logger.js';
import { captureLogger } from '../helpers/capture-logger.js';

const SECRET = 's3cr3t-value';
const REDIS_URL = `redis://:${SECRET}@cache:6379/0?password=${SECRET}`;
const HOOK_URL = `https://svc:${SECRET}@api.example.com/hooks?token=${SECRET}`;

describe('createLogger: every line redacted', () => {
  it('redacts the message and every string field, nested ones too, in JSON lines', () => {
    const { logger, lines, entries } = captureLogger();
    const error = Object.assign(new Error(`connect ECONNREFUSED ${REDIS_URL}`), { code: 'ECONNREFUSED' });
    logger.warn(`cannot reach ${HOOK_URL}`, {
      url: REDIS_URL,
      urls: [HOOK_URL],
      target: { service: 'orders', state: { bulkUrl: HOOK_URL } },
      error,
      attempt: 2,
    });
    logger.child({ redisUrl: REDIS_URL }).info('child logger', { detail: { at: new URL(HOOK_URL) } });
    logger.error(new Error(`failed at ${HOOK_URL}`));
    for (const line of lines) expect(line).not.toContain(SECRET);
    expect(entries[0]).toMatchObject({
      level: 'warn',
      message: 'cannot reach https://svc:***@api.example.com/hooks?token=***',
      url: 'redis://:***@cache:6379/0?password=***',
      urls: ['https://svc:***@api.example.com/hooks?token=***'],
      target: { service: 'orders', state: { bulkUrl: 'https://svc:***@api.example.com/hooks?token=***' } },
      error: { name: 'Error', code: 'ECONNREFUSED' },
      attempt: 2,
    });
    expect(entries[1]).toMatchObject({ redisUrl: 'redis://:***@cache:6379/0?password=***' });
    expect(entries[2]?.message).toBe('failed at https://svc:***@api.example.com/hooks?token=***');
  });

  it('never changes the fields the caller passed', () => {
    const { logger } = captureLogger();
    const fields = { url: REDIS_URL, nested: { url: HOOK_URL } };
    logger.info('x', fields);
    expect(fields).toEqual({ url: REDIS_URL, nested: { url: HOOK_URL } });
  });

  it('redacts the readable (pretty) lines too', () => {
    const lines: string[] = [];
    class Capture extends Transport {
      override log(info: Record<string | symbol, unknown>, next: () => void) {
        lines.push(String(info[Symbol.for('message')]));
        next();
      }
    }
    const logger = createLogger({ format: 'pretty', silent: false, transports: [new Capture()] });
    logger.info(`delivery to ${HOOK_URL}`, { url: REDIS_URL, nested: { url: HOOK_URL } });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('https://svc:***@api.example.com/hooks?token=***');
    expect(lines[0]).not.toContain(SECRET);
  });
});

describe('createLogger: lines below the level', () => {
  /** A field whose reading is counted: formatting a line (redaction walks every field) reads it. */
  function probe() {
    const read = { count: 0 };
    const field = {
      get value() {
        read.count += 1;
        return 'v';
      },
    };
    return { read, field };
  }

  /** A logger at warn whose transport keeps every info object it is given. */
  function warnLogger() {
    const lines: unknown[] = [];
    class Capture extends Transport {
      override log(info: unknown, next: () => void) {
        lines.push(info);
        next();
      }
    }
    return { lines, logger: createLogger({ level: 'warn', silent: false, transports: [new Capture()] }) };
  }

  it('are dropped before any formatting, on the logger and on children of children', () => {
    const { lines, logger } = warnLogger();
    const { read, field } = probe();
    logger.info('below', { nested: field });
    logger.log('debug', 'below', { nested: field });
    const grandchild = logger.child({ component: 'a' }).child({ target: 'b' });
    grandchild.info('below', { nested: field });
    grandchild.log('info', 'below', { nested: field });
    expect(read.count).toBe(0);
    expect(lines).toHaveLength(0);

    grandchild.warn('at the level', { nested: field });
    expect(read.count).toBeGreaterThan(0);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ component: 'a', target: 'b', message: 'at the level', level: 'warn' });
  });

  it('follow the level when it changes, and a transport of its own lower level', () => {
    const { lines, logger } = warnLogger();
    const child = logger.child({ component: 'c' });
    child.info('dropped');
    logger.level = 'info';
    child.info('kept');
    expect(lines).toMatchObject([{ message: 'kept', component: 'c' }]);

    const verbose: unknown[] = [];
    class Verbose extends Transport {
      override log(info: unknown, next: () => void) {
        verbose.push(info);
        next();
      }
    }
    const mixed = createLogger({
      level: 'warn',
      silent: false,
      transports: [new Verbose({ level: 'debug' })],
    });
    mixed.child({ component: 'd' }).debug('for the verbose transport');
    expect(verbose).toMatchObject([{ message: 'for the verbose transport', component: 'd' }]);
  });

  it('a silent logger formats nothing', () => {
    const logger = createLogger({ silent: true });
    const { read, field } = probe();
    logger.child({ component: 'x' }).error('nothing', { nested: field });
    expect(read.count).toBe(0);
  });
});
