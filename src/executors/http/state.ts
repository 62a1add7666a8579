/**
 * Reading the versions an HTTP target holds, for the consistency sweep (README, "Consistency
 * sweep"). A target opts in with its `state` setting:
 *
 * - `state.url`, a template with `{id}`: one GET per user, at most `state.concurrency` in
 *   flight; 200 `{ "version": n }` gives n, 404 gives null.
 * - `state.bulkUrl`: POST `{ "ids": [...] }` in batches of `state.batchSize` (two batches in
 *   flight), answered 200 `{ "versions": { "<id>": n | null } }` with every id asked for.
 *
 * Anything else — another status, a body that is not the documented JSON, a version that is
 * not a non-negative integer or null, an id missing from a bulk answer, a timeout, a broken
 * connection, an abort — fails the whole read with a retryable DeliveryError (failure code
 * `state_unavailable`; `response_too_large` for an answer over `maxStateResponseBytes`), so
 * that the sweep counts the target as unreachable rather than guess.
 *
 * State requests are signed with the target's state secrets (see {@link stateSigningSecrets}),
 * never with its delivery secrets: a state request never verifies as an event.
 *
 * The parsing and validation are pure functions (state-answers.ts); {@link createStateReader}
 * does the I/O with the executor's got client (and so its keep-alive agents).
 */
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { Got } from 'got';
import { DEFAULTS, type TargetConfig } from '../../config/schema.js';
import { targetUrls } from '../../config/targets.js';
import { DeliveryError, toError } from '../../errors.js';
import { redactText } from '../../redact.js';
import type { ExecutionContext, TargetVersions } from '../executor.js';
import { RESPONSE_TOO_LARGE, requestBounded, type BoundedResponse } from './bounded-response.js';
import { classifyRequestError, detachedCause } from './classify.js';
import { signWebhook, stateSecret } from './signing.js';
import { batches, bulkStateBody, parseBulkState, parseSingleState, stateUrl } from './state-answers.js';
import { isReservedHeader } from '../../config/headers.js';
import { USER_AGENT } from './wire.js';

/** The `state` setting of a target, as validated by the config. */
export type TargetStateConfig = NonNullable<TargetConfig['state']>;

/** The failure code of every DeliveryError thrown by a state read that failed. */
export const STATE_UNAVAILABLE = 'state_unavailable';

/** Bulk requests in flight at once for one read. */
export const BULK_CONCURRENCY = 2;

/** Defaults of the `state` setting, for objects built without the config parser. */
const DEFAULT_BATCH_SIZE = 500;
const DEFAULT_CONCURRENCY = 16;

/** Bytes of a failed answer kept as the error's excerpt. */
const EXCERPT_CHARS = 256;

/** Whether the sweep can ask this target for its versions: it has a `state` setting with a URL. */
export function canReadState(
  target: Pick<TargetConfig, 'state'>,
): target is Pick<TargetConfig, 'state'> & { state: TargetStateConfig } {
  const state = target.state;
  return state !== undefined && (state.url !== undefined || state.bulkUrl !== undefined);
}

/**
 * Runs `work` over `items` with at most `limit` calls in flight. The first failure stops
 * picking up items, aborts the signal handed to the calls still running, waits for them to
 * settle and is rethrown; later failures (the aborted calls') are dropped.
 */
async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  parent: AbortSignal,
  work: (item: T, signal: AbortSignal) => Promise<void>,
): Promise<void> {
  const stop = new AbortController();
  const signal = AbortSignal.any([parent, stop.signal]);
  // Every call in flight listens on the signal (got removes its listener when done).
  setMaxListeners(limit + 10, signal);
  let next = 0;
  let failure: { error: unknown } | undefined;
  async function lane(): Promise<void> {
    while (failure === undefined && next < items.length) {
      const item = items[next++] as T;
      try {
        await work(item, signal);
      } catch (error) {
        if (failure === undefined) {
          failure = { error };
          stop.abort();
        }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, lane));
  if (failure !== undefined) throw failure.error;
}

/**
 * The secrets that sign a target's state requests: its `state.secrets` when set, else one
 * derived from each of its delivery secrets ({@link stateSecret}); none when it has neither.
 */
export function stateSigningSecrets(target: Pick<TargetConfig, 'secrets' | 'state'>): string[] {
  return target.state?.secrets ?? target.secrets.map(stateSecret);
}

function stateHeaders(target: TargetConfig, body: string, timestampSeconds: number, post: boolean) {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(target.headers)) {
    if (!isReservedHeader(name)) headers[name.toLowerCase()] = value;
  }
  headers['user-agent'] = USER_AGENT;
  headers.accept = 'application/json';
  if (post) headers['content-type'] = 'application/json';
  const msgId = `state.${randomBytes(12).toString('hex')}`;
  headers['webhook-id'] = msgId;
  headers['webhook-timestamp'] = String(timestampSeconds);
  const secrets = stateSigningSecrets(target);
  if (secrets.length > 0) headers['webhook-signature'] = signWebhook(msgId, timestampSeconds, body, secrets);
  return headers;
}

/** The start of an answer, for an error, with the credentials of the target's URLs masked. */
function excerptOf(body: Buffer, target: TargetConfig): string {
  const text = body.subarray(0, EXCERPT_CHARS * 4).toString('utf8');
  return redactText(text.length > EXCERPT_CHARS ? text.slice(0, EXCERPT_CHARS) : text, targetUrls(target));
}

function unavailable(
  target: TargetConfig,
  what: string,
  cause: string,
  extra: { status?: number; excerpt?: string; cause?: unknown; failureCode?: string } = {},
): DeliveryError {
  return new DeliveryError(`cannot read state of target ${target.service}: ${cause} (${what})`, {
    retryable: true,
    failureCode: STATE_UNAVAILABLE,
    ...extra,
  });
}

