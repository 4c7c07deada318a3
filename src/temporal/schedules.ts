import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleOptionsAction,
  type ScheduleSpec,
} from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import type { Config } from '../config';
import {
  ApplicationId,
  JobId,
  JobKind,
  reconcileScheduleId,
  retentionScheduleId,
  WORKFLOW_TYPES,
  type JobKindValue,
} from '../../workflows/definitions';
import { exportScheduleTemporalId, scheduledExportWorkflowId, type ScheduledExportInput } from '../../workflows/export-definitions';

/**
 * The service's Temporal Schedules: retention (export files and import uploads past their days) and the reconciler
 * (imports, undos and exports whose workflow is gone, lost confirms, abandoned uploads), each created, or updated to the
 * current configuration, at worker start (safe to call from many workers); and one per export schedule, made and
 * changed by the API (src/exports/schedule-service.ts).
 */

async function ensureSchedule(
  client: Client,
  params: { scheduleId: string; workflowType: string; taskQueue: string; everyMs: number; timeout: Duration; kind: JobKindValue; summary: string },
): Promise<string> {
  const action: ScheduleOptionsAction = {
    type: 'startWorkflow',
    workflowType: params.workflowType,
    taskQueue: params.taskQueue,
    args: [{}],
    workflowExecutionTimeout: params.timeout,
    typedSearchAttributes: [{ key: JobKind, value: params.kind }],
    staticSummary: params.summary,
  };
  const spec = { intervals: [{ every: params.everyMs }] };
  const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' as const };
  try {
    await client.schedule.create({ scheduleId: params.scheduleId, spec, action, policies });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule.getHandle(params.scheduleId).update((previous) => ({ ...previous, spec, action, policies }));
  }
  return params.scheduleId;
}

/** retentionWorkflow every RETENTION_INTERVAL on the worker's task queue. */
export function ensureRetentionSchedule(client: Client, config: Config): Promise<string> {
  return ensureSchedule(client, {
    scheduleId: retentionScheduleId(config.temporal.taskQueue),
    workflowType: WORKFLOW_TYPES.retention,
    taskQueue: config.temporal.taskQueue,
    everyMs: config.retention.intervalMs,
    timeout: '6 hours',
    kind: 'retention',
    summary: `retention: exports after ${config.exports.retentionDays} days, import files after ${config.imports.fileRetentionDays} days`,
  });
}

/** reconcileWorkflow every RECONCILE_INTERVAL on the worker's task queue. */
export function ensureReconcileSchedule(client: Client, config: Config): Promise<string> {
  return ensureSchedule(client, {
    scheduleId: reconcileScheduleId(config.temporal.taskQueue),
    workflowType: WORKFLOW_TYPES.reconcile,
    taskQueue: config.temporal.taskQueue,
    everyMs: config.reconcile.intervalMs,
    timeout: '30 minutes',
    kind: 'reconcile',
    summary: `reconcile: imports, undos and exports unfinished for over ${Math.round(config.reconcile.afterMs / 1000)} s whose workflow is gone or out of step`,
  });
}

/** What an export schedule's Temporal Schedule is made from (src/exports/schedule-service.ts). */
export interface ExportScheduleSpecSource {
  id: string;
  applicationId: string;
  name: string;
  every: string | null;
  cron: string | null;
  paused: boolean;
}

function exportScheduleSpec(row: ExportScheduleSpecSource, everyMs: (every: string) => number): ScheduleSpec {
  return row.cron ? { cronExpressions: [row.cron] } : { intervals: [{ every: everyMs(row.every ?? '1d') }] };
}

function exportScheduleAction(row: ExportScheduleSpecSource, config: Config): ScheduleOptionsAction {
  const input: ScheduledExportInput = { scheduleId: row.id };
  return {
    type: 'startWorkflow',
    workflowType: WORKFLOW_TYPES.scheduledExport,
    workflowId: scheduledExportWorkflowId(row.id),
    taskQueue: config.temporal.taskQueue,
    args: [input],
    typedSearchAttributes: [
      { key: ApplicationId, value: row.applicationId },
      { key: JobId, value: row.id },
      { key: JobKind, value: 'export_schedule' satisfies JobKindValue },
    ],
    // The Web UI lists Schedules and their runs by this: the schedule's name, which its creator chose (no user data).
    staticSummary: `export schedule: ${row.name}`.slice(0, 400),
  };
}

/**
 * Creates the Temporal Schedule of an export schedule: each action starts scheduledExportWorkflow; a run due while
 * the previous one still runs is skipped (overlap SKIP); a run missed while Temporal was down is caught up within an
 * hour.
 */
export async function createExportTemporalSchedule(
  client: Client,
  config: Config,
  row: ExportScheduleSpecSource,
  everyMs: (every: string) => number,
): Promise<string> {
  const scheduleId = exportScheduleTemporalId(row.id);
  await client.schedule.create({
    scheduleId,
    spec: exportScheduleSpec(row, everyMs),
    action: exportScheduleAction(row, config),
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' },
    state: { paused: row.paused, note: row.paused ? 'paused in the console' : undefined },
  });
  return scheduleId;
}

/** Brings an export schedule's Temporal Schedule to its row: spec, action (name), paused. */
export async function updateExportTemporalSchedule(
  client: Client,
  config: Config,
  scheduleId: string,
  row: ExportScheduleSpecSource,
  everyMs: (every: string) => number,
): Promise<void> {
  const handle = client.schedule.getHandle(scheduleId);
  await handle.update((previous) => ({
    ...previous,
    spec: exportScheduleSpec(row, everyMs),
    action: exportScheduleAction(row, config),
  }));
  const described = await handle.describe();
  if (described.state.paused !== row.paused) {
    if (row.paused) await handle.pause('paused in the console');
    else await handle.unpause('resumed in the console');
  }
}

/** Deletes an export schedule's Temporal Schedule; one already gone is fine. Runs already started go on. */
export async function deleteExportTemporalSchedule(client: Client, scheduleId: string): Promise<void> {
  try {
    await client.schedule.getHandle(scheduleId).delete();
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
  }
}

/** The next time the Temporal Schedule will run, or null (paused, or it cannot be read now). */
export async function nextExportRunAt(client: Client, scheduleId: string): Promise<Date | null> {
  try {
    const described = await client.schedule.getHandle(scheduleId).describe();
    return described.state.paused ? null : (described.info.nextActionTimes[0] ?? null);
  } catch {
    return null;
  }
}
