import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Express } from 'express';
import type { Deployment } from '../deployment.js';

/** Where Bull Board is served. */
export const BOARD_PATH = '/admin/queues';

/**
 * Delivery queues: failed jobs may be retried; completed ones may not (a delivery that went
 * through is not sent again by hand). `allowCompletedRetries` is an adapter option its typings
 * leave out.
 */
const DELIVERY_QUEUE_OPTIONS = { allowRetries: true, allowCompletedRetries: false };

/**
 * Bull Board for a deployment, to mount at `BOARD_PATH`: the delivery queue of every enabled target
 * (retries allowed; retrying a completed delivery is not offered), the maintenance queue, and the
 * dead-letter queue read-only (dead letters are replayed through the JSON API or the CLI, or by
 * retrying the failed job in its target queue). It uses the deployment's own queue objects, so it
 * opens no connection and has nothing to close.
 */
export function createBoardApp(deployment: Deployment): Express {
  const serverAdapter = new ExpressAdapter().setBasePath(BOARD_PATH);
  const deliveries = deployment.config.targets
    .filter((t) => t.enabled)
    .map(
      (t) =>
        new BullMQAdapter(deployment.queues.delivery(t.service), {
          ...DELIVERY_QUEUE_OPTIONS,
          description: `deliveries to ${t.service} (${t.kind})`,
        }),
    );
  createBullBoard({
    queues: [
      ...deliveries,
      new BullMQAdapter(deployment.queues.deadLetter, {
        readOnlyMode: true,
        description: 'dead letters: replay them with POST /api/dead-letters/replay or `user-sync dlq replay`',
      }),
      new BullMQAdapter(deployment.queues.maintenance, {
        allowRetries: true,
        description: 'consistency sweeps and other maintenance',
      }),
    ],
    serverAdapter,
    options: {
      uiConfig: {
        boardTitle: 'user-sync',
        miscLinks: [
          { text: 'Targets (JSON)', url: '/api/targets' },
          { text: 'Dead letters (JSON)', url: '/api/dead-letters' },
          { text: 'Metrics', url: '/metrics' },
        ],
      },
    },
  });
  return serverAdapter.getRouter() as Express;
}
