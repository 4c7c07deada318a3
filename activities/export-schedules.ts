import { Context } from '@temporalio/activity';
import { and, eq, inArray } from 'drizzle-orm';
import { exportSchedules, exportsTable, operators } from '../drizzle/schema';
import { forbiddenColumns, type ExportColumn } from '../src/exports/columns';
import { poolOf } from '../src/exports/queries';
import { takeIncrementalSnapshot } from '../src/exports/snapshot';
import { searchScopeOf } from '../src/users/queries';
import { exportWorkflowId, type ScheduledExportStart } from '../workflows/export-definitions';
import type { ActivityDeps } from './deps';
import { endExport } from './exports';

/** How long a run waits for the transactions older than its snapshot to end before the attempt fails (and retries). */
const SNAPSHOT_MAX_WAIT_MS = 60_000;

/** The error of a run whose schedule's creator may no longer export its columns (it ends FAILED with it). */
const NOT_PERMITTED = 'column_not_permitted';

export function createExportScheduleActivities(deps: ActivityDeps) {
  const { db, config } = deps;
  return {
    /**
     * Makes the export row of one run of a schedule, as its creator, with its definition; an incremental run's
     * window is (the schedule's watermark, a snapshot time taken safely: src/exports/snapshot.ts]. Skipped (no row)
     * when the schedule is deleted or paused, or a run of it is still QUEUED or RUNNING; skipped with a FAILED export
     * (`column_not_permitted`) when its creator may no longer export its columns. A retry finds the row it made (the
     * id is the workflow's) and returns it.
     */
    async createScheduledExport(input: { scheduleId: string; exportId: string }): Promise<ScheduledExportStart> {
      const started = (row: { id: string; applicationId: string }, name: string): ScheduledExportStart => ({
        exportId: row.id,
        applicationId: row.applicationId,
        linkBaseUrl: config.api.publicBaseUrl,
        heartbeatTimeoutMs: config.exports.heartbeatTimeoutMs,
        summary: `export ${row.id.slice(0, 8)}…: a run of the schedule "${name}"`.slice(0, 400),
      });
      const [existing] = await db.select().from(exportsTable).where(eq(exportsTable.id, input.exportId));
      const [schedule] = await db.select().from(exportSchedules).where(eq(exportSchedules.id, input.scheduleId));
      if (existing?.errorCode === NOT_PERMITTED) return { skipped: existing.errorMessage ?? NOT_PERMITTED };
      if (existing) return started(existing, schedule?.name ?? '');
      if (!schedule || schedule.deletedAt) return { skipped: 'the schedule was deleted' };
      if (schedule.paused) return { skipped: 'the schedule is paused' };
      const [running] = await db
        .select({ id: exportsTable.id })
        .from(exportsTable)
        .where(and(eq(exportsTable.scheduleId, schedule.id), inArray(exportsTable.status, ['QUEUED', 'RUNNING'])))
        .limit(1);
      if (running) return { skipped: `the previous run (export ${running.id}) is still running` };
      const [creator] = await db.select().from(operators).where(eq(operators.id, schedule.createdBy));
      const columns = schedule.columns as ExportColumn[];
      const forbidden = creator ? forbiddenColumns(creator.role, columns) : columns;
      const definition = {
        id: input.exportId,
        applicationId: schedule.applicationId,
        operatorId: schedule.createdBy,
        filters: schedule.filters,
        columns,
        format: schedule.format,
        gzip: schedule.gzip,
        excelBom: schedule.excelBom,
        scheduleId: schedule.id,
        incremental: schedule.incremental,
        workflowId: exportWorkflowId(input.exportId),
        // As the creator searches (a creator gone: the narrower scope).
        searchRestricted: !creator || searchScopeOf(creator.role) === 'restricted',
      };
      if (forbidden.length > 0) {
        // The run is in the history, audited and announced (export.failed) as a FAILED export, not only in Temporal:
        // a nightly sync that stopped must show. The run itself is skipped: there is nothing to write.
        const message = `the schedule's creator may no longer export the columns ${forbidden.join(', ')}`;
        await db.transaction(async (tx) => {
          await tx.insert(exportsTable).values(definition).onConflictDoNothing();
          await tx.update(exportSchedules).set({ lastExportId: input.exportId }).where(eq(exportSchedules.id, schedule.id));
        });
        await endExport(deps, { exportId: input.exportId, outcome: 'FAILED', error: { code: NOT_PERMITTED, message } }, `scheduled-run-refused:${input.exportId}`);
        return { skipped: message };
      }

      const ctx = Context.current();
      const snapshotAt = schedule.incremental
        ? await takeIncrementalSnapshot(poolOf(db), { maxWaitMs: SNAPSHOT_MAX_WAIT_MS, onWait: () => ctx.heartbeat() })
        : null;

      return db.transaction(async (tx) => {
        // The schedule's row is locked while the run's window is read from it and the export made.
        const [locked] = await tx
          .select({ watermark: exportSchedules.watermark, deletedAt: exportSchedules.deletedAt })
          .from(exportSchedules)
          .where(eq(exportSchedules.id, schedule.id))
          .for('update');
        if (!locked || locked.deletedAt) return { skipped: 'the schedule was deleted' };
        const [row] = await tx
          .insert(exportsTable)
          .values({
            ...definition,
            changedAfter: schedule.incremental ? locked.watermark : null,
            snapshotAt,
          })
          .returning();
        await tx.update(exportSchedules).set({ lastExportId: row.id }).where(eq(exportSchedules.id, schedule.id));
        return started(row, schedule.name);
      });
    },
  };
}
