import { request, type IncomingHttpHeaders } from 'node:http';

/** An answer read whole. */
export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface RawRequestOptions {
  method?: string;
  /** Sent as given, Host included (it replaces the one the URL implies). */
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** The local address to connect from, e.g. 127.0.0.2 to be another client on loopback. */
  localAddress?: string;
}

/**
 * One HTTP request on its own connection, with full control of the headers (fetch will not
 * send a Host of our choosing) and of the address it comes from.
 */
export function httpRequest(url: string, options: RawRequestOptions = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? 'GET',
        headers: options.headers ?? {},
        agent: false,
        ...(options.localAddress !== undefined ? { localAddress: options.localAddress } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** The `Authorization` header of HTTP Basic. */
export function basicAuth(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}
