import { and, asc, desc, eq, inArray, isNull, lt, or, sql } from 'drizzle-orm';
import type { Pool } from 'pg';
import { exportParts, exportsTable, operators, type ExportFormat, type ExportStatus } from '../../drizzle/schema';
import type { Cursor } from '../db/cursor';
import type { Db, Queryable } from '../db/client';
import { isUuid } from '../db/ids';
import { notFound } from '../errors';
import type { ExportColumn } from './columns';
import type { ExportFilters } from './filters';

export type ExportRow = typeof exportsTable.$inferSelect;
export type ExportPartRow = typeof exportParts.$inferSelect;
/** An export with its operator's email, the rows its parts hold so far and the database's clock when it was read. */
export type ExportWithOperator = ExportRow & { operatorEmail: string; rowsWritten?: number; readAt?: Date };

export const TERMINAL_EXPORT_STATUSES: readonly ExportStatus[] = ['COMPLETED', 'FAILED', 'CANCELLED', 'EXPIRED'];

/** The pool under a Drizzle database (COPY needs a client of its own). */
export function poolOf(db: Db): Pool {
  return (db as unknown as { $client: Pool }).$client;
}

/** Where an export's objects live: everything under one prefix, so retention and cleanup delete it at once. */
export const exportKeys = {
  prefix: (row: Pick<ExportRow, 'applicationId' | 'id'>) => `exports/${row.applicationId}/${row.id}/`,
  partsPrefix: (row: Pick<ExportRow, 'applicationId' | 'id'>) => `exports/${row.applicationId}/${row.id}/parts/`,
  file: (row: Pick<ExportRow, 'applicationId' | 'id' | 'format' | 'gzip'>) => `exports/${row.applicationId}/${row.id}/${exportFileName(row)}`,
};

/** `users-export-<id>.csv`, `.ndjson`, with `.gz` after it when compressed. */
export function exportFileName(row: Pick<ExportRow, 'id' | 'format' | 'gzip'>): string {
  return `users-export-${row.id}.${row.format === 'ndjson' ? 'ndjson' : 'csv'}${row.gzip ? '.gz' : ''}`;
}

/** The media type of an export file, from its name. */
export function exportContentType(fileName: string): string {
  if (fileName.endsWith('.gz')) return 'application/gzip';
  if (fileName.endsWith('.ndjson')) return 'application/x-ndjson; charset=utf-8';
  return 'text/csv; charset=utf-8';
}

const withOperator = {
  export: exportsTable,
  operatorEmail: operators.email,
  rowsWritten: sql<number>`(SELECT COALESCE(sum(p.row_count), 0)::int FROM export_parts p WHERE p.export_id = ${exportsTable.id})`,
  readAt: sql<Date>`now()`.mapWith((value: string | Date) => new Date(value)),
};
const withExtras = (r: { export: ExportRow; operatorEmail: string; rowsWritten: number; readAt: Date }): ExportWithOperator => ({
  ...r.export,
  operatorEmail: r.operatorEmail,
  rowsWritten: r.rowsWritten,
  readAt: r.readAt,
});

export async function insertExport(
  db: Queryable,
  params: {
    applicationId: string;
    operatorId: string;
    filters: ExportFilters;
    columns: ExportColumn[];
    format?: ExportFormat;
    gzip?: boolean;
    excelBom?: boolean;
    searchRestricted?: boolean;
  },
): Promise<ExportRow> {
  const [row] = await db
    .insert(exportsTable)
    .values({
      applicationId: params.applicationId,
      operatorId: params.operatorId,
      filters: params.filters as Record<string, unknown>,
      columns: params.columns,
      format: params.format ?? 'csv',
      gzip: params.gzip ?? false,
      excelBom: params.excelBom ?? false,
      searchRestricted: params.searchRestricted ?? false,
    })
    .returning();
  return row;
}

export async function setExportWorkflowId(db: Queryable, params: { id: string; workflowId: string }): Promise<void> {
  await db.update(exportsTable).set({ workflowId: params.workflowId }).where(eq(exportsTable.id, params.id));
}

