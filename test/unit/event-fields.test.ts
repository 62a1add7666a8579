import { describe, expect, it } from '@jest/globals';
import { ValidationError } from '../../src/errors.js';
import { MAX_JSON_DEPTH, jsonTreeProblem, stringProblem } from '../../src/jobs/event-fields.js';
import { DEFAULT_STATUSES, validateEvent } from '../../src/producers/validation.js';
import { jobData, parseJobData } from '../helpers/fixtures.js';

const NOW = Date.parse('2026-01-01T00:00:00Z');
const options = {
  maxSnapshotBytes: 65_536,
  maxTimestampAheadMs: 86_400_000,
  statuses: DEFAULT_STATUSES,
  source: 's',
};
const publishError = (input: unknown) => {
  try {
    validateEvent(input, options, () => NOW);
  } catch (error) {
    return error as ValidationError;
  }
  throw new Error('accepted');
};

describe('stringProblem', () => {
  it.each([
    ['NUL', 'a\u0000b'],
    ['ESC (terminal escapes)', 'a\u001b[31mred'],
    ['DEL', 'a\u007f'],
    ['C1 NEL', 'a\u0085b'],
    ['C1 CSI', '\u009b31m'],
  ])('refuses %s', (_what, text) => {
    expect(stringProblem(text)).toBe('contains control characters');
  });

  it.each(['\ud800', 'a\udc00b', 'x\ud83d'])('refuses the lone surrogate in %j', (text) => {
    expect(stringProblem(text)).toMatch(/lone surrogate/);
  });

  it.each(['\u202e', '\u202a', '\u2066', '\u2069'])('refuses the bidi control %j', (text) => {
    expect(stringProblem(`name${text}gpj.exe`)).toMatch(/bidirectional/);
  });

  it.each(['plain', 'tab\there', 'two\nlines', 'crlf\r\n', 'emoji 😀', 'Ünïcødé', 'עברית', ''])(
    'accepts %j',
    (text) => {
      expect(stringProblem(text)).toBeUndefined();
    },
  );
});

describe('jsonTreeProblem', () => {
  it('names the path of the first problem at any depth', () => {
    expect(jsonTreeProblem({ a: [{ b: 'ok' }, { c: 'bad\u0000' }] })).toEqual({
      path: ['a', 1, 'c'],
      message: 'contains control characters',
    });
    expect(jsonTreeProblem(JSON.parse('{"a":{"__proto__":{}}}'))).toEqual({
      path: ['a', '__proto__'],
      message: 'is not an allowed key',
    });
    expect(jsonTreeProblem({ 'bad\u202ekey': 1 })?.message).toMatch(/^key contains bidirectional/);
    expect(jsonTreeProblem({ 'new\nline': 1 })?.message).toBe('key contains control characters');
  });

  it(`refuses nesting deeper than ${MAX_JSON_DEPTH} levels`, () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < MAX_JSON_DEPTH + 1; i++) deep = { d: deep };
    expect(jsonTreeProblem(deep)?.message).toMatch(/nested deeper/);
  });

  it('refuses numbers JSON cannot hold', () => {
    expect(jsonTreeProblem({ n: Infinity })).toEqual({ path: ['n'], message: 'is not a finite number' });
  });
});

describe('publish and worker apply the same rules', () => {
  it.each([
    ['user.nickname', { id: 1, nickname: 'x\u001b]0;owned\u0007' }],
    [
      'user.profile.constructor',
      JSON.parse('{"id":1,"profile":{"constructor":{"prototype":{}}}}') as unknown,
    ],
    ['user.bio', { id: 1, bio: 'a\ud800' }],
  ])('refuses %s at publish and in job data', (field, user) => {
    const error = publishError({ type: 'user.created', user });
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.field).toBe(field);
    const parsed = parseJobData({ ...jobData(), user }, 'orders');
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.reason).toContain(`${field}: `);
  });

  it('refuses the same in changes', () => {
    expect(publishError({ type: 'user.updated', user: { id: 1 }, changes: { a: '\u202e' } }).field).toBe(
      'changes.a',
    );
    expect(parseJobData({ ...jobData(), changes: { a: '\u202e' } }, 'orders').ok).toBe(false);
  });

  it('refuses a version above the largest safe integer in both', () => {
    expect(publishError({ type: 'user.created', user: { id: 1 }, version: 2 ** 53 }).field).toBe('version');
    expect(parseJobData({ ...jobData(), version: 2 ** 53 }, 'orders').ok).toBe(false);
  });
});

describe('event timestamps', () => {
  it('are refused more than maxTimestampAhead in the future, naming timestamp', () => {
    const error = publishError({ type: 'user.created', user: { id: 1 }, timestamp: '2026-01-02T00:00:01Z' });
    expect(error.field).toBe('timestamp');
    expect(error.reason).toBe('is more than 24h in the future (maxTimestampAhead)');
  });

  it('are accepted up to maxTimestampAhead ahead, and in the past', () => {
    for (const timestamp of ['2026-01-02T00:00:00Z', '2025-12-31T23:00:00Z', '2001-01-01T00:00:00Z']) {
      expect(
        validateEvent({ type: 'user.created', user: { id: 1 }, timestamp }, options, () => NOW).timestamp,
      ).toBe(timestamp);
    }
  });
});
