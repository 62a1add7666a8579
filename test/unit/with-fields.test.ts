import { describe, expect, it } from '@jest/globals';
import { withFields } from '../../src/with-fields.js';

describe('withFields', () => {
  it('is { ...object, ...fields }: the fields win, neither object is changed', () => {
    const object = { a: 1, b: 2 };
    const fields = { b: 3, c: 4 };
    const made = withFields(object, fields);
    expect(made).toEqual({ ...object, ...fields });
    expect(Object.keys(made)).toEqual(['a', 'b', 'c']);
    expect(object).toEqual({ a: 1, b: 2 });
    expect(made).not.toBe(object);
  });

  it('copies own enumerable properties only, as a spread does: never a prototype from hostile data', () => {
    const hostile = JSON.parse('{"__proto__": {"polluted": true}, "userId": "u1"}') as object;
    const made = withFields(hostile, { service: 'billing' });
    expect(Object.getPrototypeOf(made)).toBe(Object.prototype);
    expect((made as { polluted?: unknown }).polluted).toBeUndefined();
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
    expect(made).toEqual({ ...hostile, service: 'billing' });
  });
});
