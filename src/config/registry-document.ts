/**
 * The target registry's document: what a deployment tells producers that have nothing but a
 * Redis connection — the settings a publish needs, and each target's name, kind, event filter
 * and enabled flag. It is an allow-list built field by field from the config, so no URL,
 * header, secret, key template or Redis URL can ever reach it. Pure: reading and writing it in
 * Redis is `src/jobs/registry.ts`.
 */
import { z } from 'zod';
import { formatPath } from './parse.js';
import { DEFAULTS, configSchema, targetSchema, type SyncConfig, type TargetConfig } from './schema.js';

/** Largest document a reader accepts, in bytes of JSON (a writer refuses to write a larger one). */
export const MAX_REGISTRY_BYTES = 1_048_576;

const shape = configSchema.shape;
const ms = z.number().int().positive();

const registryTargetSchema = z.strictObject({
  service: targetSchema.shape.service,
  kind: targetSchema.shape.kind.unwrap(),
  enabled: z.boolean(),
  events: targetSchema.shape.events,
  coalesce: z.boolean(),
});

/** Version 1 of the document; durations in milliseconds. */
const registryDocumentSchema = z
  .strictObject({
    v: z.literal(1),
    prefix: shape.prefix.unwrap(),
    enabled: z.boolean(),
    partitions: shape.partitions.unwrap(),
    queueSize: shape.queueSize.unwrap(),
    dedupeWindow: ms,
    maxSnapshotBytes: shape.maxSnapshotBytes.unwrap(),
    maxTimestampAhead: ms,
    replicaAcks: shape.replicaAcks.unwrap(),
    replicaAckTimeout: ms,
    maxRetries: shape.maxRetries.unwrap(),
    targets: z.array(registryTargetSchema),
  })
  .superRefine((doc, ctx) => {
    const seen = new Set<string>();
    doc.targets.forEach((t, i) => {
      if (seen.has(t.service))
        ctx.addIssue({ code: 'custom', path: ['targets', i, 'service'], message: 'is listed twice' });
      seen.add(t.service);
    });
  });

export type RegistryDocument = z.output<typeof registryDocumentSchema>;
export type RegistryTarget = RegistryDocument['targets'][number];

/** The document of a config: the allowed fields only, in a fixed order (equal configs, equal JSON). */
export function registryDocument(config: SyncConfig): RegistryDocument {
  return {
    v: 1,
    prefix: config.prefix,
    enabled: config.enabled,
    partitions: config.partitions,
    queueSize: config.queueSize,
    dedupeWindow: config.dedupeWindow,
    maxSnapshotBytes: config.maxSnapshotBytes,
    maxTimestampAhead: config.maxTimestampAhead,
    replicaAcks: config.replicaAcks,
    replicaAckTimeout: config.replicaAckTimeout,
    maxRetries: config.maxRetries,
    targets: config.targets.map((t) => ({
      service: t.service,
      kind: t.kind,
      enabled: t.enabled,
      ...(t.events !== undefined ? { events: t.events } : {}),
      coalesce: t.coalesce,
    })),
  };
}

/**
 * Reads a document as stored, for a deployment under `prefix`. Anything but a well-formed
 * version-1 document of that prefix is refused with the reason (the field, as config errors
 * name them), never half used: a reader must not fan out to targets it cannot trust.
 */
export function parseRegistryDocument(
  text: string,
  prefix: string,
): { ok: true; doc: RegistryDocument } | { ok: false; reason: string } {
  if (Buffer.byteLength(text) > MAX_REGISTRY_BYTES)
    return { ok: false, reason: `is larger than ${MAX_REGISTRY_BYTES} bytes` };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'is not valid JSON' };
  }
  const parsed = registryDocumentSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const keys =
      issue?.code === 'unrecognized_keys' ? `${(issue as { keys?: string[] }).keys?.join(', ')}: ` : '';
    return {
      ok: false,
      reason: `${formatPath(issue?.path ?? [])}: ${keys}${issue?.message ?? 'is invalid'}`,
    };
  }
  if (parsed.data.prefix !== prefix)
    return { ok: false, reason: `prefix: is ${JSON.stringify(parsed.data.prefix)}, not this deployment's` };
  return { ok: true, doc: parsed.data };
}

/**
 * The configuration a publisher with no targets of its own runs with: its own (the prefix it
 * found the registry under, its `registryRefresh`) with the deployment's settings and targets
 * from the registry. A registry target carries only what publishing needs; the rest is filled
 * with neutral values no publish reads (no URL, no headers, no secrets).
 */
export function configFromRegistry(local: SyncConfig, doc: RegistryDocument): SyncConfig {
  const { v: _v, targets, ...deployment } = doc;
  return {
    ...local,
    ...deployment,
    targets: targets.map((t): TargetConfig => ({
      ...t,
      method: DEFAULTS.method,
      headers: {},
      secrets: [],
      timeoutMs: local.timeout,
      keyTemplate: DEFAULTS.keyTemplate,
    })),
  };
}

/** A target as one line: `orders (http, enabled, user.created|user.deleted)`. */
export function describeTarget(t: RegistryTarget): string {
  return `${t.service} (${t.kind}, ${t.enabled ? 'enabled' : 'disabled'}, ${t.events?.join('|') ?? 'all events'})`;
}

/**
 * What changes when `next` replaces `previous`, one phrase per difference: targets only in
 * one of them, targets whose kind, filter, enabled flag or coalescing differ, and settings
 * that differ. Empty when they are the same.
 */
export function registryDifferences(previous: RegistryDocument, next: RegistryDocument): string[] {
  const out: string[] = [];
  const before = new Map(previous.targets.map((t) => [t.service, t]));
  const after = new Map(next.targets.map((t) => [t.service, t]));
  const removed = [...before.keys()].filter((s) => !after.has(s));
  const added = [...after.keys()].filter((s) => !before.has(s));
  if (removed.length) out.push(`targets only in the registry (removed): ${removed.join(', ')}`);
  if (added.length) out.push(`targets only in this config (added): ${added.join(', ')}`);
  for (const [service, t] of after) {
    const old = before.get(service);
    if (old && JSON.stringify(old) !== JSON.stringify(t))
      out.push(`target ${describeTarget(old)} becomes ${describeTarget(t)}`);
  }
  for (const key of Object.keys(next) as Array<keyof RegistryDocument>) {
    if (key === 'targets') continue;
    if (previous[key] !== next[key])
      out.push(`${key}: ${JSON.stringify(previous[key])} becomes ${JSON.stringify(next[key])}`);
  }
  return out;
}
