/** `user-sync stats`: delivery counters and queue status, the same from any process. */
import { withDeployment, type CommonOptions } from './common.js';
import { formatStats } from './format.js';

/** Options of `user-sync stats`. */
export interface StatsCommandOptions extends CommonOptions {
  /** Print `{ stats, queue }` as JSON. */
  json?: boolean;
}

/** Prints getStats() and getQueueStatus() as a table, or as JSON. */
export async function runStats(options: StatsCommandOptions): Promise<void> {
  const [stats, queue] = await withDeployment(options, (deployment) =>
    Promise.all([deployment.getStats(), deployment.getQueueStatus()]),
  );
  console.log(options.json ? JSON.stringify({ stats, queue }, null, 2) : formatStats(stats, queue));
}
