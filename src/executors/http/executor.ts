/**
 * The executor of `http` targets: one signed POST (or the target's method) per attempt, in
 * the Standard Webhooks wire format. Whether and when to retry is decided by the worker from
 * the DeliveryError thrown here; got itself never retries and never follows redirects.
 */
import http from 'node:http';
import https from 'node:https';
import got from 'got';
import { DEFAULTS, type TargetConfig } from '../../config/schema.js';
import { DeliveryError, toError } from '../../errors.js';
import type { DeliveryTask } from '../../jobs/delivery-job.js';
import { redactText } from '../../redact.js';
import type { DeliveryResult, ExecutionContext, Executor } from '../executor.js';
import { targetUrls } from '../../config/targets.js';
import { RESPONSE_TOO_LARGE, requestBounded, type BoundedResponse } from './bounded-response.js';
import { classifyRequestError, classifyStatus, detachedCause, parseRetryAfter } from './classify.js';
import { createStateReader } from './state.js';
import { signWebhook } from './signing.js';
import { isReservedHeader } from '../../config/headers.js';
import { USER_AGENT, buildWebhookBody } from './wire.js';
import { withFields } from '../../with-fields.js';

export interface HttpExecutorOptions {
  /** Longest `Retry-After` honoured, in milliseconds; longer ones are cut to this. Default 3_600_000 (1 hour). */
  retryAfterMaxMs?: number;
  /** Bytes of a failed response's body kept as the error's excerpt (cut on a UTF-8 boundary). Default 1024. */
  excerptBytes?: number;
  /**
   * The most bytes of a delivery's answer read (config `maxResponseBytes`). A 2xx is delivered
   * whatever its body; a larger error answer fails the attempt, retryably, with failure code
   * `response_too_large`. Default 65_536 (64 KiB).
   */
  maxResponseBytes?: number;
  /**
   * The most bytes of a state read's answer read (config `maxStateResponseBytes`); a larger one
   * fails the read with failure code `response_too_large`. Default 8_388_608 (8 MiB).
   */
  maxStateResponseBytes?: number;
}

/** The defaults of {@link HttpExecutorOptions}. */
export const HTTP_EXECUTOR_DEFAULTS: Required<HttpExecutorOptions> = {
  retryAfterMaxMs: 3_600_000,
  excerptBytes: 1024,
  maxResponseBytes: DEFAULTS.maxResponseBytes,
  maxStateResponseBytes: DEFAULTS.maxStateResponseBytes,
};

function resolveOptions(options: HttpExecutorOptions): Required<HttpExecutorOptions> {
  const resolved = { ...HTTP_EXECUTOR_DEFAULTS, ...options };
  if (!Number.isFinite(resolved.retryAfterMaxMs) || resolved.retryAfterMaxMs < 0) {
    throw new RangeError(
      `retryAfterMaxMs must be a number of milliseconds >= 0, got ${resolved.retryAfterMaxMs}`,
    );
  }
  for (const name of ['excerptBytes', 'maxResponseBytes', 'maxStateResponseBytes'] as const) {
    if (!Number.isSafeInteger(resolved[name]) || resolved[name] < 0) {
      throw new RangeError(`${name} must be a whole number of bytes >= 0, got ${resolved[name]}`);
    }
  }
  return resolved;
}

/** The first `maxBytes` bytes of a body as text, never cutting a UTF-8 character in two. */
function utf8Excerpt(body: Buffer, maxBytes: number): string {
  if (body.length <= maxBytes) return body.toString('utf8');
  let end = maxBytes;
  // Step back over continuation bytes (10xxxxxx) so the cut falls before a character's first byte.
  while (end > 0 && ((body[end] ?? 0) & 0xc0) === 0x80) end--;
  return body.subarray(0, end).toString('utf8');
}

/** The first value of a header node:http may give as a list. */
function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** A target's own headers (the reserved ones left out) and user-sync's fixed ones, made once per target. */
const fixedHeaders = new WeakMap<TargetConfig, Readonly<Record<string, string>>>();

function headersOf(target: TargetConfig): Readonly<Record<string, string>> {
  let headers = fixedHeaders.get(target);
  if (!headers) {
    const own: Record<string, string> = {};
    for (const [name, value] of Object.entries(target.headers)) {
      if (!isReservedHeader(name)) own[name.toLowerCase()] = value;
    }
    own['content-type'] = 'application/json';
    own['user-agent'] = USER_AGENT;
    headers = own;
    fixedHeaders.set(target, headers);
  }
  return headers;
}

