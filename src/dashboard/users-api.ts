/**
 * `GET /api/users/:id`: one user across the deployment (`Deployment.lookupUser`), for the
 * support ticket that asks "where is user 42?". Personal values of the snapshot are masked;
 * `?reveal=1` shows them, to operators only (a viewer asking gets a 403), and is recorded in the
 * log with the role that asked.
 */
import type { Request, Router } from 'express';
import { z } from 'zod';
import type { Deployment } from '../deployment.js';
import { ID_MESSAGE, ID_RE } from '../jobs/event-fields.js';
import { HttpError, parseInput } from './http.js';
import { hasRole, roleOf } from './roles.js';

/** Path of GET /api/users/:id: a user id as published (never a pattern, never a path). */
const userParams = z.strictObject({
  id: z.string().regex(ID_RE, `${ID_MESSAGE} (a user id as published)`),
});

/** Query of GET /api/users/:id. */
const userQuery = z.strictObject({
  reveal: z
    .enum(['0', '1', 'false', 'true'], { error: 'must be 1 (or true) to reveal, 0 (or false)' })
    .optional(),
});

/** Adds `GET /users/:id` to the API router. */
export function mountUserRoutes(
  router: Router,
  deployment: Deployment,
  audit: (req: Request, action: string, fields: Record<string, unknown>) => void,
): void {
  router.get('/users/:id', async (req, res) => {
    const { id } = parseInput(userParams, req.params);
    const query = parseInput(userQuery, req.query);
    const reveal = query.reveal === '1' || query.reveal === 'true';
    if (reveal && !hasRole(roleOf(req), 'operator'))
      throw new HttpError(403, 'forbidden: reveal shows personal data and needs the operator role');
    const lookup = await deployment.lookupUser(id, { reveal });
    if (reveal) audit(req, 'reveal user', { user_id: id });
    res.json(lookup);
  });
}
