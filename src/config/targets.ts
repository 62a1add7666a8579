/** Questions about targets that producers, workers and the sweep all ask. */
import type { EventType } from '../events.js';
import type { SyncConfig, TargetConfig } from './schema.js';

/** Whether a target takes an event of this type: enabled, and its `events` filter (if any) lists the type. */
export function targetAccepts(target: TargetConfig, event: { type: EventType }): boolean {
  return target.enabled && (target.events === undefined || target.events.includes(event.type));
}

/** The enabled targets, in config order. */
export function enabledTargets(config: Pick<SyncConfig, 'targets'>): TargetConfig[] {
  return config.targets.filter((t) => t.enabled);
}

/**
 * Every URL a target's config holds (`url`, `state.url`, `state.bulkUrl`): the URLs whose
 * credentials `redactText` masks wherever they appear in what is shown about the target.
 */
export function targetUrls(target: Pick<TargetConfig, 'url' | 'state'>): string[] {
  return [target.url, target.state?.url, target.state?.bulkUrl].filter((url) => url !== undefined);
}
