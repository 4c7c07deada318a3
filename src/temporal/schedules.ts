import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleOptionsAction } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import type { Config } from '../config';
import { JobKind, reconcileScheduleId, retentionScheduleId, WORKFLOW_TYPES, type JobKindValue } from '../../workflows/definitions';

/**
 * The service's Temporal Schedules: retention (export files and import uploads past their days) and the reconciler
 * (imports, undos and exports whose workflow is gone, lost confirms, abandoned uploads). Each is created, or updated to the current
 * configuration, at worker start; safe to call from many workers.
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
