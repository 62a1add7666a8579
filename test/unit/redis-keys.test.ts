import { tombstoneKey, userKey } from '../../src/executors/redis/compare-and-write.js';

describe('userKey', () => {
  it('replaces {id} with the user id', () => {
    expect(userKey('user:{id}', 'abc')).toBe('user:abc');
  });

  it('accepts numeric ids', () => {
    expect(userKey('user:{id}', 42)).toBe('user:42');
  });

  it('replaces every {id}', () => {
    expect(userKey('{id}:users:{id}', 'u-1')).toBe('u-1:users:u-1');
  });

  it('keeps the rest of the template, hash tags included', () => {
    expect(userKey('{cache}:user:{id}:profile', 7)).toBe('{cache}:user:7:profile');
  });

  it('treats replacement patterns in the id literally', () => {
    expect(userKey('user:{id}', '$&$1')).toBe('user:$&$1');
  });

  it('returns the template unchanged when it has no {id}', () => {
    expect(userKey('static', 'x')).toBe('static');
  });
});

describe('tombstoneKey', () => {
  it('appends :tombstone to the user key', () => {
    expect(tombstoneKey('user:42')).toBe('user:42:tombstone');
  });

  it('composes with userKey', () => {
    expect(tombstoneKey(userKey('app:user:{id}', 'abc'))).toBe('app:user:abc:tombstone');
  });
});
