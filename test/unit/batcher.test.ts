import { describe, expect, it } from '@jest/globals';
import { Batcher } from '../../src/batcher.js';

/** A batcher whose run doubles each item, recording every batch it was given. */
function doubling(max?: number) {
  const batches: number[][] = [];
  const batcher = new Batcher<number, number>(async (items) => {
    batches.push(items);
    return items.map((i) => i * 2);
  }, max);
  return { batcher, batches };
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('Batcher', () => {
  it('sends calls made in the same turn of the event loop as one batch, answering each by its index', async () => {
    const { batcher, batches } = doubling();
    const answers = await Promise.all([1, 2, 3].map((i) => batcher.call(i)));
    expect(answers).toEqual([2, 4, 6]);
    expect(batches).toEqual([[1, 2, 3]]);
  });

  it('gathers calls made from promise callbacks of the same turn too', async () => {
    const { batcher, batches } = doubling();
    const answers = await Promise.all(
      [1, 2, 3].map((i) =>
        Promise.resolve()
          .then(() => Promise.resolve(i))
          .then((n) => batcher.call(n)),
      ),
    );
    expect(answers).toEqual([2, 4, 6]);
    expect(batches).toEqual([[1, 2, 3]]);
  });

  it('sends calls of later turns in batches of their own', async () => {
    const { batcher, batches } = doubling();
    const first = batcher.call(1);
    await nextTurn();
    const second = batcher.call(2);
    expect(await Promise.all([first, second])).toEqual([2, 4]);
    expect(batches).toEqual([[1], [2]]);
  });

  it('sends a batch at once when it reaches max, and the rest with the turn', async () => {
    const { batcher, batches } = doubling(2);
    const answers = await Promise.all([1, 2, 3, 4, 5].map((i) => batcher.call(i)));
    expect(answers).toEqual([2, 4, 6, 8, 10]);
    expect(batches).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('fails every call of a batch whose run fails, and serves the next batch', async () => {
    let fail = true;
    const batcher = new Batcher<number, number>(async (items) => {
      if (fail) throw new Error('connection lost');
      return items;
    });
    const results = await Promise.allSettled([batcher.call(1), batcher.call(2)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect((results[0] as PromiseRejectedResult).reason).toEqual(new Error('connection lost'));
    fail = false;
    expect(await batcher.call(3)).toBe(3);
  });

  it('fails every call when run throws before returning a promise, or answers with the wrong count', async () => {
    const throwing = new Batcher<number, number>(() => {
      throw new Error('sync');
    });
    await expect(throwing.call(1)).rejects.toThrow('sync');
    const short = new Batcher<number, number>(async () => [1]);
    const results = await Promise.allSettled([short.call(1), short.call(2)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(
      /batch of 2 answered with 1 results/,
    );
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses max %p', (max) => {
    expect(() => new Batcher(async (items: number[]) => items, max)).toThrow(RangeError);
  });
});
