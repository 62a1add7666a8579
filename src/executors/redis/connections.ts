/** Opening and closing the connections of Redis targets, bounded in time. */
import { Redis } from 'ioredis';

/** The connection of a target URL when no `connect` option is given. */
export function defaultConnect(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: 2, enableOfflineQueue: true, lazyConnect: false });
}

/** How long `close()` waits for a connection to end before dropping it. */
const CLOSE_GRACE_MS = 2_000;

/** Read through a function so that TypeScript does not narrow a status that changes under it. */
function hasEnded(client: Redis): boolean {
  return client.status === 'end';
}

/** Ends a connection at once, destroying its socket so that a silent server cannot hold it open. */
function drop(client: Redis): void {
  client.disconnect();
  const stream: { destroy(): void } | undefined = client.stream;
  stream?.destroy();
}

/** Resolves when the connection has ended, or after `CLOSE_GRACE_MS` at the latest. */
async function ended(client: Redis): Promise<void> {
  if (hasEnded(client)) return;
  let timer: NodeJS.Timeout | undefined;
  let onEnd: (() => void) | undefined;
  await new Promise<void>((resolve) => {
    onEnd = resolve;
    client.once('end', onEnd);
    timer = setTimeout(resolve, CLOSE_GRACE_MS);
  });
  clearTimeout(timer);
  if (onEnd) client.off('end', onEnd);
}

/**
 * Closes a connection: a ready one quits (its pending replies arrive first), bounded by
 * `CLOSE_GRACE_MS`; any other is dropped at once.
 */
export async function shutdown(client: Redis): Promise<void> {
  switch (client.status) {
    case 'end':
      return;
    case 'wait':
    case 'reconnecting':
      // No socket is open; disconnect() cancels the pending (re)connect.
      client.disconnect();
      return;
    case 'ready': {
      const done = ended(client);
      client.quit().catch(() => drop(client));
      await done;
      if (!hasEnded(client)) drop(client);
      return;
    }
    default: {
      const done = ended(client);
      drop(client);
      await done;
    }
  }
}