/** An export of the application, with its operator's email; not_found for another application's. */
export async function getExport(db: Queryable, params: { applicationId: string; id: string }): Promise<ExportWithOperator> {
  const { applicationId, id } = params;
  if (!isUuid(id)) throw notFound('export');
  const [row] = await db
    .select(withOperator)
    .from(exportsTable)
    .innerJoin(operators, eq(operators.id, exportsTable.operatorId))
    .where(and(eq(exportsTable.id, id), eq(exportsTable.applicationId, applicationId)));
  if (!row) throw notFound('export');
  return withExtras(row);
}

/** An export by id alone (the worker's view); not_found when there is none. */
export async function getExportById(db: Queryable, id: string): Promise<ExportWithOperator> {
  const [row] = await db
    .select(withOperator)
    .from(exportsTable)
    .innerJoin(operators, eq(operators.id, exportsTable.operatorId))
    .where(eq(exportsTable.id, id));
  if (!row) throw notFound('export');
  return withExtras(row);
}

/**
 * The export whose local file is `storageKey`, for the links signed before the API served every link (by the file's
 * key); undefined when no export has that file. Rare and old links: no index for it.
 */
export async function findExportByLocalKey(db: Queryable, storageKey: string): Promise<ExportWithOperator | undefined> {
  const [row] = await db
    .select(withOperator)
    .from(exportsTable)
    .innerJoin(operators, eq(operators.id, exportsTable.operatorId))
    // Exports from before storage_kind was recorded (NULL) were all local files.
    .where(and(or(eq(exportsTable.storageKind, 'local'), isNull(exportsTable.storageKind)), eq(exportsTable.storageKey, storageKey)));
  return row && withExtras(row);
}

/** A page of the application's exports, newest first (limit+1 rows, see toPage). */
export async function listExports(
  db: Queryable,
  params: { applicationId: string; limit: number; cursor?: Cursor; status?: ExportStatus },
): Promise<ExportWithOperator[]> {
  const conditions = [eq(exportsTable.applicationId, params.applicationId)];
  if (params.status) conditions.push(eq(exportsTable.status, params.status));
  if (params.cursor) {
    conditions.push(sql`(${exportsTable.createdAt}, ${exportsTable.id}) < (${params.cursor.createdAt}, ${params.cursor.id})`);
  }
  const rows = await db
    .select(withOperator)
    .from(exportsTable)
    .innerJoin(operators, eq(operators.id, exportsTable.operatorId))
    .where(and(...conditions))
    .orderBy(desc(exportsTable.createdAt), desc(exportsTable.id))
    .limit(params.limit + 1);
  return rows.map(withExtras);
}

/** Signs a new link period for a completed export whose links are still of `generation`; false if they are not. */
export async function setExportLink(db: Queryable, params: { id: string; generation: number; issuedAt: Date; expiresAt: Date }): Promise<boolean> {
  const updated = await db
    .update(exportsTable)
    .set({ linkIssuedAt: params.issuedAt, linkExpiresAt: params.expiresAt })
    .where(and(eq(exportsTable.id, params.id), eq(exportsTable.linkGeneration, params.generation)))
    .returning({ id: exportsTable.id });
  return updated.length === 1;
}

export async function listExportParts(db: Queryable, exportId: string): Promise<ExportPartRow[]> {
  return db.select().from(exportParts).where(eq(exportParts.exportId, exportId)).orderBy(exportParts.partNo);
}

/** Recomputes an export's progress from its parts' rows (capped below 1 until it completes). */
export async function refreshExportProgress(db: Queryable, exportId: string): Promise<void> {
  await db.execute(sql`
    UPDATE exports e SET progress = LEAST(0.99, COALESCE(
      (SELECT sum(p.row_count)::float8 FROM export_parts p WHERE p.export_id = e.id) / NULLIF(e.estimated_rows, 0), 0))
    WHERE e.id = ${exportId} AND e.status = 'RUNNING'`);
}

/** Exports the reconciler looks at: QUEUED or RUNNING and created before `createdBefore`, oldest first. */
export async function listUnfinishedExports(
  db: Queryable,
  params: { createdBefore: Date; limit: number; applicationId?: string },
): Promise<ExportRow[]> {
  return db
    .select()
    .from(exportsTable)
    .where(
      and(
        params.applicationId ? eq(exportsTable.applicationId, params.applicationId) : undefined,
        inArray(exportsTable.status, ['QUEUED', 'RUNNING']),
        lt(exportsTable.createdAt, params.createdBefore),
      ),
    )
    .orderBy(asc(exportsTable.createdAt), asc(exportsTable.id))
    .limit(params.limit);
}
