import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { z } from 'zod';
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

/** What body-parser's errors mean, by their `type`, said of the field everyone sees: the body. */
const BODY_ERRORS: Readonly<Record<string, string>> = {
  'entity.parse.failed': 'body: is not valid JSON',
  'entity.too.large': 'body: is larger than the limit',
  'encoding.unsupported': 'body: content encoding not supported; send it uncompressed',
  'charset.unsupported': 'body: charset not supported; send UTF-8',
  'request.aborted': 'body: the request was aborted',
  'request.size.invalid': 'body: its size does not match Content-Length',
};

/** The message an error is answered with: body-parser's in our words, others' their own. */
function messageOf(error: unknown, err: Error): string {
  const type = typeof error === 'object' && error !== null ? (error as { type?: unknown }).type : undefined;
  const known = typeof type === 'string' ? BODY_ERRORS[type] : undefined;
  if (known === undefined) return err.message || 'internal error';
  const limit = (error as { limit?: unknown }).limit;
  return type === 'entity.too.large' && typeof limit === 'number'
    ? `body: is larger than the limit of ${limit} bytes`
    : known;
}

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
    res.status(status).json({ error: messageOf(error, err) });
  };
}

/**
 * Parses request input with a zod schema; a mismatch becomes a 400 whose message names the
 * parameter: `limit: must be a whole number from 1 to 500`.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  if (!issue) throw new HttpError(400, 'invalid request');
  if (issue.code === 'unrecognized_keys') {
    const keys = (issue as { keys?: string[] }).keys ?? [];
    throw new HttpError(400, `${keys.join(', ')}: not a known parameter`);
  }
  const at = issue.path.map(String).join('.');
  throw new HttpError(400, at ? `${at}: ${issue.message}` : issue.message);
}
