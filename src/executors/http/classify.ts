/**
 * Pure decisions about HTTP outcomes: which statuses are delivered, retried or dead, how long
 * a `Retry-After` asks to wait, and what kind of failure a request error is.
 */
import { RequestError } from 'got';
import { toError } from '../../errors.js';
import { redactText } from '../../redact.js';

/** What a response status means for a delivery. */
export type StatusOutcome = 'delivered' | 'retry' | 'dead';

/** Statuses outside 5xx that a later attempt may turn into a success. */
const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 425, 429]);

/**
 * Classifies a response status: 2xx `delivered`; 408, 425, 429 and 5xx `retry`; anything
 * else `dead` — 1xx, 3xx (redirects are never followed) and the other 4xx, 410 included.
 */
export function classifyStatus(status: number): StatusOutcome {
  if (status >= 200 && status <= 299) return 'delivered';
  if (RETRYABLE_STATUSES.has(status) || (status >= 500 && status <= 599)) return 'retry';
  return 'dead';
}

const DELTA_SECONDS_RE = /^-?\d+$/;
/** IMF-fixdate, RFC 850 and asctime all start with a day name (RFC 9110 §5.6.7). */
const HTTP_DATE_RE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,? /i;

/**
 * Parses a `Retry-After` value, delta-seconds or an HTTP-date, into milliseconds to wait from
 * `nowMs`. A negative delay or a date in the past gives 0; a delay above `maxMs` is cut to
 * `maxMs`; a missing or unparsable value gives undefined.
 */
export function parseRetryAfter(value: string | undefined, nowMs: number, maxMs: number): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  let delayMs: number;
  if (DELTA_SECONDS_RE.test(text)) {
    delayMs = Number(text) * 1000;
  } else if (HTTP_DATE_RE.test(text)) {
    const at = Date.parse(text);
    if (Number.isNaN(at)) return undefined;
    delayMs = at - nowMs;
  } else {
    return undefined;
  }
  return Math.min(Math.max(delayMs, 0), maxMs);
}

/** Why a request got no response. */
export type RequestErrorReason = 'timeout' | 'connection' | 'aborted' | 'unknown';

/** Error codes of a connection that failed, broke, or could not be made. */
const CONNECTION_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

function field(error: object, name: 'name' | 'code' | 'message'): unknown {
  return (error as Record<string, unknown>)[name];
}

/**
 * Classifies an error thrown by a request that got no usable response (got's `TimeoutError`,
 * `AbortError`, `RequestError` and the system errors under them). Every kind is retryable:
 * a timeout, a broken connection or a shutdown-time abort may all succeed on the next attempt,
 * and an unknown error is retried rather than dropped.
 */
export function classifyRequestError(error: unknown): {
  retryable: boolean;
  failureCode: RequestErrorReason;
} {
  if (typeof error !== 'object' || error === null) return { retryable: true, failureCode: 'unknown' };
  const name = field(error, 'name');
  const code = field(error, 'code');
  const message = field(error, 'message');
  if (name === 'TimeoutError' || code === 'ETIMEDOUT' || code === 'ESOCKETTIMEDOUT') {
    return { retryable: true, failureCode: 'timeout' };
  }
  if (name === 'AbortError' || code === 'ERR_ABORTED' || code === 'ABORT_ERR') {
    return { retryable: true, failureCode: 'aborted' };
  }
  if (
    (typeof code === 'string' && CONNECTION_CODES.has(code)) ||
    (typeof message === 'string' && /socket hang up/i.test(message)) ||
    error instanceof RequestError
  ) {
    return { retryable: true, failureCode: 'connection' };
  }
  return { retryable: true, failureCode: 'unknown' };
}

/**
 * A copy of a request error without got's `options`, which hold the request headers (the
 * target's credentials included) and would leak them wherever the cause is serialized; its
 * message and stack through `redactText`, with the credentials of `knownUrls` (the target's).
 */
export function detachedCause(error: unknown, knownUrls: readonly string[] = []): Error {
  const source = toError(error);
  const copy = new Error(redactText(source.message, knownUrls));
  copy.name = source.name;
  if (source.stack !== undefined) copy.stack = redactText(source.stack, knownUrls);
  const code: unknown = (source as { code?: unknown }).code;
  if (typeof code === 'string' || typeof code === 'number') Object.assign(copy, { code });
  return copy;
}
