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
  /** Unique per ending, e.g. `users-import-<id>:<run id>`: a job that ends again after a retry gets a new entry. */
  idempotencyKey: string;
}

/**
 * Writes the audit entry of a job as it ends. A retried write (same idempotency key) finds its entry there and
 * adds nothing; entries are never updated (the table refuses UPDATE and DELETE).
 */
export async function recordAuditEntry(db: Queryable, entry: AuditEntryInput): Promise<void> {
  await db.insert(auditLog).values(entry).onConflictDoNothing({ target: auditLog.idempotencyKey });
}
