import express from 'express';
import { randomUUID } from 'node:crypto';
import { pinoHttp } from 'pino-http';
import type { AppDeps } from './deps';
import { auditRouter } from './audit-routes';
import { consoleRouter } from './console-routes';
import { applicationOf, requireOperator } from './auth';
import { deleteSavedMapping, listSavedMappings, presentSavedMapping } from '../imports/mappings';
import { parseListParams, toPage } from './pagination';
import { exportSchedulesRouter } from './export-schedules-routes';
import { exportsRouter, downloadsRouter } from './exports-routes';
import { healthRouter } from './health-routes';
import { errorHandler, notFoundHandler } from './http-errors';
import { IMPORT_COLUMNS } from '../imports/columns';
import { importsRouter, publicImportsRouter } from './imports-routes';
import { inputGuard } from './input-guard';
import { openApiDocument } from './openapi';
import { serializeRequest } from './request-log';
import { usersRouter } from './users-routes';
import { webhooksRouter } from './webhooks-routes';
import { httpMetrics, metricsHandler } from '../metrics/http';
import { registerJobStateMetrics } from '../metrics/job-states';
import { createMetricsRegistry } from '../metrics/registry';


/** The Express application: routes, auth, JSON logs with a request id, and the one error handler. */
export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  const registry = deps.metrics ?? createMetricsRegistry();
  registerJobStateMetrics(registry, deps.db, deps.logger);
  app.use(httpMetrics(registry));
  app.use(
    pinoHttp({
      logger: deps.logger,
      genReqId: (req, res) => {
        const given = req.headers['x-request-id'];
        const id = typeof given === 'string' && /^[\w.-]{1,128}$/.test(given) ? given : randomUUID();
        res.setHeader('x-request-id', id);
        return id;
      },
      redact: ['req.headers.authorization', 'req.headers["x-api-key"]', 'req.headers.cookie'],
      serializers: { req: serializeRequest },
      autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/readyz' || req.url === '/metrics' },
    }),
  );
  app.use(express.json({ limit: '1mb', strict: false }));
  app.use(inputGuard);

  app.use(healthRouter(deps.db, deps.temporal));
  // Prometheus text (README, "Metrics"): no personal data or ids in any label, so it is served without auth.
  app.get('/metrics', metricsHandler(registry));
  app.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument());
  });
  // Before /v3/users: its `/:vendorData/` would otherwise take `/imports`.
  app.use('/v3/users/imports', publicImportsRouter(deps));
  app.use('/v3/users', usersRouter(deps.db));
  app.use('/console/users/imports', importsRouter(deps));
  app.get('/console/users/import-template.csv', requireOperator(deps.db, 'imports.read'), (_req, res) => {
    res.type('text/csv').attachment('users-import-template.csv').send(`${IMPORT_COLUMNS.join(',')}\r\n`);
  });
  app.get('/console/users/import-mappings', requireOperator(deps.db, 'mappings.manage'), async (req, res) => {
    const { limit, cursor } = parseListParams(req.query);
    const rows = await listSavedMappings(deps.db, { applicationId: applicationOf(req), limit, cursor });
    res.json(toPage(rows, limit, presentSavedMapping));
  });
  app.delete('/console/users/import-mappings/:id', requireOperator(deps.db, 'mappings.manage'), async (req, res) => {
    await deleteSavedMapping(deps.db, { applicationId: applicationOf(req), id: String(req.params.id) });
    res.status(204).end();
  });
  app.use('/console/users/exports', exportsRouter(deps));
  app.use('/console/users/export-schedules', exportSchedulesRouter(deps));
  app.use('/downloads', downloadsRouter(deps));
  app.use('/console/audit-log', auditRouter(deps));
  app.use('/console/webhooks', webhooksRouter(deps));
  app.get('/', (_req, res) => {
    res.redirect(302, '/console/');
  });
  app.use('/console', consoleRouter(deps));

  app.use(notFoundHandler);
  app.use(errorHandler);
  return app;
}
