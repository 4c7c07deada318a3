import { Router } from 'express';
import type { AppDeps } from './app';

/** Placeholder until the audit endpoints land. */
export function auditRouter(_deps: AppDeps): Router {
  return Router();
}

/** OpenAPI paths of these endpoints (merged into /openapi.json). */
export const auditOpenApiPaths: Record<string, unknown> = {};
