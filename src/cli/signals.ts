/** Graceful shutdown on SIGTERM and SIGINT, with a second signal to force it. */

const SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

/**
 * Calls `onFirst` on the first SIGTERM or SIGINT. A second signal exits at once with code 1,
 * after `onForce` (which must be synchronous). Returns a function that removes the handlers.
 */
export function onShutdownSignal(
  onFirst: (signal: NodeJS.Signals) => void,
  onForce: (signal: NodeJS.Signals) => void = () => undefined,
): () => void {
  let received = false;
  const handler = (signal: NodeJS.Signals) => {
    if (received) {
      onForce(signal);
      process.exit(1);
    }
    received = true;
    onFirst(signal);
  };
  for (const signal of SIGNALS) process.on(signal, handler);
  return () => {
    for (const signal of SIGNALS) process.off(signal, handler);
  };
}
