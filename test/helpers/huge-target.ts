/**
 * A real HTTP server on 127.0.0.1 that answers every request with a body of `bytes` bytes,
 * generated chunk by chunk as the client reads (never held in memory: one 64 KiB chunk is
 * written again and again, and writing waits for `drain`), and stops as soon as the client
 * goes away. It counts what it sent, so tests can tell a client that read it all from one
 * that stopped early.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const MiB = 1_048_576;

export interface HugeAnswer {
  status: number;
  /** Body bytes in all. */
  bytes: number;
  /** Starts the body (e.g. the opening of a JSON document); the filler follows. */
  prefix?: string;
  /** The 64 KiB chunk repeated after the prefix. Default: `x` bytes. */
  filler?: Buffer;
}

export interface HugeTarget {
  origin: string;
  /** Requests received, in order: method and path. */
  requests: Array<{ method: string; url: string }>;
  /** Body bytes written per request (what the kernel took, not what the client read). */
  sent: number[];
  /** Answers still being written. */
  streaming(): number;
  close(): Promise<void>;
}

const CHUNK = 64 * 1024;

/** Starts the server; `answer` says what each request gets. */
export async function startHugeTarget(answer: (req: IncomingMessage) => HugeAnswer): Promise<HugeTarget> {
  const requests: HugeTarget['requests'] = [];
  const sent: number[] = [];
  let streaming = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      const index = requests.push({ method: req.method ?? '', url: req.url ?? '' }) - 1;
      sent[index] = 0;
      const { status, bytes, prefix = '', filler = Buffer.alloc(CHUNK, 'x') } = answer(req);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(bytes) });
      streaming++;
      let left = bytes;
      let open = true;
      res.once('close', () => {
        open = false;
        streaming--;
      });
      // A client that destroys its socket makes writes fail; that is the point, not an error.
      res.on('error', () => undefined);
      const write = (chunk: Buffer): boolean => {
        left -= chunk.length;
        (sent[index] as number) += chunk.length;
        return res.write(chunk);
      };
      const pump = () => {
        while (open && left > 0) {
          const ok = write(left >= filler.length ? filler : filler.subarray(0, left));
          if (!ok) {
            res.once('drain', pump);
            return;
          }
        }
        if (open) res.end();
      };
      if (prefix && !write(Buffer.from(prefix))) res.once('drain', pump);
      else pump();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    sent,
    streaming: () => streaming,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
