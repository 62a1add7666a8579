/**
 * A master of the cluster killed with SIGKILL while events are published and delivered: a
 * replica takes over, workers and publishers carry on by themselves. With `replicaAcks: 1`
 * every publish that resolved is delivered; with `replicaAcks: 0` the test reports how many
 * were lost, if any, and the sweep brings every target back to the ledger.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { clusterNodes } from '../../src/config/parse.js';
import { ReplicationError } from '../../src/errors.js';
import { createLogger } from '../../src/logger.js';
import { connectCluster, type Cluster } from '../../src/redis.js';
import { UserSyncService } from '../../src/service.js';
import { newSecret } from '../helpers/harness.js';
import { waitFor } from '../helpers/redis.js';
import { keySlot, startRedisCluster, type RedisCluster } from '../helpers/redis-cluster.js';
import { startVerifyingReceiver, type VerifyingReceiver } from '../helpers/verifying-receiver.js';

const PARTITIONS = 12;
const USERS = 120;
const log = (message: string) => process.stderr.write(`[cluster failover] ${message}\n`);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe('a master killed mid-run', () => {
  let cluster: RedisCluster | undefined;
  let client: Cluster | undefined;
  let service: UserSyncService | undefined;
  let receiver: VerifyingReceiver | undefined;

  afterEach(async () => {
    await service?.close().catch(() => undefined);
    client?.disconnect();
    await receiver?.close();
    await cluster?.stop();
  });

  /**
   * Publishes versions 1, 2, … of users 1..USERS in rounds while a master is killed, retrying
   * a publish that fails (as a caller would, same event id). Returns the last version of each
   * user whose publish resolved.
   */
  async function run(
    replicaAcks: number,
  ): Promise<{ resolved: Map<string, number>; service: UserSyncService }> {
    cluster = await startRedisCluster({ clusterNodeTimeoutMs: 1_000 });
    client = connectCluster(clusterNodes(cluster.nodesEnv));
    const secret = newSecret();
    receiver = await startVerifyingReceiver(secret);
    service = new UserSyncService(
      {
        prefix: '{us-failover}',
        partitions: PARTITIONS,
        replicaAcks,
        replicaAckTimeout: 500,
        retryInterval: 100,
        maxRetryInterval: 1_000,
        maxRetries: 20,
        lockDuration: 5_000,
        autoRepair: true,
        targets: [
          { service: 'crm', url: receiver.url, secrets: [secret], state: { bulkUrl: receiver.bulkUrl } },
        ],
      },
      client,
      { logger: createLogger({ silent: true }) },
    );
    await service.start();
    const publisher = service.createPublisher('accounts');
    const resolved = new Map<string, number>();
    let failures = 0;
    let replicationRefusals = 0;
    const publish = async (id: number, version: number) => {
      for (let attempt = 0; attempt < 200; attempt++) {
        try {
          await publisher.publishUserUpdated({ id, username: `u${id}-v${version}` }, undefined, {
            id: `e-${id}-${version}`,
            version,
          });
          resolved.set(String(id), version);
          return;
        } catch (error) {
          failures++;
          if (error instanceof ReplicationError) replicationRefusals++;
          await sleep(100);
        }
      }
      throw new Error(`publish of user ${id} v${version} never went through`);
    };

    // The master that serves partition 0's slot dies during round 2.
    const victim = await cluster.masterForSlot(keySlot(service.deployment.keyspace.partition(0).prefix));
    for (let version = 1; version <= 4; version++) {
      if (version === 2) {
        // Published in waves over ~5 s, so that the kill and the failover fall in the middle.
        const waves = (async () => {
          for (let from = 1; from <= USERS; from += 10) {
            await Promise.all(Array.from({ length: 10 }, (_, i) => publish(from + i, version)));
            await sleep(400);
          }
        })();
        await sleep(1_000);
        await cluster.kill(victim);
        log(`killed master ${victim.port} with publishes and deliveries in flight`);
        const promoted = await cluster.waitForFailover(victim, 30_000);
        log(`replica ${promoted.port} took over`);
        // The old master comes back as a replica of the new one, so WAIT has a replica again.
        await cluster.restart(victim);
        await waves;
        await cluster.waitForHealthy(30_000);
      } else {
        await Promise.all(Array.from({ length: USERS }, (_, i) => publish(i + 1, version)));
      }
    }
    log(
      `replicaAcks ${replicaAcks}: ${failures} publish attempts failed and were retried (${replicationRefusals} by too few replicas)`,
    );
    await waitFor(async () => (await service!.getQueueStatus()).queue_length === 0, {
      timeoutMs: 90_000,
      intervalMs: 250,
      what: 'every queue drained after the failover',
    });
    return { resolved, service };
  }

  it('with replicaAcks 1, every publish that resolved is delivered', async () => {
    const { resolved } = await run(1);
    const missing = [...resolved].filter(([user, version]) => (receiver!.users.get(user) ?? 0) < version);
    expect(missing).toEqual([]);
    expect(receiver!.badSignatures).toBe(0);
    expect([...receiver!.wentBackwards]).toEqual([]);
  }, 240_000);

  it('with replicaAcks 0, reports what a failover lost, and the sweep brings the target back to the ledger', async () => {
    const { resolved, service: svc } = await run(0);
    const lost = [...resolved].filter(([user, version]) => (receiver!.users.get(user) ?? 0) < version);
    log(
      `replicaAcks 0: ${lost.length} of ${resolved.size} users' last resolved publish never reached the target`,
    );
    const sweep = await svc.runSweep();
    await waitFor(async () => (await svc.getQueueStatus()).queue_length === 0, {
      timeoutMs: 60_000,
      what: 'repairs',
    });
    const again = await svc.runSweep();
    expect(again?.targets.crm).toMatchObject({ in_sync: USERS, missing: 0, stale: 0 });
    log(`first sweep after the failover: ${JSON.stringify(sweep?.targets.crm)}`);
    expect([...receiver!.wentBackwards]).toEqual([]);
  }, 240_000);
});
