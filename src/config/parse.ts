/**
 * Validating a configuration object: the schema (`schema.ts`) field by field, then the rules
 * that span fields — a target's kind from its URL, the URL its kind needs, secrets resolved
 * from the environment, state reads only for http targets, headers user-sync owns, credentials
 * given twice, unique services. Every error names the field; a URL it echoes is redacted.
 */
import { ConfigError } from '../errors.js';
import { redactUrl } from '../redact.js';
import { isReservedHeader } from './headers.js';
import {
  DEFAULTS,
  configSchema,
  type ParsedConfig,
  type ParsedTarget,
  type SyncConfig,
  type TargetConfig,
} from './schema.js';

/** A zod issue's path as the config's errors name fields: `targets[1].url`. */
export function formatPath(segments: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out ? `.${String(segment)}` : String(segment);
  }
  return out || '(root)';
}

function inferKind(target: ParsedTarget, index: number): string {
  if (target.kind) return target.kind;
  const url = target.url ?? '';
  if (/^rediss?:\/\//i.test(url)) return 'redis';
  if (/^https?:\/\//i.test(url)) return 'http';
  throw new ConfigError(
    `targets[${index}].kind`,
    'is required when url is not an http(s):// or redis:// URL (http, redis, handler or a registered kind)',
  );
}

function resolveSecret(value: string, field: string, env: NodeJS.ProcessEnv): string {
  let resolved = value;
  if (value.startsWith('env:')) {
    const name = value.slice(4);
    const fromEnv = env[name];
    if (!fromEnv) throw new ConfigError(field, `environment variable ${name} is not set`);
    resolved = fromEnv;
  }
  if (!resolved.startsWith('whsec_'))
    throw new ConfigError(field, 'must start with "whsec_" (Standard Webhooks)');
  const key = resolved.slice(6);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(key) || Buffer.from(key, 'base64').length < 16) {
    throw new ConfigError(field, 'must be "whsec_" followed by base64 of at least 16 bytes');
  }
  return resolved;
}

/** Whether a URL (a state URL template too) carries user info: `user:password@` or `token@`. */
function hasUserInfo(url: string): boolean {
  try {
    const parsed = new URL(url.replaceAll('{id}', 'id'));
    return parsed.username !== '' || parsed.password !== '';
  } catch {
    return false;
  }
}

/**
 * A target with credentials in a URL's user info and an `authorization` header (any case)
 * would send one of them silently; it must say which. Throws a ConfigError naming the URL.
 */
function checkOneAuthorization(target: ParsedTarget, field: (name: string) => string): void {
  const header = Object.keys(target.headers).find((name) => name.toLowerCase() === 'authorization');
  if (header === undefined) return;
  const urls = { url: target.url, 'state.url': target.state?.url, 'state.bulkUrl': target.state?.bulkUrl };
  for (const [name, url] of Object.entries(urls)) {
    if (url !== undefined && hasUserInfo(url)) {
      throw new ConfigError(
        field(name),
        `carries credentials (user info before "@") while headers.${header} is set too; ` +
          'only one of them would be sent: remove the user info from the URL or the header',
      );
    }
  }
}

function finishTarget(target: ParsedTarget, index: number, config: ParsedConfig, env: NodeJS.ProcessEnv) {
  const kind = inferKind(target, index);
  const field = (name: string) => `targets[${index}].${name}`;
  if (kind === 'http' || kind === 'redis') {
    if (!target.url) throw new ConfigError(field('url'), `is required for a ${kind} target`);
    let url: URL;
    try {
      url = new URL(target.url);
    } catch {
      throw new ConfigError(field('url'), `is not a valid URL: ${JSON.stringify(redactUrl(target.url))}`);
    }
    const protocols = kind === 'http' ? ['http:', 'https:'] : ['redis:', 'rediss:'];
    if (!protocols.includes(url.protocol)) {
      throw new ConfigError(field('url'), `must use ${protocols.join(' or ')} for a ${kind} target`);
    }
  }
  if (target.state !== undefined) {
    if (kind !== 'http')
      throw new ConfigError(field('state'), `is for http targets; a ${kind} target cannot use it`);
    for (const key of ['url', 'bulkUrl'] as const) {
      const value = target.state[key];
      if (value === undefined) continue;
      let parsed: URL | undefined;
      try {
        parsed = new URL(value.replaceAll('{id}', 'id'));
      } catch {
        parsed = undefined;
      }
      if (!parsed || !['http:', 'https:'].includes(parsed.protocol)) {
        throw new ConfigError(field(`state.${key}`), 'must be an http:// or https:// URL');
      }
    }
  }
  for (const name of Object.keys(target.headers)) {
    if (isReservedHeader(name)) {
      throw new ConfigError(field(`headers.${name}`), 'is set by user-sync and cannot be overridden');
    }
  }
  checkOneAuthorization(target, field);
  const stateSecrets = target.state?.secrets?.map((s, i) =>
    resolveSecret(s, field(`state.secrets[${i}]`), env),
  );
  const result: TargetConfig = {
    ...target,
    ...(target.state !== undefined
      ? { state: { ...target.state, ...(stateSecrets !== undefined ? { secrets: stateSecrets } : {}) } }
      : {}),
    kind,
    secrets: target.secrets.map((s, i) => resolveSecret(s, field(`secrets[${i}]`), env)),
    timeoutMs: target.timeoutMs ?? config.timeout,
    coalesce: target.coalesce ?? (kind === 'http' || kind === 'redis'),
    keyTemplate: target.keyTemplate ?? DEFAULTS.keyTemplate,
  };
  return result;
}

/**
 * The partitions a spec such as "0-7,12" names, sorted, each once. Throws a ConfigError
 * (field `workerPartitions`) for a number outside 0…partitions-1 or a backwards range.
 */
export function partitionList(spec: string, partitions: number, field = 'workerPartitions'): number[] {
  const out = new Set<number>();
  for (const part of spec.split(',')) {
    const [from, to = from] = part.split('-').map((n) => Number(n.trim())) as [number, number?];
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from > to) {
      throw new ConfigError(field, `"${part.trim()}" is not a partition or a range of them, such as 0-7`);
    }
    if (to >= partitions) {
      throw new ConfigError(
        field,
        `names partition ${to}, but there are ${partitions} (0-${partitions - 1})`,
      );
    }
    for (let p = from; p <= to; p++) out.add(p);
  }
  return [...out].sort((a, b) => a - b);
}

