/**
 * The target registry in Redis (`keyspace.deployment.registry`): one hash holding the document
 * (JSON, see config/registry-document.ts), its revision, when it last changed and who wrote it.
 * Workers, dashboards and `user-sync targets apply` write it; publishers with no targets of
 * their own read it. Each side is one script, one round trip; the revision moves only when the
 * document's content does, so a reader checks for a change by comparing revisions — with the
 * time of the write, so that a registry deleted and written again from rev 1 is not taken for
 * the one held.
 */
import { hostname } from 'node:os';
import {
  MAX_REGISTRY_BYTES,
  parseRegistryDocument,
  registryDifferences,
  registryDocument,
  type RegistryDocument,
} from '../config/registry-document.js';
import type { SyncConfig } from '../config/schema.js';
import { ConfigError, ForeignValueError } from '../errors.js';
import type { Logger } from '../logger.js';
import { LuaScript, type Redis } from '../redis.js';

/** What to do about a registry key that holds something else, said by every error about it. */
export const REGISTRY_ADVICE =
  'refused, so that no event is sent to targets read from it — run `user-sync targets apply` (or start a worker) ' +
  'to write it again, or delete the key';

/**
 * Writes the document if its content changed. KEYS: registry. ARGV: doc, now (ms), writer,
 * largest previous doc returned (bytes). Returns {'foreign', type} when the key is not a hash;
 * {'same', rev}; or {'changed', rev, previous doc ('' = none, false = too large), previous writer}.
 * A revision that is not a whole number (a hand edit) starts again from 1.
 */
const WRITE = new LuaScript(
  `
local t = redis.call('TYPE', KEYS[1]).ok
if t ~= 'none' and t ~= 'hash' then return {'foreign', t} end
local f = redis.call('HMGET', KEYS[1], 'rev', 'writer')
local rev = tonumber(f[1])
if rev and (rev ~= math.floor(rev) or rev < 0 or rev >= 9007199254740991) then rev = nil end
local size = redis.call('HSTRLEN', KEYS[1], 'doc')
local previous = false
if size <= tonumber(ARGV[4]) then
  previous = redis.call('HGET', KEYS[1], 'doc') or ''
  if rev and previous == ARGV[1] then return {'same', string.format('%d', rev)} end
end
rev = string.format('%d', (rev or 0) + 1)
redis.call('HSET', KEYS[1], 'doc', ARGV[1], 'rev', rev, 'updated', ARGV[2], 'writer', ARGV[3])
return {'changed', rev, previous, f[2] or ''}
`,
  1,
);

/**
 * Reads the document unless the reader holds this version of it already. KEYS: registry. ARGV:
 * the version held ('<rev>:<updated>', '' = none), largest doc returned (bytes). Returns
 * {'none'}; {'foreign', type}; {'same', rev}; {'too_large', rev, bytes}; or
 * {'doc', rev, doc, updated, writer}.
 */
const READ = new LuaScript(
  `
local t = redis.call('TYPE', KEYS[1]).ok
if t == 'none' then return {'none'} end
if t ~= 'hash' then return {'foreign', t} end
local v = redis.call('HMGET', KEYS[1], 'rev', 'updated')
local rev = v[1] or ''
if ARGV[1] ~= '' and rev .. ':' .. (v[2] or '') == ARGV[1] then return {'same', rev} end
local size = redis.call('HSTRLEN', KEYS[1], 'doc')
if size > tonumber(ARGV[2]) then return {'too_large', rev, size} end
local f = redis.call('HMGET', KEYS[1], 'doc', 'updated', 'writer')
return {'doc', rev, f[1] or '', f[2] or '', f[3] or ''}
`,
  1,
);

/** What a read of the registry found, before the document is trusted. */
export type RegistryRead =
  | { state: 'none' }
  | { state: 'foreign'; type: string }
  | { state: 'same'; rev: string }
  | { state: 'too_large'; rev: string; bytes: number }
  | { state: 'doc'; rev: string; doc: string; updated: string; writer: string };

/** The version of a document read in full, as `readRegistry` takes it back: `<rev>:<updated>`. */
export function registryVersion(read: { rev: string; updated: string }): string {
  return `${read.rev}:${read.updated}`;
}

/**
 * Reads the registry: everything, or only `{ state: 'same' }` when it is still at `known`
 * (a `registryVersion`).
 */
export async function readRegistry(redis: Redis, key: string, known = ''): Promise<RegistryRead> {
  const reply = (await READ.run(redis, [key], [known, MAX_REGISTRY_BYTES])) as Array<string | number>;
  const [state, a = '', b = '', c = '', d = ''] = reply.map(String);
  switch (state) {
    case 'none':
      return { state };
    case 'foreign':
      return { state, type: a };
    case 'same':
      return { state, rev: a };
    case 'too_large':
      return { state, rev: a, bytes: Number(b) };
    default:
      return { state: 'doc', rev: a, doc: b, updated: c, writer: d };
  }
}

