import { Router } from 'express';
import { AUDIT_ACTIONS } from '../../drizzle/schema';
import { listAuditEntries, presentAuditEntry, type AuditAction } from '../audit/queries';
import { DomainError } from '../errors';
import type { AppDeps } from './deps';
import { operatorOf, requireOperator } from './auth';
import { parseListParams, toPage } from './pagination';

/** `/console/audit-log`: the application's audit entries, newest first; roles with `audit.read` only. */
export function auditRouter(deps: AppDeps): Router {
  const router = Router();
  router.get('/', requireOperator(deps.db, 'audit.read'), async (req, res) => {
    const { limit, cursor } = parseListParams(req.query);
    let action: AuditAction | undefined;
    if (req.query.action !== undefined && req.query.action !== '') {
      if (typeof req.query.action !== 'string' || !(AUDIT_ACTIONS as readonly string[]).includes(req.query.action)) {
        throw new DomainError('invalid', 'invalid_filter', `action must be one of ${AUDIT_ACTIONS.join(', ')}`);
      }
      action = req.query.action as AuditAction;
    }
    const rows = await listAuditEntries(deps.db, operatorOf(req).applicationId, { action, limit, cursor });
    res.json(toPage(rows, limit, presentAuditEntry));
  });
  return router;
}

const auditEntrySchema = {
  type: 'object',
  properties: {
    id: { type: 'string', format: 'uuid' },
    action: { enum: [...AUDIT_ACTIONS] },
    operator: { type: ['object', 'null'], properties: { id: { type: 'string', format: 'uuid' }, email: { type: 'string' } } },
    target_id: { type: ['string', 'null'], format: 'uuid' },
    status: { enum: ['SUCCESS', 'FAILURE'] },
    details: { type: 'object', description: 'imports: the row counts; exports: filters, columns and row_count' },
    started_at: { type: ['string', 'null'], format: 'date-time' },
    finished_at: { type: ['string', 'null'], format: 'date-time' },
    created_at: { type: 'string', format: 'date-time' },
  },
};

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

/** OpenAPI paths of these endpoints (merged into /openapi.json). */
export const auditOpenApiPaths: Record<string, unknown> = {
  '/console/audit-log': {
    get: {
      summary: 'The audit log, newest first: one entry as each import or export ends; entries never change',
      security: [{ operatorToken: [] }],
      parameters: [
        { name: 'action', in: 'query', schema: { enum: [...AUDIT_ACTIONS] } },
        { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 200, default: 50 } },
        { name: 'cursor', in: 'query', schema: { type: 'string' } },
      ],
      responses: {
        200: {
          description: 'A page of entries',
          content: {
            'application/json': {
              schema: { type: 'object', properties: { results: { type: 'array', items: auditEntrySchema }, next_cursor: { type: ['string', 'null'] } } },
            },
          },
        },
        400: errorResponse('invalid_filter, invalid_limit, invalid_cursor'),
        401: errorResponse('unauthenticated'),
        403: errorResponse('forbidden: the role may not read the audit log'),
      },
    },
  },
};