/** A Redis Cluster node: where to connect first, and the credentials its URL gave. */
export interface ClusterNode {
  host: string;
  port: number;
  username?: string;
  password?: string;
  /** `rediss://`: connect with TLS. */
  tls?: boolean;
}

/**
 * The nodes of `redisClusterNodes` / REDIS_CLUSTER_NODES: `host:port` or `redis://host:port`
 * items, as a list or one comma-separated string. Throws a ConfigError naming the item.
 */
export function clusterNodes(value: string | readonly string[], field = 'redisClusterNodes'): ClusterNode[] {
  const items = (typeof value === 'string' ? value.split(',') : value).map((v) => v.trim()).filter(Boolean);
  if (items.length === 0)
    throw new ConfigError(field, 'names no node: give host:port items separated by commas');
  return items.map((item) => {
    const url = /^[a-z]+:\/\//i.test(item) ? item : `redis://${item}`;
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    const port = parsed?.port ? Number(parsed.port) : parsed ? 6379 : NaN;
    if (!parsed || !/^rediss?:$/.test(parsed.protocol) || !parsed.hostname || !(port > 0 && port < 65536)) {
      throw new ConfigError(field, `${JSON.stringify(redactUrl(item))} is not host:port or a redis:// URL`);
    }
    return {
      host: parsed.hostname.replace(/^\[|\]$/g, ''),
      port,
      ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
      ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
      ...(parsed.protocol === 'rediss:' ? { tls: true } : {}),
    };
  });
}

/**
 * Validates a configuration object (from a file, or built in code) and fills in defaults.
 * Throws a ConfigError naming the first bad field and the reason.
 */
export function parseConfig(
  input: unknown,
  options: { env?: NodeJS.ProcessEnv; source?: string } = {},
): SyncConfig {
  const env = options.env ?? process.env;
  const parsed = configSchema.safeParse(input ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    if (!issue) throw new ConfigError('(root)', 'is invalid', options.source);
    let reason = issue.message;
    if (issue.code === 'unrecognized_keys') {
      const keys = (issue as { keys?: string[] }).keys ?? [];
      const at = formatPath(issue.path);
      throw new ConfigError(
        at === '(root)' ? keys.join(', ') : `${at}.${keys.join(', ')}`,
        'is not a known field',
        options.source,
      );
    }
    if (issue.code === 'invalid_type' && /received undefined/.test(reason)) reason = 'is required';
    throw new ConfigError(formatPath(issue.path), reason, options.source);
  }
  const config = parsed.data;
  try {
    const targets = config.targets.map((t, i) => finishTarget(t, i, config, env));
    const seen = new Map<string, number>();
    targets.forEach((t, i) => {
      const earlier = seen.get(t.service);
      if (earlier !== undefined) {
        throw new ConfigError(
          `targets[${i}].service`,
          `"${t.service}" is already used by targets[${earlier}]`,
        );
      }
      seen.set(t.service, i);
    });
    if (config.workerPartitions !== undefined) partitionList(config.workerPartitions, config.partitions);
    if (config.redisClusterNodes !== undefined) {
      clusterNodes(config.redisClusterNodes);
      if (!/\{[^}]+\}/.test(config.prefix)) {
        throw new ConfigError(
          'prefix',
          `is ${JSON.stringify(config.prefix)}, without a {hash tag}: on Redis Cluster a queue's keys and a publish's must share a slot (e.g. {user-sync})`,
        );
      }
    }
    return { ...config, targets };
  } catch (error) {
    if (error instanceof ConfigError && options.source)
      throw new ConfigError(error.field, error.reason, options.source);
    throw error;
  }
}
