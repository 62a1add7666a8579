import { Router } from 'express';
import { toError } from '../errors.js';
import type { Redis } from '../redis.js';

/** How long /readyz waits for Redis to answer PING. */
export const READY_TIMEOUT_MS = 1_000;

/** Resolves with an error message when Redis does not answer PING within `timeoutMs`, else undefined. */
export async function pingRedis(redis: Redis, timeoutMs = READY_TIMEOUT_MS): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const ping = redis.ping().then(
    () => undefined,
    (error: unknown) => `Redis did not answer PING: ${toError(error).message}`,
  );
  const deadline = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`Redis did not answer PING within ${timeoutMs} ms`), timeoutMs);
  });
  try {
    return await Promise.race([ping, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

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
    const error = await pingRedis(redis);
    if (error) res.status(503).json({ ok: false, error });
    else res.json({ ok: true });
  });
  return router;
}
