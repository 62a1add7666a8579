import { describe, expect, it } from '@jest/globals';
import { canReadState } from '../../src/executors/http/state.js';
import {
  batches,
  bulkStateBody,
  isStateVersion,
  parseBulkState,
  parseSingleState,
  stateUrl,
} from '../../src/executors/http/state-answers.js';

describe('stateUrl', () => {
  const template = 'https://crm.example/users/{id}/version';

  it('puts the id where {id} is', () => {
    expect(stateUrl(template, 'u_42-a')).toBe('https://crm.example/users/u_42-a/version');
    expect(stateUrl('https://crm.example/state?user={id}', '7')).toBe('https://crm.example/state?user=7');
  });

  it('replaces every {id}', () => {
    expect(stateUrl('http://h/{id}/x/{id}', 'ab')).toBe('http://h/ab/x/ab');
  });

  it.each([
    ['a/b', 'a%2Fb'],
    ['a?b=c', 'a%3Fb%3Dc'],
    ['a#frag', 'a%23frag'],
    ['a b', 'a%20b'],
    ['100%', '100%25'],
    ['a&b', 'a%26b'],
    ['ünï', '%C3%BCn%C3%AF'],
    ['{id}', '%7Bid%7D'],
  ])('percent-encodes %j as %s so it stays one path segment', (id, encoded) => {
    const url = stateUrl('http://h/users/{id}', id);
    expect(url).toBe(`http://h/users/${encoded}`);
    const parsed = new URL(url);
    expect(parsed.pathname.split('/')).toHaveLength(3);
    expect(parsed.search).toBe('');
    expect(parsed.hash).toBe('');
    expect(decodeURIComponent(parsed.pathname.split('/')[2] ?? '')).toBe(id);
  });

  it('refuses a template without {id}', () => {
    expect(() => stateUrl('http://h/users', 'x')).toThrow(/\{id\}/);
  });
});

describe('bulkStateBody', () => {
  it('is { "ids": [...] } with the ids as strings, in order', () => {
    expect(bulkStateBody(['b', 'a', '3'])).toBe('{"ids":["b","a","3"]}');
    expect(JSON.parse(bulkStateBody([]))).toEqual({ ids: [] });
  });
});

describe('isStateVersion', () => {
  it.each([0, 1, 42, Number.MAX_SAFE_INTEGER, null])('accepts %p', (value) => {
    expect(isStateVersion(value)).toBe(true);
  });

  it.each([
    -1,
    1.5,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.MAX_SAFE_INTEGER + 2,
    '3',
    true,
    undefined,
    {},
    [],
  ])('refuses %p', (value) => {
    expect(isStateVersion(value)).toBe(false);
  });
});

describe('parseSingleState', () => {
  it('reads { "version": n }', () => {
    expect(parseSingleState('{"version":7}', 'u1')).toBe(7);
    expect(parseSingleState(Buffer.from('{"version":0,"other":"x"}'), 'u1')).toBe(0);
    expect(parseSingleState(' {"version": 3.0} ', 'u1')).toBe(3);
  });

  it.each([
    ['not json', 'not JSON'],
    ['', 'not JSON'],
    ['[1]', 'is not { "version": n }'],
    ['7', 'is not { "version": n }'],
    ['null', 'is not { "version": n }'],
    ['{}', 'is not { "version": n }'],
    ['{"v":1}', 'is not { "version": n }'],
  ])('refuses the body %j', (body, message) => {
    expect(() => parseSingleState(body, 'u1')).toThrow(message);
  });

  it.each(['-1', '1.5', '"7"', 'null', 'true', '{}', '1e300'])(
    'refuses version %s and names the user',
    (value) => {
      expect(() => parseSingleState(`{"version":${value}}`, 'user-9')).toThrow(
        /user "user-9" has version .*not a non-negative integer/,
      );
    },
  );
});

describe('parseBulkState', () => {
  it('reads every id asked for, nulls included', () => {
    const result = parseBulkState('{"versions":{"a":3,"b":null,"c":0}}', ['a', 'b', 'c']);
    expect(result).toEqual(
      new Map<string, number | null>([
        ['a', 3],
        ['b', null],
        ['c', 0],
      ]),
    );
  });

  it('ignores ids not asked for and other fields', () => {
    const result = parseBulkState('{"versions":{"a":1,"zz":"junk"},"next":null}', ['a']);
    expect(result).toEqual(new Map([['a', 1]]));
  });

  it('treats an id left out of the answer as an error, naming it', () => {
    expect(() => parseBulkState('{"versions":{"a":1}}', ['a', 'b', 'c'])).toThrow(
      'answer leaves out 2 of the 3 ids asked for, first "b"',
    );
  });

  it.each(['-1', '2.5', '"4"', 'true', '{}', '[]', '1e300'])(
    'refuses version %s and names the id',
    (value) => {
      expect(() => parseBulkState(`{"versions":{"a":1,"odd-one":${value}}}`, ['a', 'odd-one'])).toThrow(
        /version .* for user "odd-one", not a non-negative integer or null/,
      );
    },
  );

  it.each(['not json', '[]', '{}', '{"versions":null}', '{"versions":[1,2]}', '{"versions":"a"}'])(
    'refuses the body %j',
    (body) => {
      expect(() => parseBulkState(body, ['a'])).toThrow(/not JSON|not \{ "versions"/);
    },
  );

  it('reads ids that collide with Object.prototype names as plain ids', () => {
    expect(() => parseBulkState('{"versions":{}}', ['constructor'])).toThrow(/first "constructor"/);
    expect(() => parseBulkState('{"versions":{}}', ['__proto__'])).toThrow(/first "__proto__"/);
    const result = parseBulkState('{"versions":{"__proto__":5,"toString":null}}', ['__proto__', 'toString']);
    expect(result.get('__proto__')).toBe(5);
    expect(result.get('toString')).toBeNull();
  });

  it('accepts an empty request with an empty answer', () => {
    expect(parseBulkState('{"versions":{}}', [])).toEqual(new Map());
  });
});

describe('batches', () => {
  it('cuts 1,200 ids into 500, 500 and 200, in order', () => {
    const ids = Array.from({ length: 1200 }, (_, i) => `u${i}`);
    const cut = batches(ids, 500);
    expect(cut.map((b) => b.length)).toEqual([500, 500, 200]);
    expect(cut.flat()).toEqual(ids);
  });

  it('gives no batch for no ids, one for fewer than the size', () => {
    expect(batches([], 500)).toEqual([]);
    expect(batches(['a', 'b'], 500)).toEqual([['a', 'b']]);
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses batch size %p', (size) => {
    expect(() => batches(['a'], size)).toThrow(RangeError);
  });
});

describe('canReadState', () => {
  it('is true only with a state url or bulk url', () => {
    expect(canReadState({})).toBe(false);
    expect(canReadState({ state: undefined })).toBe(false);
    expect(canReadState({ state: { url: 'http://h/{id}', batchSize: 500, concurrency: 16 } })).toBe(true);
    expect(canReadState({ state: { bulkUrl: 'http://h/bulk', batchSize: 500, concurrency: 16 } })).toBe(true);
  });
});
