import { readFileSync } from 'node:fs';

/**
 * Reads the package version once. `src/version.ts` (tests) and `dist/version.js` (build) both
 * sit one level below package.json.
 */
function packageVersion(): string {
  try {
    const pkg: unknown = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    if (typeof pkg === 'object' && pkg !== null && 'version' in pkg && typeof pkg.version === 'string') {
      return pkg.version;
    }
  } catch {
    // Packaged without package.json beside it: callers still name user-sync.
  }
  return 'unknown';
}

/** This package's version, from package.json. */
export const VERSION = packageVersion();
