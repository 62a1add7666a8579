import express, { Router, type Request } from 'express';
import { z } from 'zod';
import type { DeadLetterFilter } from '../jobs/dead-letter.js';
import type { Deployment } from '../deployment.js';
import type { Logger } from '../logger.js';
import type { SweepRun } from '../sweep/classify.js';
import { HttpError, parseInput } from './http.js';
import { requireRole, roleOf } from './roles.js';
import { readOverview } from './overview.js';
import { readTargets } from './targets.js';
import { viewOf } from './breaker-view.js';
import { mountUserRoutes } from './users-api.js';

/** Largest JSON body the API accepts. */
export const MAX_BODY = '1mb';

/** Dead letters listed when `limit` is not given. */
export const DEFAULT_LIST_LIMIT = 50;
/** Largest `limit` accepted. */
export const MAX_LIST_LIMIT = 500;
/** Sweep runs listed when `limit` is not given. */
export const DEFAULT_SWEEP_LIMIT = 20;
/** Largest sweep `limit` accepted. */
export const MAX_SWEEP_LIMIT = 1000;

const SINCE_MESSAGE = 'must be an ISO 8601 time or milliseconds since the epoch';

/** A time: ISO 8601, or milliseconds since the epoch. */
const since = z.union([z.string(), z.number()], { error: SINCE_MESSAGE }).transform((value, ctx) => {
  const ms = typeof value === 'number' || /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms)) {
    ctx.addIssue({ code: 'custom', message: SINCE_MESSAGE });
    return z.NEVER;
  }
  return new Date(ms);
});

const wholeNumber = (min: number, max: number) => {
  const message = `must be a whole number from ${min} to ${max}`;
  return z
    .string({ error: message })
    .regex(/^\d+$/, message)
    .transform(Number)
    .refine((n) => n >= min && n <= max, message);
};

const name = (what: string) => z.string({ error: `must be ${what}` }).min(1, `must be ${what}`);

/**
 * Query of the endpoints that take no parameter: an unknown one is a 400 naming it, as
 * everywhere else, rather than silently ignored.
 */
export const noParameters = z.strictObject({});

/** Query of GET /api/dead-letters. */
const listQuery = z.strictObject({
  target: name('a target name').optional(),
  id: z.union([name('a dead-letter id'), z.array(name('a dead-letter id'))]).optional(),
  since: since.optional(),
  limit: wholeNumber(1, MAX_LIST_LIMIT).optional(),
  offset: wholeNumber(0, Number.MAX_SAFE_INTEGER).optional(),
});

/** Body of POST /api/dead-letters/replay and /purge: which dead letters. */
const selectionBody = z.strictObject(
  {
    target: name('a target name').optional(),
    ids: z
      .array(name('a dead-letter id'), { error: 'must be an array of dead-letter ids' })
      .min(1, 'must list at least one id')
      .optional(),
    since: since.optional(),
    all: z.literal(true, { error: 'must be true, or left out' }).optional(),
  },
  { error: 'must be a JSON object' },
);

/** Body of the actions that take no parameter (pause, resume, sweep): none, or `{}`. */
const emptyBody = z.strictObject({}, { error: 'must be a JSON object' });

/** Path of POST /api/targets/:service/pause and /resume. */
const targetParams = z.strictObject({ service: name('a target name') });

/** Query of GET /api/sweep. */
const sweepQuery = z.strictObject({
  limit: wholeNumber(1, MAX_SWEEP_LIMIT).optional(),
});

/** What GET /api/sweep answers. */
export interface SweepStatus {
  /** Whether the sweep runs by itself (`consistencyCheck`), how often, and whether it repairs. */
  consistencyCheck: boolean;
  checkIntervalMs: number;
  autoRepair: boolean;
  /** The last runs, newest first. */
  runs: SweepRun[];
}

