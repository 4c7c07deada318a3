import express, { Router } from 'express';
import fs from 'node:fs';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { z } from 'zod';
import { applications, ROLES } from '../../drizzle/schema';
import { DomainError } from '../errors';
import { EXPORT_COLUMNS, PERSONAL_COLUMNS } from '../exports/columns';
import type { AppDeps } from './deps';
import { can, PERMISSIONS, type Permission } from '../auth/permissions';
import { operatorOf, requireOperator } from './auth';
import { errorBody } from './http-errors';

/** `GET /console/me`: the signed-in operator, its application, its role's permissions and columns, the Temporal UI. */
export const consoleMeSchema = z.object({
  operator: z.object({ id: z.uuid(), email: z.string(), role: z.enum(ROLES) }),
  application: z.object({ id: z.uuid(), name: z.string() }),
  permissions: z.array(z.enum(Object.keys(PERMISSIONS) as [Permission, ...Permission[]])),
  export_columns: z.array(z.object({ name: z.enum(EXPORT_COLUMNS), allowed: z.boolean(), reason: z.string().nullable() })),
  temporal_ui: z.object({ url: z.string(), namespace: z.string() }),
});
export type ConsoleMe = z.infer<typeof consoleMeSchema>;

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
    const me: ConsoleMe = {
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
    };
    res.json(me);
  });

  const dir = config.console.dir;
  const indexFile = path.join(dir, 'index.html');
  // Hashed file names: the assets never change under their name; index.html is always revalidated.
  router.use('/assets', express.static(path.join(dir, 'assets'), { immutable: true, maxAge: '1y' }), (_req, res) => {
    res.status(404).json(errorBody('not_found', 'no such file of the console'));
  });
  router.use(express.static(dir, { index: false, maxAge: 0 }));
  // The console's own address, GET /console/, is the page for any client that takes HTML (`*/*` included: curl,
  // fetch). Any other page of the app (its routes live in the browser) gets index.html when a browser asks for a
  // page: API paths are routed before this router, and a script asking for JSON still gets the JSON 404.
  router.get(/.*/, (req, res, next) => {
    const page = req.path === '/' ? req.accepts('html') === 'html' : req.accepts(['json', 'html']) === 'html';
    if (!page) {
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
