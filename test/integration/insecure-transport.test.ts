/**
 * A target that sends user data over plain http to a host that is not loopback: one warning
 * naming it when the workers start, and `insecureTransport: true` in `/api/targets`
 * (readTargets) — unless the target is marked `allowInsecureHttp`.
 */
import { describe, expect, it } from '@jest/globals';
import { readTargets } from '../../src/dashboard/targets.js';
import { UserSyncService } from '../../src/index.js';
import { captureLogger } from '../helpers/capture-logger.js';
import { deletePrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

describe('plain http to a host that is not loopback', () => {
  it('is warned about once per target at start, and flagged in the target summary', async () => {
    const prefix = uniquePrefix('insecure');
    const redis = testRedis();
    const { logger, entries } = captureLogger('info');
    const service = new UserSyncService(
      {
        prefix,
        targets: [
          {
            service: 'public',
            url: 'http://svc:s3cr3t-value@orders.example.invalid/hooks?token=s3cr3t-value',
          },
          {
            service: 'state-only',
            url: 'https://crm.example.invalid/hooks',
            state: { bulkUrl: 'http://10.1.2.3/s' },
          },
          { service: 'private', url: 'http://orders.internal/hooks', allowInsecureHttp: true },
          { service: 'local', url: 'http://127.0.0.1:4001/hooks' },
          { service: 'tls', url: 'https://orders.example.invalid/hooks' },
          { service: 'off', url: 'http://orders.example.invalid/hooks', enabled: false },
        ],
      },
      redis,
      { logger },
    );
    try {
      await service.start();
      const warnings = entries.filter((e) => e.level === 'warn');
      expect(warnings).toEqual([
        expect.objectContaining({
          message: expect.stringMatching(
            /^target public sends user data over plain http to a host that is not loopback/,
          ),
          target: 'public',
          urls: ['http://svc:***@orders.example.invalid/hooks?token=***'],
        }),
        expect.objectContaining({ target: 'state-only', urls: ['http://10.1.2.3/s'] }),
      ]);
      expect(warnings[0]?.message).toContain('allowInsecureHttp: true');
      expect(JSON.stringify(entries)).not.toContain('s3cr3t-value');

      const targets = await readTargets(service.deployment, Date.now());
      expect(Object.fromEntries(targets.map((t) => [t.service, t.insecureTransport]))).toEqual({
        public: true,
        'state-only': true,
        private: false,
        local: false,
        tls: false,
        off: true,
      });
    } finally {
      await service.close();
      await deletePrefix(redis, prefix);
      await redis.quit();
    }
  });
});
