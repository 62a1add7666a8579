/**
 * One HTTP request whose answer is read up to a byte limit. got 14 has no maximum response
 * size: its promise API buffers whatever a target sends (a target answering 400 MiB raised a
 * worker's memory by as much). This sends the request with got's stream API, counts the bytes
 * of the body as they arrive (decompressed: what would be held) and, past the limit, stops
 * reading and destroys the request — and with it that one connection; the agent's other
 * keep-alive connections stay. An answer within the limit is read to its end, so its
 * connection goes back to the agent for the next request.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Got, Method } from 'got';

/** The failure code of a DeliveryError for an answer larger than its limit. */
export const RESPONSE_TOO_LARGE = 'response_too_large';

/** An answer, read at most to the limit. */
export interface BoundedResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /**
   * The body, when {@link BoundedRequest.keepBody} said to keep it (else empty): complete unless
   * `tooLarge`, in which case it holds the bytes read before the limit.
   */
  body: Buffer;
  /** The answer was larger than the limit: reading stopped there and the connection was destroyed. */
  tooLarge: boolean;
}

/** One request, as {@link requestBounded} sends it. */
export interface BoundedRequest {
  method: Method;
  headers: Record<string, string>;
  /** The exact body to send; none for a GET. */
  body?: string;
  /** Bound of the whole exchange, body included (got's `timeout.request`), in milliseconds. */
  timeoutMs: number;
  /** Aborts the request (and the reading of its answer). */
  signal: AbortSignal;
  /** The most bytes of body read; an answer with more is `tooLarge`. A whole number >= 0. */
  maxBytes: number;
  /**
   * Whether the body of an answer with this status is kept. A body not kept is still read (up to
   * `maxBytes`) and dropped, so that the connection can be reused.
   */
  keepBody: (status: number) => boolean;
}

/**
 * Sends `request` to `url` with `client` (its agents, no retries, no redirects, no throwing on
 * statuses) and reads the answer as {@link BoundedResponse}. Rejects with got's error (a
 * `TimeoutError`, `AbortError`, `RequestError`, …) when there is no answer, or when the body
 * breaks off, times out or is aborted before its end or the limit.
 */
export function requestBounded(client: Got, url: string, request: BoundedRequest): Promise<BoundedResponse> {
  const stream = client.stream(url, {
    method: request.method,
    headers: request.headers,
    ...(request.body === undefined ? {} : { body: request.body }),
    timeout: { request: request.timeoutMs },
    signal: request.signal,
    retry: { limit: 0 },
    followRedirect: false,
    throwHttpErrors: false,
  });
  return new Promise<BoundedResponse>((resolve, reject) => {
    let status: number | undefined;
    let headers: IncomingHttpHeaders = {};
    let keep = false;
    let size = 0;
    const chunks: Buffer[] = [];
    let settled = false;
    const settle = (tooLarge: boolean) => {
      if (settled || status === undefined) return;
      settled = true;
      resolve({ status, headers, body: Buffer.concat(chunks), tooLarge });
    };
    stream.once('response', (response: { statusCode: number; headers: IncomingHttpHeaders }) => {
      status = response.statusCode;
      headers = response.headers;
      keep = request.keepBody(status);
    });
    stream.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > request.maxBytes) {
        if (keep) chunks.push(chunk.subarray(0, chunk.length - (size - request.maxBytes)));
        settle(true);
        // No error: nothing more is emitted, the request and its socket are destroyed.
        stream.destroy();
        return;
      }
      if (keep) chunks.push(chunk);
    });
    stream.once('end', () => settle(false));
    // Closed with neither end nor error (destroyed from outside): no answer to give.
    stream.once('close', () => {
      if (settled) return;
      settled = true;
      reject(new Error('the connection closed before the answer was complete'));
    });
    // Kept for the stream's whole life: an error after the answer was settled is of no interest,
    // and must not go unhandled.
    stream.on('error', (error: Error) => {
      if (settled) return;
      settled = true;
      reject(error);
    });
  });
}
