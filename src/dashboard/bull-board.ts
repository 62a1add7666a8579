import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Express, RequestHandler } from 'express';
import type { Deployment } from '../deployment.js';
import { boardActionGuard, boardHooks } from './board-guard.js';
import { roleOf, type DashboardRole } from './roles.js';

/** Where Bull Board is served. */
export const BOARD_PATH = '/admin/queues';

/**
 * Adapter options per queue and role. Operators: delivery and maintenance queues may retry
 * failed jobs, never completed ones (a delivery that went through is not sent again by hand;
 * `allowCompletedRetries` is an adapter option its typings leave out); the dead-letter queue is
 * read-only (dead letters are replayed through the JSON API or the CLI, or by retrying the
 * failed job in its target queue). Viewers: every queue read-only, so the UI shows no action.
 * What the server accepts is decided by `board-guard.ts`, whatever the UI offers.
 */
function queueOptions(role: DashboardRole, kind: 'delivery' | 'dead-letter' | 'maintenance') {
  if (role === 'viewer' || kind === 'dead-letter') return { readOnlyMode: true };
  return { allowRetries: true, allowCompletedRetries: false };
}

/**
 * One Bull Board for `role`, as an express app: the delivery queue of every enabled target, the
 * dead-letter queue and the maintenance queue, with `boardHooks(role)` refusing every action
 * route not allowed. It uses the deployment's own queue objects, so it opens no connection and
 * has nothing to close.
 */
export function createBoardApp(deployment: Deployment, role: DashboardRole): Express {
  const serverAdapter = new ExpressAdapter().setBasePath(BOARD_PATH);
  // With partitions, each target has a queue per partition (deliver.<target>.p<n>): the '.'
  // delimiter groups them under their target in Bull Board's menu.
  const partitioned = deployment.keyspace.partitions > 1;
  const deliveries = deployment.config.targets
    .filter((t) => t.enabled)
    .flatMap((t) =>
      deployment.queues.deliveriesOf(t.service).map(
        (queue, partition) =>
          new BullMQAdapter(queue, {
            ...queueOptions(role, 'delivery'),
            ...(partitioned ? { delimiter: '.' } : {}),
            description: `deliveries to ${t.service} (${t.kind})${partitioned ? `, partition ${partition}` : ''}`,
          }),
      ),
    );
  createBullBoard({
    queues: [
      ...deliveries,
      new BullMQAdapter(deployment.queues.deadLetter, {
        ...queueOptions(role, 'dead-letter'),
        description: 'dead letters: replay them with POST /api/dead-letters/replay or `user-sync dlq replay`',
      }),
      new BullMQAdapter(deployment.queues.maintenance, {
        ...queueOptions(role, 'maintenance'),
        description: 'consistency sweeps and other maintenance',
      }),
    ],
    serverAdapter,
    options: {
      handlerHooks: boardHooks(role),
      uiConfig: {
        boardTitle: role === 'viewer' ? 'user-sync (viewer)' : 'user-sync',
        miscLinks: [
          { text: 'Targets (JSON)', url: '/api/targets' },
          { text: 'Dead letters (JSON)', url: '/api/dead-letters' },
          { text: 'Metrics', url: '/metrics' },
        ],
      },
    },
  });
  const app = serverAdapter.getRouter() as Express;
  // The adapter's own express app would announce itself on every answer.
  app.disable('x-powered-by');
  return app;
}

/**
 * Bull Board, to mount at `BOARD_PATH`: `boardActionGuard` first, then the operator's board or
 * the viewer's (every queue read-only), by the request's role.
 */
export function boardRoutes(deployment: Deployment): RequestHandler[] {
  const boards: Record<DashboardRole, Express> = {
    operator: createBoardApp(deployment, 'operator'),
    viewer: createBoardApp(deployment, 'viewer'),
  };
  const pick: RequestHandler = (req, res, next) => {
    const board = boards[roleOf(req) === 'operator' ? 'operator' : 'viewer'];
    // As express does for a mounted app: the board's app swaps the prototypes of req and res
    // for its own; they are put back when it hands the request on (its 404s, errors).
    const reqProto = Object.getPrototypeOf(req) as object;
    const resProto = Object.getPrototypeOf(res) as object;
    board(req, res, (error?: unknown) => {
      Object.setPrototypeOf(req, reqProto);
      Object.setPrototypeOf(res, resProto);
      next(error);
    });
  };
  return [boardActionGuard(deployment), pick];
}
