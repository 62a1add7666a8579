/**
 * cluster-key-slot (a dependency of ioredis, which pins it) ships no types. It is CommonJS:
 * `module.exports = generate`, so under NodeNext it is a default import.
 */
declare module 'cluster-key-slot' {
  interface KeySlot {
    /** The Redis Cluster hash slot (0–16383) of a key, honouring a `{hash tag}`. */
    (key: string | Buffer): number;
    /** The common slot of all `keys`, or -1 when they do not share one. */
    generateMulti(keys: ReadonlyArray<string | Buffer>): number;
  }
  const keySlot: KeySlot;
  export = keySlot;
}