/** Reads the versions a target holds; see {@link createStateReader}. */
export type StateReader = (
  userIds: readonly string[],
  target: TargetConfig,
  ctx: ExecutionContext,
) => Promise<TargetVersions>;

/**
 * Creates the `readState` of the http executor around its got client (keep-alive agents, no
 * retries, no redirects, no throwing on statuses). Every request carries the target's headers,
 * `user-agent`, `accept: application/json`, `webhook-id` (`state.<random>`),
 * `webhook-timestamp` and, when the target has state secrets ({@link stateSigningSecrets}), a
 * Standard Webhooks `webhook-signature` over the body (the empty string for a GET), so
 * receivers can authenticate the caller. Each request is bounded by `target.timeoutMs` and
 * `ctx.signal`, and its answer by `maxResponseBytes` (default 8 MiB): a larger one fails the
 * read with failure code `response_too_large`.
 *
 * The Map returned has an entry for every id asked for. A target without a `state` setting
 * throws a non-retryable DeliveryError (failure code `config`): check {@link canReadState} first.
 */
export function createStateReader(client: Got, options: { maxResponseBytes?: number } = {}): StateReader {
  const maxResponseBytes = options.maxResponseBytes ?? DEFAULTS.maxStateResponseBytes;

  async function request(
    url: string,
    target: TargetConfig,
    ctx: ExecutionContext,
    signal: AbortSignal,
    what: string,
    body?: string,
  ): Promise<BoundedResponse> {
    const timestamp = Math.floor(ctx.now() / 1000);
    let response: BoundedResponse;
    try {
      response = await requestBounded(client, url, {
        method: body === undefined ? 'GET' : 'POST',
        headers: stateHeaders(target, body ?? '', timestamp, body !== undefined),
        ...(body === undefined ? {} : { body }),
        timeoutMs: target.timeoutMs,
        signal,
        maxBytes: maxResponseBytes,
        keepBody: () => true,
      });
    } catch (error) {
      const { failureCode } = classifyRequestError(error);
      const urls = targetUrls(target);
      throw unavailable(target, what, `${failureCode}: ${redactText(toError(error).message, urls)}`, {
        cause: detachedCause(error, urls),
      });
    }
    if (response.tooLarge) {
      throw unavailable(
        target,
        what,
        `answer larger than maxStateResponseBytes (${maxResponseBytes} bytes), not read further`,
        {
          status: response.status,
          excerpt: excerptOf(response.body, target),
          failureCode: RESPONSE_TOO_LARGE,
        },
      );
    }
    return response;
  }

  async function readSingle(
    ids: readonly string[],
    target: TargetConfig,
    template: string,
    concurrency: number,
    ctx: ExecutionContext,
  ): Promise<Map<string, number | null>> {
    const held = new Map<string, number | null>();
    await forEachLimited(ids, concurrency, ctx.signal, async (id, signal) => {
      const what = `user ${JSON.stringify(id)}`;
      const response = await request(stateUrl(template, id), target, ctx, signal, what);
      const status = response.status;
      if (status === 404) {
        held.set(id, null);
        return;
      }
      if (status !== 200) {
        throw unavailable(target, what, `HTTP ${status}`, {
          status,
          excerpt: excerptOf(response.body, target),
        });
      }
      try {
        held.set(id, parseSingleState(response.body, id));
      } catch (error) {
        throw unavailable(target, what, `invalid answer: ${toError(error).message}`, {
          status,
          excerpt: excerptOf(response.body, target),
        });
      }
    });
    return held;
  }

  async function readBulk(
    ids: readonly string[],
    target: TargetConfig,
    bulkUrl: string,
    batchSize: number,
    ctx: ExecutionContext,
  ): Promise<Map<string, number | null>> {
    const held = new Map<string, number | null>();
    await forEachLimited(batches(ids, batchSize), BULK_CONCURRENCY, ctx.signal, async (batch, signal) => {
      const what = `bulk request of ${batch.length} ids`;
      const response = await request(bulkUrl, target, ctx, signal, what, bulkStateBody(batch));
      const status = response.status;
      if (status !== 200) {
        throw unavailable(target, what, `HTTP ${status}`, {
          status,
          excerpt: excerptOf(response.body, target),
        });
      }
      let versions: Map<string, number | null>;
      try {
        versions = parseBulkState(response.body, batch);
      } catch (error) {
        throw unavailable(target, what, `invalid answer: ${toError(error).message}`, {
          status,
          excerpt: excerptOf(response.body, target),
        });
      }
      for (const [id, version] of versions) held.set(id, version);
    });
    return held;
  }

  return async function readState(userIds, target, ctx) {
    const state = target.state;
    if (!canReadState(target) || state === undefined) {
      throw new DeliveryError(
        `target ${target.service} has no state setting (state.url or state.bulkUrl); its versions cannot be read`,
        { retryable: false, failureCode: 'config' },
      );
    }
    const ids = [...new Set(userIds)];
    if (ids.length === 0) return new Map();
    const held =
      state.bulkUrl !== undefined
        ? await readBulk(ids, target, state.bulkUrl, state.batchSize ?? DEFAULT_BATCH_SIZE, ctx)
        : await readSingle(ids, target, state.url as string, state.concurrency ?? DEFAULT_CONCURRENCY, ctx);
    // An entry for every id asked for, in the order asked.
    const result: TargetVersions = new Map();
    for (const id of ids) result.set(id, held.get(id) ?? null);
    return result;
  };
}
