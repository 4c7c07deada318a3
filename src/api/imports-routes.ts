import { Router } from 'express';
import type { AppDeps } from './app';

/** Placeholder until the imports endpoints land. */
export function importsRouter(_deps: AppDeps): Router {
  return Router();
}

/** OpenAPI paths of these endpoints (merged into /openapi.json). */
export const importsOpenApiPaths: Record<string, unknown> = {};
