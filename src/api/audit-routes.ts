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
    const rows = await listAuditEntries(deps.db, { applicationId: operatorOf(req).applicationId, action, limit, cursor });
    res.json(toPage(rows, limit, presentAuditEntry));
  });
  return router;
}
