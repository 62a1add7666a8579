import { redactUrl } from '../redis.js';

/**
 * A target URL fit to show: for `redis://` URLs, the password masked (`redactUrl`) and every
 * query value masked too (a password may hide there); for any other URL, the user info, query
 * and fragment dropped (tokens often travel there). Unparseable URLs are not shown.
 */
export function redactTargetUrl(url: string | undefined): string | null {
  if (url === undefined) return null;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '(unparseable url)';
  }
  if (parsed.protocol === 'redis:' || parsed.protocol === 'rediss:') {
    const masked = new URL(redactUrl(url));
    for (const key of [...new Set(masked.searchParams.keys())]) masked.searchParams.set(key, '***');
    return masked.toString();
  }
  parsed.username = '';
  parsed.password = '';
  parsed.search = '';
  parsed.hash = '';
  return parsed.toString();
}
