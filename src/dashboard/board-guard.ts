/**
 * What Bull Board may do, as an allow-list of its API routes by method and path. Reading (GET)
 * is for every authenticated role; of Bull Board's actions, operators may retry failed jobs and
 * pause or resume a target's queue, and nothing else: no role can add a job, edit a job's data
 * or options, delete a job, clean, empty or obliterate a queue, promote jobs, or change a
 * queue's concurrency or rate limit. A route a future Bull Board adds is refused until it is
 * listed here.
 *
 * Two layers, both by allow-list: `boardActionGuard`, in front of Bull Board, resolves the
 * request's method and path against Bull Board's own route table, as its router would, and
 * checks what an allowed action touches (the queue, the job's state); `boardHooks`, inside
 * Bull Board, sees the route Bull Board itself resolved and refuses any action route not
 * listed, should the two ever disagree on what a path means.
 */
import type { createBullBoard } from '@bull-board/api';
import { appRoutes } from '@bull-board/api/dist/routes.js';
import type { Queue } from 'bullmq';
import type { RequestHandler, Response } from 'express';
import type { Deployment } from '../deployment.js';
import { DEAD_LETTER_QUEUE } from '../jobs/names.js';
import { isSafeMethod, roleOf, type DashboardRole } from './roles.js';

/** Bull Board's hooks option. */
export type BoardHooks = NonNullable<
  NonNullable<Parameters<typeof createBullBoard>[0]['options']>['handlerHooks']
>;

/**
 * Bull Board's action routes an operator may call, by method and path exactly as Bull Board's
 * route table declares them (node_modules/@bull-board/api/dist/routes.js).
 */
export const OPERATOR_BOARD_ACTIONS = {
  /** Retry every failed job of a queue (only `failed`: a completed delivery is never sent again by hand). */
  retryAll: { method: 'put', route: '/api/queues/:queueName/retry/:queueStatus' },
  /** Pause a target's delivery queue: its jobs wait, nothing is lost. */
  pause: { method: 'put', route: '/api/queues/:queueName/pause' },
  /** Resume a target's delivery queue. */
  resume: { method: 'put', route: '/api/queues/:queueName/resume' },
  /** Retry one failed job. */
  retryJob: { method: 'put', route: '/api/queues/:queueName/:jobId/retry' },
} as const;

export type BoardAction = keyof typeof OPERATOR_BOARD_ACTIONS;

const ALLOWED_ROUTES = new Set(
  Object.values(OPERATOR_BOARD_ACTIONS).map(({ method, route }) => `${method} ${route}`),
);

/** The answer to every other action: what the dashboard is for, and what it is not. */
export const NEVER_ALLOWED =
  'the dashboard never allows this: no role can add, edit or delete jobs, clean, empty or obliterate ' +
  'queues, promote jobs, or change concurrency or rate limits (operators may retry failed jobs and ' +
  'pause or resume a target)';

