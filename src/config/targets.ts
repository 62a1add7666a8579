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

/** IPv4-mapped loopback (`::ffff:127.x.y.z`) as the URL parser writes it. */
const MAPPED_LOOPBACK_RE = /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/;

/**
 * Whether a URL's hostname (as `new URL()` gives it) is this machine: `localhost`, an address
 * in 127.0.0.0/8, or `[::1]` (IPv4-mapped loopback too). The URL parser has already turned
 * `127.1`, `0x7f.1` and `[0:0::1]` into their plain forms.
 */
export function isLoopbackHostname(hostname: string): boolean {
  const host = hostname.toLowerCase();
  if (host === 'localhost' || host === '[::1]' || MAPPED_LOOPBACK_RE.test(host)) return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * The URLs of an http target (`url`, `state.url`, `state.bulkUrl`) that send over plain
 * `http://` to a host that is not loopback: user data (and the target's headers and
 * signatures) readable and changeable by anyone on the way. Empty for other kinds, and when
 * the target is marked `allowInsecureHttp` (a private network its owner vouches for).
 */
export function insecureUrls(
  target: Pick<TargetConfig, 'kind' | 'url' | 'state' | 'allowInsecureHttp'>,
): string[] {
  if (target.kind !== 'http' || target.allowInsecureHttp === true) return [];
  return targetUrls(target).filter((url) => {
    let parsed: URL;
    try {
      parsed = new URL(url.replaceAll('{id}', 'id'));
    } catch {
      return false;
    }
    return parsed.protocol === 'http:' && !isLoopbackHostname(parsed.hostname);
  });
}
