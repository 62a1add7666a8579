import { Router } from 'express';
import type { Deployment } from '../deployment.js';
import { noParameters } from './api.js';
import { parseInput } from './http.js';
import { readOverview } from './overview.js';
import { OVERVIEW_ASSETS } from './overview-assets.js';
import { renderOverviewPage } from './overview-page.js';
import { roleOf } from './roles.js';
import { PAGE_CSP } from './security.js';

/**
 * The overview page, to mount at the dashboard's root behind authentication: `GET /` (the page
 * for the request's role, under `PAGE_CSP`; no query parameter is accepted) and its two files
 * `GET /overview/overview.css` and `/overview/overview.js`. Everything the page shows is read
 * by `readOverview` at each request, as `GET /api/overview` answers it.
 */
export function overviewRoutes(deployment: Deployment, now: () => number): Router {
  const router = Router();
  router.get('/', async (req, res) => {
    parseInput(noParameters, req.query);
    const overview = await readOverview(deployment, now());
    res
      .set('Content-Security-Policy', PAGE_CSP)
      .type('text/html; charset=utf-8')
      .send(renderOverviewPage(overview, roleOf(req) === 'operator' ? 'operator' : 'viewer'));
  });
  for (const asset of Object.values(OVERVIEW_ASSETS)) {
    router.get(asset.path, (req, res) => {
      parseInput(noParameters, req.query);
      res.set('Content-Security-Policy', PAGE_CSP).type(asset.type).send(asset.body);
    });
  }
  return router;
}