/**
 * The JSON API, to mount at `/api`; answers are JSON, errors `{ "error": "…" }`:
 *
 * - `GET /stats`, `GET /queue-status`: the deployment's `getStats()` and `getQueueStatus()`;
 * - `GET /targets`: every target summarized, with its queue's figures (see `readTargets`);
 * - `GET /overview`: one row per target, what the overview page shows (see `readOverview`);
 * - `GET /dead-letters`: dead letters, listed;
 * - `GET /sweep`: the consistency sweep's settings and last runs;
 * - `GET /users/:id`: one user across the deployment (`?reveal=1`: operators only);
 * - operators only (403 for viewers): `POST /dead-letters/replay`, `POST /dead-letters/purge`,
 *   `POST /targets/:service/pause`, `POST /targets/:service/resume`,
 *   `POST /targets/:service/breaker/close`, `POST /sweep`.
 *
 * Every query, path parameter and body goes through `parseInput` with a strict zod schema, so a
 * bad or unknown parameter is a 400 that names it. Bodies are JSON of at most `MAX_BODY`. `now`
 * is the clock (ms) for ages and windows; `logger` records every action, with the role that
 * asked.
 */
export function apiRouter(deployment: Deployment, now: () => number, logger: Logger): Router {
  const router = Router();
  router.use(express.json({ limit: MAX_BODY }));
  const operator = requireRole('operator');
  const audit = (req: Request, action: string, fields: Record<string, unknown>) =>
    logger.info(`dashboard action: ${action}`, { action, role: roleOf(req), ...fields });

  router.get('/stats', async (req, res) => {
    parseInput(noParameters, req.query);
    res.json(await deployment.getStats());
  });

  router.get('/queue-status', async (req, res) => {
    parseInput(noParameters, req.query);
    res.json(await deployment.getQueueStatus());
  });

  router.get('/targets', async (req, res) => {
    parseInput(noParameters, req.query);
    res.json({ targets: await readTargets(deployment, now()) });
  });

  /** `GET /overview`: one row per target for the overview page (see `readOverview`). */
  router.get('/overview', async (req, res) => {
    parseInput(noParameters, req.query);
    res.json(await readOverview(deployment, now()));
  });

  /**
   * `GET /dead-letters?target=&id=&since=&limit=&offset=`: dead letters, newest first, as
   * `{ total, offset, limit, records }` (`id` may repeat; `limit` 1-500, default 50).
   */
  router.get('/dead-letters', async (req, res) => {
    const query = parseInput(listQuery, req.query);
    const limit = query.limit ?? DEFAULT_LIST_LIMIT;
    const offset = query.offset ?? 0;
    const { total, records } = await deployment.listDeadLetters({
      ...(query.target !== undefined ? { service: query.target } : {}),
      ...(query.id !== undefined ? { ids: typeof query.id === 'string' ? [query.id] : query.id } : {}),
      ...(query.since !== undefined ? { since: query.since } : {}),
      limit,
      offset,
    });
    res.json({ total, offset, limit, records });
  });

  /**
   * The dead letters a replay or purge body `{ target?, ids?, since?, all? }` selects. An empty
   * filter is refused unless `all: true` says to take every dead letter.
   */
  const selection = (req: Request, verb: 'replay' | 'purge'): DeadLetterFilter => {
    parseInput(noParameters, req.query);
    const body = parseInput(selectionBody, req.body ?? {});
    const filter: DeadLetterFilter = {
      ...(body.target !== undefined ? { service: body.target } : {}),
      ...(body.ids !== undefined ? { ids: body.ids } : {}),
      ...(body.since !== undefined ? { since: body.since } : {}),
    };
    if (Object.keys(filter).length === 0 && body.all !== true) {
      throw new HttpError(
        400,
        `nothing selected: give target, ids or since, or "all": true to ${verb} every dead letter`,
      );
    }
    if (body.target !== undefined && !deployment.config.targets.some((t) => t.service === body.target)) {
      throw new HttpError(400, `target: no target named ${JSON.stringify(body.target)} is configured`);
    }
    return filter;
  };

  /** `POST /dead-letters/replay`: replays the selected dead letters, answering `{ replayed: [ids] }`. */
  router.post('/dead-letters/replay', operator, async (req, res) => {
    const filter = selection(req, 'replay');
    const replayed = await deployment.replayDeadLetters(filter);
    audit(req, 'replay', { count: replayed.length });
    res.json({ replayed });
  });

  /** `POST /dead-letters/purge`: deletes the selected dead letters for good, answering `{ purged: [ids] }`. */
  router.post('/dead-letters/purge', operator, async (req, res) => {
    const filter = selection(req, 'purge');
    const purged = await deployment.purgeDeadLetters(filter);
    audit(req, 'purge', { count: purged.length });
    res.json({ purged });
  });

  /**
   * `POST /targets/:service/pause` and `/resume`: pauses or resumes the target's delivery queues
   * (BullMQ `Queue.pause()`/`resume()`). While paused, its deliveries wait in the queue: nothing
   * is lost, retried or dead-lettered. Answers `{ service, paused }`; 404 for an unknown target.
   */
  for (const verb of ['pause', 'resume'] as const) {
    router.post(`/targets/:service/${verb}`, operator, async (req, res) => {
      parseInput(noParameters, req.query);
      const { service } = parseInput(targetParams, req.params);
      parseInput(emptyBody, req.body ?? {});
      if (!deployment.config.targets.some((t) => t.service === service))
        throw new HttpError(404, `service: no target named ${JSON.stringify(service)} is configured`);
      const paused = await deployment.setPaused(service, verb === 'pause');
      audit(req, verb, { target: service });
      res.json({ service, paused });
    });
  }

  /**
   * `POST /targets/:service/breaker/close`: closes the target's circuit breaker by hand (the
   * operator knows it is back): its held deliveries go within a few seconds. Answers
   * `{ service, breaker }`; 404 for an unknown target.
   */
  router.post('/targets/:service/breaker/close', operator, async (req, res) => {
    parseInput(noParameters, req.query);
    const { service } = parseInput(targetParams, req.params);
    parseInput(emptyBody, req.body ?? {});
    if (!deployment.config.targets.some((t) => t.service === service))
      throw new HttpError(404, `service: no target named ${JSON.stringify(service)} is configured`);
    const breaker = await deployment.closeBreaker(service);
    audit(req, 'close breaker', { target: service });
    res.json({ service, breaker: viewOf(breaker) });
  });

  /** `GET /sweep?limit=`: the consistency sweep's settings and last runs (`limit` 1-1000, default 20). */
  router.get('/sweep', async (req, res) => {
    const query = parseInput(sweepQuery, req.query);
    const status: SweepStatus = {
      consistencyCheck: deployment.config.consistencyCheck,
      checkIntervalMs: deployment.config.checkInterval,
      autoRepair: deployment.config.autoRepair,
      runs: await deployment.getSweepRuns(query.limit ?? DEFAULT_SWEEP_LIMIT),
    };
    res.json(status);
  });

  /**
   * `POST /sweep`: runs one consistency sweep now, in this process, and answers its figures
   * (a SweepRun) when it ends; 409 when another sweep is running.
   */
  router.post('/sweep', operator, async (req, res) => {
    parseInput(noParameters, req.query);
    parseInput(emptyBody, req.body ?? {});
    const run = await deployment.runSweep({ trigger: 'manual' });
    if (!run) throw new HttpError(409, 'another sweep is running: try again once it has finished');
    audit(req, 'sweep', { users_checked: run.usersChecked, repairs: run.repairsEnqueued });
    res.json(run);
  });

  // GET /users/:id: one user across the deployment (src/dashboard/users-api.ts).
  mountUserRoutes(router, deployment, audit);

  return router;
}
