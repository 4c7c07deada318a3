import { Router } from 'express';
import type { AppDeps } from './app';

/** Placeholder until the export endpoints land. */
export function exportsRouter(_deps: AppDeps): Router {
  return Router();
}

/** Placeholder until signed local downloads land. */
export function downloadsRouter(_deps: AppDeps): Router {
  return Router();
}

/** OpenAPI paths of these endpoints (merged into /openapi.json). */
export const exportsOpenApiPaths: Record<string, unknown> = {};
