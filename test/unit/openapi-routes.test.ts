import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from '@temporalio/client';
import { USER_STATUSES } from '../../drizzle/schema';
import { createApp } from '../../src/api/app';
import { openApiDocument } from '../../src/api/openapi';
import { loadConfig } from '../../src/config';
import { createDatabase, type Database } from '../../src/db/client';
import { EXPORT_COLUMNS } from '../../src/exports/columns';
import { createLogger } from '../../src/logger';
import { createStorage } from '../../src/storage';

/**
 * /openapi.json against the Express application as createApp() mounts it: every route of the router stack is an
 * operation of the document, and every operation has a route. Nothing is requested: the app is only built (the
 * database pool and the Temporal connection are lazy and never used).
 */

/** Mounted, but not operations of the API: the document itself, the redirect to the console, the console's pages. */
const NOT_OPERATIONS = ['GET /openapi.json', 'GET /', 'GET /console/{}'];

interface Layer {
  route?: { path: string | RegExp; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
  rawPath?: string | RegExp;
}

/**
 * `METHOD path` of every route, with Express's parameters (`:id`, `*key`) and regexps as `{}`. A router mounted at
 * a path adds it in front; a trailing slash is dropped (Express routes match with or without one).
 */
function mountedRoutes(stack: Layer[], prefix = ''): string[] {
  return stack.flatMap((layer) => {
    if (layer.route) {
      const route = layer.route;
      return Object.keys(route.methods).map((method) => `${method.toUpperCase()} ${normalise(prefix + pathText(route.path))}`);
    }
    if (layer.handle?.stack) {
      const mountedAt = layer.rawPath === undefined || layer.rawPath === '/' ? '' : pathText(layer.rawPath);
      return mountedRoutes(layer.handle.stack, prefix + mountedAt);
    }
    return []; // middleware (logging, body parsing, static files, the error handlers)
  });
}

const pathText = (p: string | RegExp) => (typeof p === 'string' ? p : '/{}');

function normalise(p: string): string {
  const path = p.replace(/\/[:*][A-Za-z_]\w*/g, '/{}').replace(/\/\{[^}]*\}/g, '/{}');
  return path.length > 1 ? path.replace(/\/$/, '') : path;
}

function documentedOperations(): string[] {
  const doc = openApiDocument() as { paths: Record<string, Record<string, unknown>> };
  return Object.entries(doc.paths).flatMap(([p, operations]) =>
    Object.keys(operations)
      .filter((key) => ['get', 'put', 'post', 'patch', 'delete', 'head', 'options'].includes(key))
      .map((method) => `${method.toUpperCase()} ${normalise(p)}`),
  );
}

let dataDir: string;
let database: Database;
let routes: string[];
beforeAll(() => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'kyc-openapi-routes-'));
  const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', DATA_DIR: dataDir, LINK_SIGNING_SECRET: 'unused' });
  database = createDatabase('postgres://unused@127.0.0.1:1/unused', { poolSize: 1, applicationName: 'kyc-openapi-routes' });
  const app = createApp({
    config,
    db: database.db,
    temporal: new Client(),
    storage: createStorage(config),
    logger: createLogger(config, 'api'),
  });
  routes = mountedRoutes((app as unknown as { router: { stack: Layer[] } }).router.stack);
});
afterAll(async () => {
  await database?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

test('the walk finds the routes (a sanity check of the walk itself)', () => {
  expect(routes).toEqual(expect.arrayContaining(['GET /healthz', 'PATCH /v3/users/{}', 'POST /console/users/imports', 'GET /downloads/{}']));
  // Each route once, but GET /downloads/{}: the API-served links (`/:token`) and the older signed local links
  // (`/*key`, kept until the last of them expires) are one documented path.
  const repeated = routes.filter((r, i) => routes.indexOf(r) !== i);
  expect(repeated).toEqual(['GET /downloads/{}']);
});

test('every mounted route is an operation of /openapi.json', () => {
  const documented = new Set(documentedOperations());
  expect(routes.filter((r) => !documented.has(r) && !NOT_OPERATIONS.includes(r))).toEqual([]);
  // The exceptions are still mounted (a stale entry here would hide nothing, but say something false).
  expect(NOT_OPERATIONS.filter((r) => !routes.includes(r))).toEqual([]);
});

test('every operation of /openapi.json has a mounted route', () => {
  const mounted = new Set(routes);
  expect(documentedOperations().filter((op) => !mounted.has(op))).toEqual([]);
});

test("the export request's columns and status filter are enums of the values the schema takes", () => {
  const doc = openApiDocument() as { paths: Record<string, any> };
  const body = doc.paths['/console/users/exports'].post.requestBody.content['application/json'].schema;
  expect(body.properties.columns.items).toEqual({ type: 'string', enum: [...EXPORT_COLUMNS] });
  expect(body.properties.filters.properties.status.items).toEqual({ type: 'string', enum: [...USER_STATUSES] });
});
