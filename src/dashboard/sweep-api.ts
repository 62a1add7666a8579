import type { RequestHandler } from 'express';

/** What GET /api/sweep answers. */
export interface SweepStatus {
  /** Whether the consistency sweep exists in this version. */
  available: boolean;
  /** Its last runs, newest first. */
  runs: unknown[];
  message?: string;
}

/**
 * `GET /sweep`: the consistency sweep's last runs. The sweep is not built yet (issue 4): this
 * placeholder says so, and is the one thing to replace when it is.
 */
export const sweepApi: RequestHandler = (_req, res) => {
  const status: SweepStatus = {
    available: false,
    runs: [],
    message: 'the consistency sweep is not built yet',
  };
  res.json(status);
};
