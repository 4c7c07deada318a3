import express, { Router } from 'express';
import fs from 'node:fs';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { applications } from '../../drizzle/schema';
import { DomainError } from '../errors';
import { EXPORT_COLUMNS, PERSONAL_COLUMNS } from '../exports/columns';
import type { AppDeps } from './deps';
import { can, PERMISSIONS, type Permission } from '../auth/permissions';
import { operatorOf, requireOperator } from './auth';
import { errorBody } from './http-errors';

/**
 * The operator console: `GET /console/me` (who the token belongs to and what the role may do, so the page never
 * keeps a role table of its own) and the built single-page app (web/, built to CONSOLE_DIR) under `/console/`.
 */
export function consoleRouter(deps: AppDeps): Router {
  const { db, config } = deps;
  const router = Router();

  router.get('/me', requireOperator(db, 'imports.read'), async (req, res) => {
    const operator = operatorOf(req);
    const [application] = await db
      .select({ id: applications.id, name: applications.name })
      .from(applications)
      .where(eq(applications.id, operator.applicationId));
    if (!application) throw new DomainError('unauthenticated', 'unauthenticated', 'the bearer token is not valid');
    const allColumns = can(operator.role, 'exports.all_columns');
    res.json({
      operator: { id: operator.id, email: operator.email, role: operator.role },
      application,
      permissions: (Object.keys(PERMISSIONS) as Permission[]).filter((p) => can(operator.role, p)),
      export_columns: EXPORT_COLUMNS.map((name) => {
        const allowed = allColumns || !PERSONAL_COLUMNS.includes(name);
        return {
          name,
          allowed,
          reason: allowed ? null : `personal data: the ${operator.role} role may export only the restricted columns`,
        };
      }),
      temporal_ui: { url: config.console.temporalUiUrl, namespace: config.temporal.namespace },
    });
  });

  const dir = config.console.dir;
  const indexFile = path.join(dir, 'index.html');
  // Hashed file names: the assets never change under their name; index.html is always revalidated.
  router.use('/assets', express.static(path.join(dir, 'assets'), { immutable: true, maxAge: '1y' }), (_req, res) => {
    res.status(404).json(errorBody('not_found', 'no such file of the console'));
  });
  router.use(express.static(dir, { index: false, maxAge: 0 }));
  // Any other page of the app (its routes live in the browser) gets index.html, when a browser asks for a page:
  // API paths are routed before this router, and a script asking for JSON still gets the JSON 404.
  router.get(/.*/, (req, res, next) => {
    if (req.accepts(['json', 'html']) !== 'html') {
      next();
      return;
    }
    if (!fs.existsSync(indexFile)) {
      res.status(503).json(errorBody('console_not_built', `the console is not built (${indexFile} is missing): run npm run build:web`));
      return;
    }
    res.setHeader('cache-control', 'no-cache');
    res.sendFile(indexFile);
  });
  return router;
}

const errorRef = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

export const consoleOpenApiPaths: Record<string, unknown> = {
  '/console/me': {
    get: {
      summary: "The signed-in operator, its application, what its role may do and where the Temporal Web UI is",
      security: [{ operatorToken: [] }],
      responses: {
        200: {
          description: 'The operator',
          content: {
            'application/json': {
              schema: {
                type: 'object',
                properties: {
                  operator: { type: 'object', properties: { id: { type: 'string' }, email: { type: 'string' }, role: { type: 'string' } } },
                  application: { type: 'object', properties: { id: { type: 'string' }, name: { type: 'string' } } },
                  permissions: { type: 'array', items: { enum: Object.keys(PERMISSIONS) } },
                  export_columns: {
                    type: 'array',
                    items: {
                      type: 'object',
                      properties: { name: { type: 'string' }, allowed: { type: 'boolean' }, reason: { type: ['string', 'null'] } },
                    },
                  },
                  temporal_ui: { type: 'object', properties: { url: { type: 'string' }, namespace: { type: 'string' } } },
                },
              },
            },
          },
        },
        401: errorRef('unauthenticated'),
      },
    },
  },
};
