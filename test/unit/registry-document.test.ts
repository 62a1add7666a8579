import { describe, expect, it } from '@jest/globals';
import { parseConfig } from '../../src/config/parse.js';
import {
  MAX_REGISTRY_BYTES,
  configFromRegistry,
  parseRegistryDocument,
  registryDifferences,
  registryDocument,
} from '../../src/config/registry-document.js';

const config = parseConfig({
  prefix: '{unit}',
  partitions: 4,
  queueSize: 50,
  targets: [
    { service: 'orders', url: 'https://u:p@orders.example/hooks', events: ['user.created'], secrets: [] },
    { service: 'audit', kind: 'handler', enabled: false },
  ],
});

describe('registry document', () => {
  it('is built from the allowed fields only, and read back as it was written', () => {
    const doc = registryDocument(config);
    expect(doc.targets).toEqual([
      { service: 'orders', kind: 'http', enabled: true, events: ['user.created'], coalesce: true },
      { service: 'audit', kind: 'handler', enabled: false, coalesce: false },
    ]);
    expect(JSON.stringify(doc)).not.toMatch(/https|orders\.example|u:p/);
    expect(parseRegistryDocument(JSON.stringify(doc), '{unit}')).toEqual({ ok: true, doc });
  });

  it('gives a publisher the registry settings and targets, with nothing to deliver with', () => {
    const local = parseConfig({ prefix: '{unit}', registryRefresh: '500ms' });
    const merged = configFromRegistry(local, registryDocument(config));
    expect(merged).toMatchObject({ prefix: '{unit}', partitions: 4, queueSize: 50, registryRefresh: 500 });
    expect(merged.targets.map((t) => [t.service, t.enabled, t.url, t.secrets, t.headers])).toEqual([
      ['orders', true, undefined, [], {}],
      ['audit', false, undefined, [], {}],
    ]);
  });

  const doc = registryDocument(config);
  const withTarget = (target: object) => JSON.stringify({ ...doc, targets: [target] });
  it.each([
    ['an array', '[]', /\(root\): /],
    ['another version', '{"v":2}', /^v: /],
    ['0 partitions', JSON.stringify({ ...doc, partitions: 0 }), /^partitions: /],
    ['an unknown field', JSON.stringify({ ...doc, extra: 1 }), /extra: /],
    [
      'a target listed twice',
      JSON.stringify({ ...doc, targets: [doc.targets[0], doc.targets[0]] }),
      /targets\[1\]\.service: is listed twice/,
    ],
    [
      'a kind that is not one',
      withTarget({ service: 'a', kind: 'HTTP', enabled: true, coalesce: true }),
      /targets\[0\]\.kind/,
    ],
    [
      'enabled as a string',
      withTarget({ service: 'a', kind: 'http', enabled: 'yes', coalesce: true }),
      /targets\[0\]\.enabled/,
    ],
    [
      'an unknown event type',
      withTarget({ service: 'a', kind: 'http', enabled: true, coalesce: true, events: ['user.exploded'] }),
      /targets\[0\]\.events\[0\]/,
    ],
    ['more than 1 MB', ' '.repeat(MAX_REGISTRY_BYTES + 1), /larger than 1048576 bytes/],
  ])('refuses %s', (_name, text, reason) => {
    const parsed = parseRegistryDocument(text, '{unit}');
    expect(parsed.ok).toBe(false);
    expect(parsed.ok ? '' : parsed.reason).toMatch(reason);
  });

  it('names each difference between two documents', () => {
    const before = registryDocument(config);
    const after = registryDocument(
      parseConfig({
        prefix: '{unit}',
        partitions: 4,
        queueSize: 50,
        maxRetries: 9,
        targets: [
          { service: 'orders', url: 'https://orders.example/hooks' },
          { service: 'search', kind: 'handler' },
        ],
      }),
    );
    expect(registryDifferences(before, before)).toEqual([]);
    expect(registryDifferences(before, after)).toEqual([
      'targets only in the registry (removed): audit',
      'targets only in this config (added): search',
      'target orders (http, enabled, user.created) becomes orders (http, enabled, all events)',
      'maxRetries: 3 becomes 9',
    ]);
  });
});
