import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

export type Responder = (req: ReceivedRequest, res: ServerResponse, index: number) => unknown;

/** A real HTTP server on 127.0.0.1 and a free port that records what it receives. */
export interface HttpTarget {
  url: string;
  requests: ReceivedRequest[];
  /** How the next requests are answered (default: 200 `ok`). */
  respond: Responder;
  close(): Promise<void>;
}

export async function startHttpTarget(respond?: Responder): Promise<HttpTarget> {
  const requests: ReceivedRequest[] = [];
  const target: HttpTarget = {
    url: '',
    requests,
    respond: respond ?? ((_req, res) => void res.end('ok')),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const received: ReceivedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      };
      requests.push(received);
      void Promise.resolve(target.respond(received, res, requests.length - 1)).catch(() => res.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  target.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/users`;
  return target;
}
