import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleOptionsAction } from '@temporalio/client';
import type { Config } from '../config';
import { RETENTION_WORKFLOW_TYPE, retentionScheduleId } from '../../workflows/export-definitions';
import { JobKind } from '../../workflows/search-attributes';

/**
 * Creates (or updates to the current configuration) the Temporal Schedule that runs retentionWorkflow every
 * RETENTION_INTERVAL on the worker's task queue. Called at worker start; safe to call from many workers.
 */
export async function ensureRetentionSchedule(client: Client, config: Config): Promise<string> {
  const scheduleId = retentionScheduleId(config.temporal.taskQueue);
  const action: ScheduleOptionsAction = {
    type: 'startWorkflow',
    workflowType: RETENTION_WORKFLOW_TYPE,
    taskQueue: config.temporal.taskQueue,
    args: [{}],
    workflowExecutionTimeout: '6 hours',
    typedSearchAttributes: [{ key: JobKind, value: 'retention' }],
    staticSummary: `retention: exports after ${config.exports.retentionDays} days, import files after ${config.imports.fileRetentionDays} days`,
  };
  const spec = { intervals: [{ every: config.retention.intervalMs }] };
  const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' as const };
  try {
    await client.schedule.create({ scheduleId, spec, action, policies });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec, action, policies }));
  }
  return scheduleId;
}
