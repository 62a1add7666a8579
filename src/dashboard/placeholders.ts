/**
 * Passwords and tokens that are placeholders, not secrets: the values of examples, defaults
 * and habits that anyone tries first. The dashboard refuses to serve beyond loopback with one.
 */

/**
 * Known placeholders, compared without case and without anything but letters and digits, so
 * that `Change_Me`, `CHANGE-ME` and `change me` are caught alike. `change-me-now` was the
 * compose file's default password.
 */
export const PLACEHOLDER_SECRETS: readonly string[] = [
  'change-me-now',
  'changeme',
  'change-me',
  'change-it',
  'changeit',
  'replace-me',
  'password',
  'password1',
  'password123',
  'passw0rd',
  'admin',
  'admin123',
  'administrator',
  'root',
  'secret',
  'secret123',
  'token',
  'default',
  'example',
  'test',
  'testtest',
  'letmein',
  'qwerty',
  'qwertyuiop',
  'welcome',
  'user-sync',
  'operator',
  'viewer',
  'your-password',
  'your-token',
  '12345678',
  '123456789',
  '1234567890',
  '00000000',
  'xxxxxxxx',
];

const normalize = (value: string) => value.toLowerCase().replace(/[^a-z0-9]/g, '');
const KNOWN = new Set(PLACEHOLDER_SECRETS.map(normalize));

/**
 * Whether a password or token is a known placeholder: one of `PLACEHOLDER_SECRETS` (case and
 * punctuation aside), anything that starts with "changeme" or "replaceme", or one character
 * repeated.
 */
export function isPlaceholderSecret(value: string): boolean {
  const plain = normalize(value);
  if (KNOWN.has(plain)) return true;
  if (plain.startsWith('changeme') || plain.startsWith('replaceme')) return true;
  return value.length > 0 && new Set(value).size === 1;
}
