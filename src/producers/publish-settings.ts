/**
 * Where a publisher's targets and settings come from. A config with targets is used as it is.
 * A config without any (a process that has only `REDIS_URL`) takes them from the deployment's
 * target registry in Redis: read on the first publish, then checked for a new revision at most
 * every `registryRefresh` — one round trip that the publishes waiting on it share — and read
 * again only when it changed. No targets anywhere, or a registry that cannot be trusted, and
 * every publish is refused with the reason: an event nothing will deliver is not accepted.
 */
import { defaultConfigPath } from '../config/load.js';
import { configFromRegistry } from '../config/registry-document.js';
import { configSchema, type SyncConfig } from '../config/schema.js';
import { ConfigError, ForeignValueError } from '../errors.js';
import { Keyspace, deploymentKeys } from '../jobs/names.js';
import { deliveryJobOptions, storedJobOptions } from '../jobs/queues.js';
import { readRegistry, registryVersion, trustRegistry } from '../jobs/registry.js';
import type { Logger } from '../logger.js';
import type { Redis } from '../redis.js';
import type { PublisherOptions } from './publisher.js';
import type { ValidationOptions } from './validation.js';

/** What one publish runs with: the config in effect, and what is derived from it once. */
export interface PublishSettings {
  config: SyncConfig;
  keyspace: Keyspace;
  validation: ValidationOptions;
  /** The BullMQ options every delivery job is stored with, as JSON. */
  jobOptions: string;
  /** The registry's revision these came from; undefined when they are the config's own. */
  rev: number | undefined;
}

export interface PublishSettingsOptions {
  /** The deployment's keys, when the caller has them (the service's). */
  keyspace?: Keyspace | undefined;
  /** Accepted user statuses and the publishing service, for validation. */
  statuses: readonly string[];
  source: string;
  /** Whether the config was given to the publisher (else it is `loadConfig()`'s), for errors. */
  configGiven: boolean;
  logger: Logger;
}

/** The last look at the registry: the version seen and what it gave (settings, or why not). */
interface Looked {
  /** `registryVersion` of the document read ('' = none, or not a document). */
  version: string;
  outcome: PublishSettings | Error;
  /** performance.now() of the look. */
  at: number;
}

export class PublishSettingsSource {
  /** The settings of the last publish (the config's own until the registry was read). */
  latest: PublishSettings;
  private readonly fromRegistry: boolean;
  private readonly registryKey: string;
  private looked: Looked | undefined;
  private looking: Promise<PublishSettings> | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly local: SyncConfig,
    private readonly options: PublishSettingsOptions,
  ) {
    this.latest = this.settings(local, [options.keyspace], undefined);
    // enabled: false is an explicit no-op, whatever the registry says.
    this.fromRegistry = local.targets.length === 0 && local.enabled;
    this.registryKey = deploymentKeys(local.prefix).registry;
  }

  /** The settings for the next publish. Rejects when there are no targets, or none to trust. */
  current(): Promise<PublishSettings> {
    if (!this.fromRegistry) return Promise.resolve(this.latest);
    const looked = this.looked;
    if (looked && !(looked.outcome instanceof Error)) {
      if (performance.now() - looked.at < this.local.registryRefresh) return Promise.resolve(looked.outcome);
    }
    // A failed look is not kept for the interval: the next publish looks again (one round trip,
    // the document itself only if its revision moved), so a worker starting is seen at once.
    this.looking ??= this.look().finally(() => (this.looking = undefined));
    return this.looking;
  }

  private async look(): Promise<PublishSettings> {
    const previous = this.looked;
    const read = await readRegistry(this.redis, this.registryKey, previous?.version ?? '');
    let looked: Looked;
    if (read.state === 'same' && previous) {
      looked = { ...previous, at: performance.now() };
    } else if (read.state === 'none' || read.state === 'same') {
      looked = { version: '', outcome: this.noTargets('does not exist'), at: performance.now() };
    } else {
      const entry = trustRegistry(this.registryKey, this.local.prefix, read);
      const version = read.state === 'doc' ? registryVersion(read) : '';
      let outcome: PublishSettings | Error;
      if (entry instanceof ForeignValueError) outcome = entry;
      else if (entry.doc.targets.length === 0) outcome = this.noTargets(`(rev ${entry.rev}) lists none`);
      else {
        const config = configFromRegistry(this.local, entry.doc);
        outcome = this.settings(config, [this.options.keyspace, this.latest.keyspace], entry.rev);
        this.options.logger.info('targets read from the registry', {
          registry: this.registryKey,
          rev: entry.rev,
          targets: entry.doc.targets.map((t) => t.service),
        });
      }
      looked = { version, outcome, at: performance.now() };
    }
    this.looked = looked;
    if (looked.outcome instanceof Error) throw looked.outcome;
    this.latest = looked.outcome;
    return looked.outcome;
  }

  /** The error of a publish with no targets: where it looked, and how to give it some. */
  private noTargets(registryState: string): ConfigError {
    const where = this.options.configGiven
      ? 'the config given to the publisher lists none'
      : `its config (${defaultConfigPath()} if it exists, and USER_SYNC_* variables) lists none`;
    return new ConfigError(
      'targets',
      `there are no targets to publish to: ${where}, and the target registry in Redis (${this.registryKey}) ` +
        `${registryState}. Start a worker of this deployment (it writes the registry), run \`user-sync targets apply\` ` +
        "with the deployment's config, or give the publisher a config with targets; nothing was published",
    );
  }

  /** Derives what every publish needs from a config, reusing the keyspace when its shape is the same. */
  private settings(
    config: SyncConfig,
    keyspaces: ReadonlyArray<Keyspace | undefined>,
    rev: number | undefined,
  ): PublishSettings {
    const reuse = keyspaces.find(
      (k) => k !== undefined && k.prefix === config.prefix && k.partitions === config.partitions,
    );
    return {
      config,
      keyspace: reuse ?? new Keyspace(config.prefix, config.partitions),
      validation: {
        maxSnapshotBytes: config.maxSnapshotBytes,
        maxTimestampAheadMs: config.maxTimestampAhead,
        statuses: this.options.statuses,
        source: this.options.source,
      },
      jobOptions: storedJobOptions(deliveryJobOptions(config)),
      rev,
    };
  }
}

/** The names PublisherOptions has (the compiler keeps this list whole): anything else is a mistake. */
const OPTION_NAMES = {
  config: true,
  logger: true,
  statuses: true,
  now: true,
  keyspace: true,
} satisfies Record<keyof PublisherOptions, true>;

/**
 * Refuses options the publisher does not know, naming them: above all a config passed as the
 * options object itself (`new UserEventPublisher(redis, 'svc', config)`), which would otherwise
 * be ignored while the publisher went on with `loadConfig()`'s.
 */
export function checkOptionNames(options: object): void {
  for (const name of Object.keys(options)) {
    if (Object.hasOwn(OPTION_NAMES, name)) continue;
    if (Object.hasOwn(configSchema.shape, name))
      throw new ConfigError(
        name,
        'is a config field, given as a publisher option: pass the config as { config: { ... } }',
      );
    throw new ConfigError(name, `is not a publisher option (${Object.keys(OPTION_NAMES).join(', ')})`);
  }
}
