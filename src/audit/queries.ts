import { and, desc, eq, sql } from 'drizzle-orm';
import { AUDIT_ACTIONS, auditLog, operators } from '../../drizzle/schema';
import type { Cursor } from '../db/cursor';
import type { Queryable } from '../db/client';

export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export interface AuditEntryInput {
  applicationId: string;
  action: AuditAction;
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

export type AuditEntryRow = typeof auditLog.$inferSelect & { operatorEmail: string | null };

/** A page of the application's audit entries, newest first (limit+1 rows, see toPage). */
export async function listAuditEntries(
  db: Queryable,
  applicationId: string,
  params: { action?: AuditAction; limit: number; cursor?: Cursor },
): Promise<AuditEntryRow[]> {
  const conditions = [eq(auditLog.applicationId, applicationId)];
  if (params.action) conditions.push(eq(auditLog.action, params.action));
  if (params.cursor) {
    conditions.push(sql`(${auditLog.createdAt}, ${auditLog.id}) < (${params.cursor.createdAt}, ${params.cursor.id})`);
  }
  const rows = await db
    .select({ entry: auditLog, operatorEmail: operators.email })
    .from(auditLog)
    .leftJoin(operators, eq(operators.id, auditLog.operatorId))
    .where(and(...conditions))
    .orderBy(desc(auditLog.createdAt), desc(auditLog.id))
    .limit(params.limit + 1);
  return rows.map((r) => ({ ...r.entry, operatorEmail: r.operatorEmail }));
}

/** The audit entry of API.md. */
export function presentAuditEntry(row: AuditEntryRow) {
  return {
    id: row.id,
    action: row.action,
    operator: row.operatorId ? { id: row.operatorId, email: row.operatorEmail } : null,
    target_id: row.targetId,
    status: row.status,
    details: row.details,
    started_at: row.startedAt?.toISOString() ?? null,
    finished_at: row.finishedAt?.toISOString() ?? null,
    created_at: row.createdAt.toISOString(),
  };
}
