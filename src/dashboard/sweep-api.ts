import type { Request, RequestHandler } from 'express';
import type { Deployment } from '../deployment.js';
import type { SweepRun } from '../sweep/classify.js';
import { HttpError } from './http.js';

/** What GET /api/sweep answers. */
export interface SweepStatus {
  /** Whether the sweep runs by itself (`consistencyCheck`), how often, and whether it repairs. */
  consistencyCheck: boolean;
  checkIntervalMs: number;
  autoRepair: boolean;
  /** The last runs, newest first. */
  runs: SweepRun[];
}

function limitOf(req: Request): number {
  const raw = req.query.limit;
  if (raw === undefined) return 20;
  const n = Number(raw);
  if (typeof raw !== 'string' || !Number.isInteger(n) || n < 1 || n > 1000) {
    throw new HttpError(400, 'limit: must be a whole number from 1 to 1000');
  }
  return n;
}

/** `GET /sweep?limit=`: the consistency sweep's settings and last runs. */
export function sweepApi(deployment: Deployment): RequestHandler {
  return async (req, res) => {
    const status: SweepStatus = {
      consistencyCheck: deployment.config.consistencyCheck,
      checkIntervalMs: deployment.config.checkInterval,
      autoRepair: deployment.config.autoRepair,
      runs: await deployment.getSweepRuns(limitOf(req)),
    };
    res.json(status);
  };
}
