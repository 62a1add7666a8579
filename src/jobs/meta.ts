/**
 * The deployment's shape, recorded in Redis: the number of partitions its keys were written
 * with. A process configured with another number would read and write the wrong slices of the
 * ledger and the wrong queues, so it refuses to start instead.
 */
import { ConfigError } from '../errors.js';
import type { Redis } from '../redis.js';
import type { Keyspace } from './names.js';

/**
 * Records the deployment's partitions on first use, and checks them afterwards. A deployment
 * from before partitions existed (no record, data under its prefix) counts as 1. Throws a
 * ConfigError (field `partitions`) that says what to do when they differ.
 */
export async function checkPartitions(redis: Redis, keyspace: Keyspace): Promise<void> {
  const { meta, prefix } = keyspace.deployment;
  let recorded = await redis.hget(meta, 'partitions');
  if (recorded === null) {
    // Older deployments kept everything under the prefix: one partition, whatever is configured now.
    const legacy = keyspace.partitions > 1 && (await redis.zcard(`${prefix}:users`)) > 0;
    await redis.hsetnx(meta, 'partitions', legacy ? '1' : String(keyspace.partitions));
    recorded = await redis.hget(meta, 'partitions');
  }
  if (recorded !== String(keyspace.partitions)) {
    throw new ConfigError(
      'partitions',
      `is ${keyspace.partitions}, but the deployment under prefix ${prefix} was written with ${recorded}: ` +
        `set partitions to ${recorded}, or move the deployment to ${keyspace.partitions} partitions as the README's ` +
        '"Changing partitions" describes (drain, repartition, start)',
    );
  }
}
