import { and, desc, eq, sql } from 'drizzle-orm';
import { z } from 'zod';
import { AUDIT_ACTIONS, AUDIT_STATUSES, auditLog, operators } from '../../drizzle/schema';
import type { Cursor } from '../db/cursor';
import type { Queryable } from '../db/client';
import { idSchema, jsonObjectSchema, timeSchema } from '../response-schemas';

export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export interface AuditEntryInput {
  applicationId: string;
  action: AuditAction;
  /** Null when no operator acted: an API key started the job (then apiKeyPrefix), or the CLI (its details say `actor: "cli"`). */
  operatorId: string | null;
  /** The first 12 characters of the API key that started the job (public API). */
  apiKeyPrefix?: string | null;
  targetId: string;
  status: (typeof AUDIT_STATUSES)[number];
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
export async function recordAuditEntry(db: Queryable, entry: AuditEntryInput): Promise<boolean> {
  const inserted = await db
    .insert(auditLog)
    .values(entry)
    .onConflictDoNothing({ target: auditLog.idempotencyKey })
    .returning({ id: auditLog.id });
  return inserted.length > 0;
}

export type AuditEntryRow = typeof auditLog.$inferSelect & { operatorEmail: string | null };

/** A page of the application's audit entries, newest first (limit+1 rows, see toPage). */
export async function listAuditEntries(
  db: Queryable,
  params: { applicationId: string; action?: AuditAction; limit: number; cursor?: Cursor },
): Promise<AuditEntryRow[]> {
  const conditions = [eq(auditLog.applicationId, params.applicationId)];
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
export const auditEntrySchema = z.object({
  id: idSchema,
  action: z.enum(AUDIT_ACTIONS),
  operator: z.object({ id: idSchema, email: z.string().nullable() }).nullable(),
  /** The API key that started the job (its first 12 characters), as on the import object; null when it was not a key. */
  api_key: z.object({ prefix: z.string() }).nullable(),
  target_id: idSchema.nullable(),
  status: z.enum(AUDIT_STATUSES),
  details: jsonObjectSchema.meta({
    description:
      'imports: the row counts, and who started it: actor (operator or api_key) and api_key: {prefix} (null for an operator); exports: filters, columns and row_count',
  }),
  started_at: timeSchema.nullable(),
  finished_at: timeSchema.nullable(),
  created_at: timeSchema,
});
export type AuditEntryObject = z.infer<typeof auditEntrySchema>;

export function presentAuditEntry(row: AuditEntryRow): AuditEntryObject {
  return {
    id: row.id,
    // Written by recordAuditEntry, whose input is an AuditAction.
    action: row.action as AuditAction,
    operator: row.operatorId ? { id: row.operatorId, email: row.operatorEmail } : null,
    api_key: row.apiKeyPrefix ? { prefix: row.apiKeyPrefix } : null,
    target_id: row.targetId,
    status: row.status,
    details: row.details,
    started_at: row.startedAt?.toISOString() ?? null,
    finished_at: row.finishedAt?.toISOString() ?? null,
    created_at: row.createdAt.toISOString(),
  };
}