/** The registry as last written, trusted. */
export interface RegistryEntry {
  /** Raised each time the content changes. */
  rev: number;
  /** When the content last changed (ms since the epoch). */
  updated: number;
  /** Who wrote it: `worker host:pid`, `dashboard host:pid`, `cli host:pid`. */
  writer: string;
  doc: RegistryDocument;
}

/**
 * A document read in full, trusted or refused: its entry, or the ForeignValueError that says
 * what is wrong with the key. Revisions are whole numbers; the document must be this
 * deployment's (`prefix`).
 */
export function trustRegistry(
  key: string,
  prefix: string,
  read: Exclude<RegistryRead, { state: 'none' } | { state: 'same' }>,
): RegistryEntry | ForeignValueError {
  const foreign = (what: string) => new ForeignValueError(key, what, REGISTRY_ADVICE);
  if (read.state === 'foreign') return foreign(`a ${read.type}`);
  if (read.state === 'too_large')
    return foreign(`a target registry of ${read.bytes} bytes (the most read is ${MAX_REGISTRY_BYTES})`);
  if (!/^\d{1,15}$/.test(read.rev))
    return foreign(
      `a target registry whose rev ${JSON.stringify(read.rev.slice(0, 40))} is not a whole number`,
    );
  const parsed = parseRegistryDocument(read.doc, prefix);
  if (!parsed.ok) return foreign(`a target registry whose document ${parsed.reason}`);
  return { rev: Number(read.rev), updated: Number(read.updated) || 0, writer: read.writer, doc: parsed.doc };
}

/**
 * The registry's entry, undefined when there is none; throws a ForeignValueError when the key
 * holds something user-sync cannot trust.
 */
export async function loadRegistry(
  redis: Redis,
  key: string,
  prefix: string,
): Promise<RegistryEntry | undefined> {
  const read = await readRegistry(redis, key);
  if (read.state === 'none' || read.state === 'same') return undefined;
  const entry = trustRegistry(key, prefix, read);
  if (entry instanceof ForeignValueError) throw entry;
  return entry;
}

/** Who writes the registry. */
export type RegistryWriter = 'worker' | 'dashboard' | 'cli';

/** What a write did. */
export interface RegistryWriteResult {
  /** False when the registry already held this content (its revision unchanged). */
  changed: boolean;
  rev: number;
  /** How the content written differs from what it replaced (empty when there was none). */
  differences: string[];
}

/**
 * Writes a config's targets and publish settings to the registry, unless it holds them already.
 * Last writer wins: a registry that says otherwise (another config's targets) is replaced, with
 * a warning naming each difference, so that two configs taking turns show in the logs. A
 * config without targets writes nothing (it would leave producers with none): throws a
 * ConfigError. A key holding something else than a registry is left alone: ForeignValueError.
 */
export async function writeRegistry(
  redis: Redis,
  key: string,
  config: SyncConfig,
  options: { writer: RegistryWriter; logger: Logger; now?: () => number },
): Promise<RegistryWriteResult> {
  if (config.targets.length === 0) {
    throw new ConfigError('targets', 'lists none: there is nothing to write to the target registry');
  }
  const doc = registryDocument(config);
  const text = JSON.stringify(doc);
  if (Buffer.byteLength(text) > MAX_REGISTRY_BYTES) {
    throw new ConfigError('targets', `make a registry document larger than ${MAX_REGISTRY_BYTES} bytes`);
  }
  const writer = `${options.writer} ${hostname()}:${process.pid}`;
  const now = (options.now ?? Date.now)();
  const reply = (await WRITE.run(redis, [key], [text, now, writer, MAX_REGISTRY_BYTES])) as Array<
    string | number | null
  >;
  const [state, rev, previous, previousWriter] = reply;
  if (state === 'foreign') throw new ForeignValueError(key, `a ${String(rev)}`, REGISTRY_ADVICE);
  if (state === 'same') return { changed: false, rev: Number(rev), differences: [] };
  const differences = describeReplaced(previous, config.prefix);
  if (differences.length > 0) {
    options.logger.warn(
      'the target registry said otherwise than this config: replaced with this config (last writer wins)',
      { registry: key, rev: Number(rev), differences, previous_writer: previousWriter || undefined },
    );
  } else {
    options.logger.info('target registry written', {
      registry: key,
      rev: Number(rev),
      targets: doc.targets.length,
    });
  }
  return { changed: true, rev: Number(rev), differences };

  function describeReplaced(old: string | number | null | undefined, prefix: string): string[] {
    if (old === '' || old === undefined) return [];
    if (typeof old !== 'string') return ['the previous document was too large to read'];
    const parsed = parseRegistryDocument(old, prefix);
    return parsed.ok ? registryDifferences(parsed.doc, doc) : [`the previous document ${parsed.reason}`];
  }
}
