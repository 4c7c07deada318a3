import { and, eq, isNull, sql } from 'drizzle-orm';
import { exportSchedules } from '../../drizzle/schema';
import type { Operator } from '../auth/accounts';
import { DomainError } from '../errors';
import {
  createExportTemporalSchedule,
  deleteExportTemporalSchedule,
  nextExportRunAt,
  updateExportTemporalSchedule,
} from '../temporal/schedules';
import { exportScheduleTemporalId } from '../../workflows/export-definitions';
import { columnsForRole, forbiddenColumns, type ExportColumn } from './columns';
import { getExportSchedule, presentExportSchedule, type ExportScheduleObject, type ExportScheduleWithCreator } from './schedule-queries';
import { parseEvery, type ExportScheduleCreate, type ExportSchedulePatch } from './schedule-spec';
import type { ExportServiceDeps } from './service';
import type { Role } from '../../drizzle/schema';

/**
 * Export schedules (API.md "More on exports"): the row in Postgres is the definition every run reads; the Temporal
 * Schedule (`kyc-export-schedule-<id>`) says when it runs and is kept in step with the row here. Each run is
 * scheduledExportWorkflow (workflows/scheduled-export.ts).
 */

const everyMs = (every: string) => parseEvery(every) ?? 86_400_000;

const unavailable = (what: string, err: unknown) =>
  new DomainError('unavailable', 'temporal_unavailable', `the export schedule could not be ${what}: ${(err as Error).message}`);

function checkColumns(role: Role, columns: readonly ExportColumn[]): void {
  const forbidden = forbiddenColumns(role, columns);
  if (forbidden.length > 0) {
    throw new DomainError(
      'forbidden',
      'column_not_permitted',
      `the role ${role} may not export the personal-data columns ${forbidden.join(', ')}`,
      { columns: forbidden },
    );
  }
}

export async function presentWithNextRun(deps: ExportServiceDeps, row: ExportScheduleWithCreator): Promise<ExportScheduleObject> {
  return presentExportSchedule(row, row.paused ? null : await nextExportRunAt(deps.temporal, row.temporalScheduleId));
}

/** Creates a schedule (its creator is the operator: each run exports as that operator) and its Temporal Schedule. */
export async function createExportSchedule(deps: ExportServiceDeps, operator: Operator, body: ExportScheduleCreate): Promise<ExportScheduleObject> {
  const columns = body.columns ?? columnsForRole(operator.role);
  checkColumns(operator.role, columns);
  const [row] = await deps.db
    .insert(exportSchedules)
    .values({
      applicationId: operator.applicationId,
      name: body.name,
      filters: (body.filters ?? {}) as Record<string, unknown>,
      columns,
      format: body.format ?? 'csv',
      gzip: body.gzip ?? false,
      excelBom: body.excel_bom ?? false,
      every: body.every ?? null,
      cron: body.cron ?? null,
      incremental: body.incremental ?? false,
      paused: body.paused ?? false,
      temporalScheduleId: 'pending',
      createdBy: operator.id,
    })
    .returning();
  const temporalScheduleId = exportScheduleTemporalId(row.id);
  await deps.db.update(exportSchedules).set({ temporalScheduleId }).where(eq(exportSchedules.id, row.id));
  try {
    await createExportTemporalSchedule(deps.temporal, deps.config, row, everyMs);
  } catch (err) {
    await deps.db.delete(exportSchedules).where(eq(exportSchedules.id, row.id));
    throw unavailable('created', err);
  }
  return presentWithNextRun(deps, await getExportSchedule(deps.db, { applicationId: operator.applicationId, id: row.id }));
}

/**
 * Changes a schedule: `paused` and `every`/`cron` go to its Temporal Schedule too; `filters` and `columns` only to the
 * row (each run reads them when it starts). Columns are checked against the creator's role, as each run exports as
 * the creator. An incremental schedule keeps its watermark: the next run holds the users changed since the last one
 * that match the new filters.
 */
export async function patchExportSchedule(
  deps: ExportServiceDeps,
  operator: Operator,
  id: string,
  patch: ExportSchedulePatch,
): Promise<ExportScheduleObject> {
  const row = await getExportSchedule(deps.db, { applicationId: operator.applicationId, id });
  if (patch.columns) {
    const creatorRole = await deps.db.execute<{ role: Role }>(sql`SELECT role FROM operators WHERE id = ${row.createdBy}`);
    checkColumns(creatorRole.rows[0]?.role ?? operator.role, patch.columns);
  }
  const next = {
    name: patch.name ?? row.name,
    paused: patch.paused ?? row.paused,
    every: patch.every !== undefined ? patch.every : patch.cron !== undefined ? null : row.every,
    cron: patch.cron !== undefined ? patch.cron : patch.every !== undefined ? null : row.cron,
    filters: (patch.filters ?? row.filters) as Record<string, unknown>,
    columns: patch.columns ?? row.columns,
  };
  const touchesTemporal =
    next.name !== row.name || next.paused !== row.paused || next.every !== row.every || next.cron !== row.cron;
  if (touchesTemporal) {
    try {
      await updateExportTemporalSchedule(deps.temporal, deps.config, row.temporalScheduleId, { ...row, ...next }, everyMs);
    } catch (err) {
      throw unavailable('changed', err);
    }
  }
  await deps.db
    .update(exportSchedules)
    .set({ ...next, updatedAt: new Date() })
    .where(and(eq(exportSchedules.id, row.id), isNull(exportSchedules.deletedAt)));
  return presentWithNextRun(deps, await getExportSchedule(deps.db, { applicationId: operator.applicationId, id: row.id }));
}

/**
 * Deletes a schedule: its Temporal Schedule is deleted (no further runs; a run already started finishes), and the
 * row is marked deleted (the exports of its runs keep naming it). A second delete is 404.
 */
export async function deleteExportSchedule(deps: ExportServiceDeps, operator: Operator, id: string): Promise<void> {
  const row = await getExportSchedule(deps.db, { applicationId: operator.applicationId, id });
  try {
    await deleteExportTemporalSchedule(deps.temporal, row.temporalScheduleId);
  } catch (err) {
    throw unavailable('deleted', err);
  }
  await deps.db.update(exportSchedules).set({ deletedAt: new Date(), paused: true }).where(eq(exportSchedules.id, row.id));
}
