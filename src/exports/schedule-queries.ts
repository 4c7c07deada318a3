import { and, desc, eq, isNull, sql } from 'drizzle-orm';
import { z } from 'zod';
import { EXPORT_FORMATS, exportSchedules, operators } from '../../drizzle/schema';
import type { Cursor } from '../db/cursor';
import type { Queryable } from '../db/client';
import { isUuid } from '../db/ids';
import { notFound } from '../errors';
import { idSchema, operatorRefSchema, timeSchema } from '../response-schemas';
import { EXPORT_COLUMNS, type ExportColumn } from './columns';
import type { ExportFilters } from './filters';
import { exportObjectSchema } from './present';

export type ExportScheduleRow = typeof exportSchedules.$inferSelect;
export type ExportScheduleWithCreator = ExportScheduleRow & { creatorEmail: string };

const withCreator = { schedule: exportSchedules, creatorEmail: operators.email };

/** A schedule of the application (not deleted), with its creator's email; not_found for another application's. */
export async function getExportSchedule(db: Queryable, params: { applicationId: string; id: string }): Promise<ExportScheduleWithCreator> {
  if (!isUuid(params.id)) throw notFound('export schedule');
  const [row] = await db
    .select(withCreator)
    .from(exportSchedules)
    .innerJoin(operators, eq(operators.id, exportSchedules.createdBy))
    .where(and(eq(exportSchedules.id, params.id), eq(exportSchedules.applicationId, params.applicationId), isNull(exportSchedules.deletedAt)));
  if (!row) throw notFound('export schedule');
  return { ...row.schedule, creatorEmail: row.creatorEmail };
}

/** A page of the application's schedules, newest first (limit+1 rows, see toPage). */
export async function listExportSchedules(
  db: Queryable,
  params: { applicationId: string; limit: number; cursor?: Cursor },
): Promise<ExportScheduleWithCreator[]> {
  const conditions = [eq(exportSchedules.applicationId, params.applicationId), isNull(exportSchedules.deletedAt)];
  if (params.cursor) {
    conditions.push(sql`(${exportSchedules.createdAt}, ${exportSchedules.id}) < (${params.cursor.createdAt}, ${params.cursor.id})`);
  }
  const rows = await db
    .select(withCreator)
    .from(exportSchedules)
    .innerJoin(operators, eq(operators.id, exportSchedules.createdBy))
    .where(and(...conditions))
    .orderBy(desc(exportSchedules.createdAt), desc(exportSchedules.id))
    .limit(params.limit + 1);
  return rows.map((r) => ({ ...r.schedule, creatorEmail: r.creatorEmail }));
}

/** The schedule object of API.md ("More on exports"). */
export const exportScheduleObjectSchema = z.object({
  id: idSchema,
  name: z.string(),
  filters: exportObjectSchema.shape.filters,
  columns: z.array(z.enum(EXPORT_COLUMNS)),
  format: z.enum(EXPORT_FORMATS),
  gzip: z.boolean(),
  excel_bom: z.boolean(),
  every: z.string().nullable(),
  cron: z.string().nullable(),
  incremental: z.boolean(),
  paused: z.boolean(),
  next_run_at: timeSchema.nullable().meta({ description: 'from the Temporal Schedule; null while paused' }),
  last_export_id: idSchema.nullable(),
  watermark: timeSchema.nullable().meta({ description: 'incremental: the snapshot time of the last completed run; the next run holds the users changed after it' }),
  temporal_schedule_id: z.string(),
  created_by: operatorRefSchema,
  created_at: timeSchema,
  updated_at: timeSchema,
});
export type ExportScheduleObject = z.infer<typeof exportScheduleObjectSchema>;

export function presentExportSchedule(row: ExportScheduleWithCreator, nextRunAt: Date | null): ExportScheduleObject {
  return {
    id: row.id,
    name: row.name,
    filters: row.filters as ExportFilters,
    columns: row.columns as ExportColumn[],
    format: row.format,
    gzip: row.gzip,
    excel_bom: row.excelBom,
    every: row.every,
    cron: row.cron,
    incremental: row.incremental,
    paused: row.paused,
    next_run_at: row.paused ? null : (nextRunAt?.toISOString() ?? null),
    last_export_id: row.lastExportId,
    watermark: row.watermark?.toISOString() ?? null,
    temporal_schedule_id: row.temporalScheduleId,
    created_by: { id: row.createdBy, email: row.creatorEmail },
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}
