/**
 * Request headers user-sync sets itself on every request it makes to a target (deliveries and
 * state reads). A target's own `headers` may not name any of them: the config refuses them,
 * so that nothing configured is ever silently dropped.
 */

/** Header names user-sync owns, lower case; any `webhook-*` header too. */
export const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  'accept',
  'content-type',
  'content-length',
  'transfer-encoding',
  'host',
  'user-agent',
  'idempotency-key',
]);

/** Whether a header is one user-sync sets itself (case-insensitive). */
export function isReservedHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return RESERVED_HEADERS.has(lower) || lower.startsWith('webhook-');
}
