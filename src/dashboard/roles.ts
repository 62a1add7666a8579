/**
 * Dashboard roles. `viewer` reads everything the dashboard shows; `operator` also retries failed
 * deliveries, replays and purges dead letters, pauses and resumes targets and runs sweeps. No
 * role creates or edits jobs or deletes queues (see `board-guard.ts`).
 */
import type { Request, RequestHandler } from 'express';
import { DASHBOARD_ROLES, type DashboardRole } from '../config/schema.js';

export { DASHBOARD_ROLES, type DashboardRole };

/** Methods that only read: every other method is an action. */
export const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Whether a request only reads (GET, HEAD, OPTIONS). */
export function isSafeMethod(method: string): boolean {
  return SAFE_METHODS.has(method.toUpperCase());
}

/** The role of each authenticated request, set by `requireAuth`. */
const roles = new WeakMap<Request, DashboardRole>();

/** Records the role a request authenticated as. */
export function setRole(req: Request, role: DashboardRole): void {
  roles.set(req, role);
}

/** The role a request authenticated as; undefined before authentication (e.g. /healthz). */
export function roleOf(req: Request): DashboardRole | undefined {
  return roles.get(req);
}

/** Whether `role` may do what `needed` may. */
export function hasRole(role: DashboardRole | undefined, needed: DashboardRole): boolean {
  if (role === undefined) return false;
  return DASHBOARD_ROLES.indexOf(role) >= DASHBOARD_ROLES.indexOf(needed);
}

/** Middleware: 403 `{ error }` unless the request's role is `needed` or above. */
export function requireRole(needed: DashboardRole): RequestHandler {
  return (req, res, next) => {
    if (hasRole(roleOf(req), needed)) return next();
    res.status(403).json({ error: `forbidden: this needs the ${needed} role` });
  };
}

/**
 * Middleware: a viewer may only read. Any other method from a viewer is a 403 `{ error }`,
 * wherever it is sent (JSON API, Bull Board, a route that does not exist yet).
 */
export const viewersOnlyRead: RequestHandler = (req, res, next) => {
  if (roleOf(req) !== 'viewer' || isSafeMethod(req.method)) return next();
  res.status(403).json({ error: 'forbidden: the viewer role only reads; actions need the operator role' });
};