function requestHeaders(task: DeliveryTask, target: TargetConfig, body: string, timestamp: number) {
  const own: Record<string, string> = {
    'webhook-id': task.taskId,
    'webhook-timestamp': String(timestamp),
  };
  if (target.secrets.length > 0)
    own['webhook-signature'] = signWebhook(task.taskId, timestamp, body, target.secrets);
  own['idempotency-key'] = task.taskId;
  // Not `{ ...fixed }` and then the rest: see withFields.
  return withFields(headersOf(target), own);
}

/**
 * Creates the executor of `http` targets. It keeps one keep-alive agent pair (http and https)
 * so that deliveries reuse connections; `close()` destroys them.
 *
 * Each attempt sends {@link buildWebhookBody} to the target's configured `url` with its
 * `method` and `headers`, then the headers user-sync owns: `content-type`, `user-agent`,
 * `webhook-id` and `idempotency-key` (the task id), `webhook-timestamp` (`ctx.now()` in unix
 * seconds) and, when the target has secrets, `webhook-signature`. A 2xx resolves with the
 * status; any other answer, a timeout (`target.timeoutMs`), a connection failure or an abort
 * (`ctx.signal`) throws a DeliveryError saying whether a retry can help.
 *
 * No more than `maxResponseBytes` of an answer are read (see bounded-response.ts): a 2xx is
 * decided by its status line, so it is delivered whatever its body, and a body past the limit is
 * left unread (its connection destroyed, a warning logged); an error answer past the limit
 * fails the attempt with a retryable DeliveryError, failure code `response_too_large`.
 *
 * Error messages built from got's errors, and excerpts of what targets answer, go through
 * `redactText` with the target's URLs, so that no credential of a URL shows in them.
 *
 * `readState` reports the versions a target holds for the consistency sweep, through the
 * target's `state` setting and the same agents (see state.ts). Only targets with a `state`
 * setting can be read (`canReadState`); on any other it throws.
 */
export function createHttpExecutor(options: HttpExecutorOptions = {}): Executor {
  const { retryAfterMaxMs, excerptBytes, maxResponseBytes, maxStateResponseBytes } = resolveOptions(options);
  const agent = {
    http: new http.Agent({ keepAlive: true }),
    https: new https.Agent({ keepAlive: true }),
  };
  const client = got.extend({
    agent,
    retry: { limit: 0 },
    throwHttpErrors: false,
    followRedirect: false,
  });

  async function execute(
    task: DeliveryTask,
    target: TargetConfig,
    ctx: ExecutionContext,
  ): Promise<DeliveryResult> {
    if (!target.url) {
      throw new DeliveryError(`target ${target.service} has no url`, {
        retryable: false,
        failureCode: 'config',
      });
    }
    const body = buildWebhookBody(task);
    const timestamp = Math.floor(ctx.now() / 1000);

    let response: BoundedResponse;
    try {
      response = await requestBounded(client, target.url, {
        method: target.method,
        headers: requestHeaders(task, target, body, timestamp),
        body,
        timeoutMs: target.timeoutMs,
        signal: ctx.signal,
        maxBytes: maxResponseBytes,
        // A 2xx is decided by its status line: only error answers are kept, for their excerpt.
        keepBody: (status) => classifyStatus(status) !== 'delivered',
      });
    } catch (error) {
      const { retryable, failureCode } = classifyRequestError(error);
      const reason = redactText(toError(error).message, targetUrls(target));
      throw new DeliveryError(`${failureCode} delivering to ${target.service}: ${reason}`, {
        retryable,
        failureCode,
        cause: detachedCause(error, targetUrls(target)),
      });
    }

    const status = response.status;
    const outcome = classifyStatus(status);
    if (outcome === 'delivered') {
      if (response.tooLarge) {
        ctx.logger.warn('delivered; answer larger than maxResponseBytes left unread, its connection closed', {
          status,
          max_response_bytes: maxResponseBytes,
        });
      }
      return { status };
    }
    const excerpt = redactText(utf8Excerpt(response.body, excerptBytes), targetUrls(target));
    if (response.tooLarge) {
      throw new DeliveryError(
        `HTTP ${status} from ${target.service}: answer larger than maxResponseBytes (${maxResponseBytes} bytes), not read further`,
        { retryable: true, status, failureCode: RESPONSE_TOO_LARGE, excerpt },
      );
    }
    const retryable = outcome === 'retry';
    throw new DeliveryError(`HTTP ${status} from ${target.service}`, {
      retryable,
      status,
      failureCode: `http_${status}`,
      excerpt,
      retryAfterMs: retryable
        ? parseRetryAfter(headerValue(response.headers['retry-after']), ctx.now(), retryAfterMaxMs)
        : undefined,
    });
  }

  return {
    execute,
    readState: createStateReader(client, { maxResponseBytes: maxStateResponseBytes }),
    async close() {
      agent.http.destroy();
      agent.https.destroy();
    },
  };
}
