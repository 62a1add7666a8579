import type { ErrorRequestHandler, RequestHandler } from 'express';
import { toError } from '../errors.js';
import type { Logger } from '../logger.js';

/** An error with the HTTP status the dashboard answers it with. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** The status an error maps to: its own 4xx (HttpError, body-parser's), else 500. */
export function statusOf(error: unknown): number {
  const status =
    typeof error === 'object' && error !== null
      ? ((error as { status?: unknown }).status ?? (error as { statusCode?: unknown }).statusCode)
      : undefined;
  return typeof status === 'number' && status >= 400 && status < 600 ? status : 500;
}

/** Answers unknown routes with a JSON 404. */
export const notFound: RequestHandler = (req, res) => {
  res.status(404).json({ error: `not found: ${req.method} ${req.path}` });
};

/**
 * The last middleware: every error becomes `{ "error": "<message>" }` with its status. Server
 * errors (5xx) are logged with the method and path; never headers, bodies or the query.
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    const err = toError(error);
    const status = statusOf(error);
    if (status >= 500)
      logger.error('dashboard request failed', {
        method: req.method,
        path: req.path,
        status,
        error: err.message,
      });
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.status(status).json({ error: err.message || 'internal error' });
  };
}
