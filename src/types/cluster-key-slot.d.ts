/** cluster-key-slot (ioredis's own, no typings): the Redis Cluster hash slot of a key. */
declare module 'cluster-key-slot' {
  /** The slot (0-16383) of a key: CRC16 of its hash tag (`{…}`) if it has one, else of the whole key. */
  function calculateSlot(key: string | Buffer): number;
  export default calculateSlot;
}