/** A route path as a regular expression: `:name` is one path segment; case and a trailing slash aside, as express matches. */
function routePattern(route: string): RegExp {
  const source = route
    .split('/')
    .map((part) => (part.startsWith(':') ? '([^/]+)' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${source}/?$`, 'i');
}

/**
 * Bull Board's API routes from its own table, compiled, in the order it matches them. Routes
 * whose path is more than plain segments and `:name` parameters are left out: a request for
 * one resolves to nothing here, and nothing is refused for that reason alone but an action,
 * which is refused anyway.
 */
const BOARD_ROUTES = appRoutes.api.flatMap((definition) =>
  [definition.method].flat().flatMap((method) =>
    [definition.route]
      .flat()
      .filter((route) => /^(\/(:?[A-Za-z0-9_.-]+))+$/.test(route))
      .map((route) => ({
        key: `${method} ${route}`,
        method: method.toUpperCase(),
        pattern: routePattern(route),
        names: route
          .split('/')
          .filter((part) => part.startsWith(':'))
          .map((part) => part.slice(1)),
      })),
  ),
);

const ACTION_BY_ROUTE = new Map(
  Object.entries(OPERATOR_BOARD_ACTIONS).map(([action, { method, route }]) => [
    `${method} ${route}`,
    action as BoardAction,
  ]),
);

/**
 * The route of Bull Board's table a request reaches, as `"<method> <route>"`, with its decoded
 * parameters: the first that matches, as Bull Board's router picks it (HEAD as GET). Undefined
 * when none does, or when a parameter does not decode. Pure.
 */
export function resolveBoardRoute(
  method: string,
  path: string,
): { key: string; params: Record<string, string> } | undefined {
  const wanted = method.toUpperCase() === 'HEAD' ? 'GET' : method.toUpperCase();
  for (const { key, method: m, pattern, names } of BOARD_ROUTES) {
    if (m !== wanted) continue;
    const found = pattern.exec(path);
    if (!found) continue;
    try {
      return {
        key,
        params: Object.fromEntries(names.map((name, i) => [name, decodeURIComponent(found[i + 1] ?? '')])),
      };
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Which allowed action a request is, with its parameters; undefined for anything else. Pure. */
export function matchBoardAction(
  method: string,
  path: string,
): { action: BoardAction; params: Record<string, string> } | undefined {
  const resolved = resolveBoardRoute(method, path);
  const action = resolved && ACTION_BY_ROUTE.get(resolved.key);
  return resolved && action ? { action, params: resolved.params } : undefined;
}

/** The queues Bull Board shows, by name, and what may be done to each. */
function boardQueues(
  deployment: Deployment,
): Map<string, { queue: Queue; retries: boolean; pause: boolean }> {
  const queues = new Map<string, { queue: Queue; retries: boolean; pause: boolean }>();
  for (const target of deployment.config.targets.filter((t) => t.enabled)) {
    for (const queue of deployment.queues.deliveriesOf(target.service)) {
      queues.set(queue.name, { queue, retries: true, pause: true });
    }
  }
  queues.set(deployment.queues.maintenance.name, {
    queue: deployment.queues.maintenance,
    retries: true,
    pause: false,
  });
  queues.set(DEAD_LETTER_QUEUE, { queue: deployment.queues.deadLetter, retries: false, pause: false });
  return queues;
}

function refuse(res: Response, status: number, error: string): void {
  res.status(status).json({ error });
}

/**
 * Middleware in front of Bull Board (mounted at its path): lets every read through; of actions,
 * only an operator's `OPERATOR_BOARD_ACTIONS`, and only when
 *
 * - a retry is of a delivery queue or the maintenance queue (never the dead-letter queue: dead
 *   letters are replayed through the API), and of `failed` jobs only: one job must be failed,
 *   retry-all must name `failed`;
 * - a pause or resume is of a target's delivery queue.
 *
 * Anything else is a 403 `{ error }` (404 for a queue or job that does not exist).
 */
export function boardActionGuard(deployment: Deployment): RequestHandler {
  const queues = boardQueues(deployment);
  return async (req, res, next) => {
    if (isSafeMethod(req.method)) return next();
    const matched = matchBoardAction(req.method, req.path);
    if (!matched || roleOf(req) !== 'operator') return refuse(res, 403, NEVER_ALLOWED);
    const { action, params } = matched;
    const name = params.queueName ?? '';
    const entry = queues.get(name);
    if (!entry) return refuse(res, 404, `queueName: no queue named ${JSON.stringify(name)} is shown`);
    if (action === 'pause' || action === 'resume') {
      if (!entry.pause)
        return refuse(
          res,
          403,
          `forbidden: only a target's delivery queue can be paused or resumed, not ${name}`,
        );
      return next();
    }
    if (!entry.retries) {
      return refuse(
        res,
        403,
        `forbidden: ${name} does not allow retries; replay dead letters with POST /api/dead-letters/replay`,
      );
    }
    if (action === 'retryAll') {
      if (params.queueStatus !== 'failed')
        return refuse(res, 403, 'forbidden: only failed jobs can be retried, never completed ones');
      return next();
    }
    const job = await entry.queue.getJob(params.jobId ?? '');
    if (!job) return refuse(res, 404, `jobId: no job ${JSON.stringify(params.jobId)} in ${name}`);
    const state = await job.getState();
    if (state !== 'failed')
      return refuse(res, 403, `forbidden: only failed jobs can be retried; this one is ${state}`);
    next();
  };
}

/**
 * Bull Board's hooks for a board served to `role`: every action route Bull Board resolves is
 * refused (403) unless the role is operator and the route is in `OPERATOR_BOARD_ACTIONS`
 * (retry-all only of `failed` jobs). Reads pass.
 */
export function boardHooks(role: DashboardRole): BoardHooks {
  return {
    before: ({ method, route, request }) => {
      if (method === 'get') return;
      const allowed =
        role === 'operator' &&
        ALLOWED_ROUTES.has(`${method} ${route}`) &&
        (route !== OPERATOR_BOARD_ACTIONS.retryAll.route || request.params.queueStatus === 'failed');
      return allowed ? undefined : { allow: false, status: 403, message: NEVER_ALLOWED };
    },
  };
}
