import { Router } from 'express';
import { pingRedis, type Redis } from '../redis.js';

/** How long /readyz waits for Redis to answer PING. */
export const READY_TIMEOUT_MS = 1_000;

/**
 * Health endpoints, open to all (no credentials): `GET /healthz`, 200 `{ ok: true }` while the
 * process serves; `GET /readyz`, 200 `{ ok: true }` when Redis answers PING within
 * `READY_TIMEOUT_MS`, else 503 `{ ok: false, error }`.
 */
export function healthRoutes(redis: Redis): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  router.get('/readyz', async (_req, res) => {
    const ping = await pingRedis(redis, READY_TIMEOUT_MS);
    if (ping.ok) res.json({ ok: true });
    else res.status(503).json({ ok: false, error: ping.error });
  });
  return router;
}
