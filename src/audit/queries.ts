import { auditLog } from '../../drizzle/schema';
import type { Queryable } from '../db/client';

export interface AuditEntryInput {
  applicationId: string;
  action: 'users.import' | 'users.export';
  operatorId: string;
  targetId: string;
  status: 'SUCCESS' | 'FAILURE';
  details: Record<string, unknown>;
  startedAt: Date | null;
  finishedAt: Date | null;
}

/**
 * Writes the audit entry of a job as it ends. One entry per (action, target): a retried write finds the entry
 * there and adds nothing (entries are never updated: the table refuses UPDATE and DELETE).
 */
export async function recordAuditEntry(db: Queryable, entry: AuditEntryInput): Promise<void> {
  await db.insert(auditLog).values(entry).onConflictDoNothing({ target: [auditLog.action, auditLog.targetId] });
}
