import { executeChild, ParentClosePolicy, proxyActivities, setCurrentDetails, uuid4 } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { ApplicationId, JobId, JobKind, type JobKindValue } from './definitions';
import {
  exportWorkflowId,
  type ScheduledExportInput,
  type ScheduledExportResult,
} from './export-definitions';
import { exportUsersWorkflow } from './export-users';

/** The activity waits (bounded) for the transactions older than its snapshot to end: minutes, heartbeating. */
const { createScheduledExport } = proxyActivities<Activities>({
  startToCloseTimeout: '3 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 10 },
});

/**
 * One run of an export schedule (started by its Temporal Schedule, overlap SKIP): makes the run's export row as the
 * schedule's creator, with the schedule's definition (incremental: from the schedule's watermark to a safe snapshot
 * time), then runs it as a normal export, the child `users-export-<id>`. The export id is drawn by the workflow
 * (deterministic on replay), so a retried activity finds the row it made instead of making a second one.
 */
export async function scheduledExportWorkflow(input: ScheduledExportInput): Promise<ScheduledExportResult> {
  const exportId = uuid4();
  const start = await createScheduledExport({ scheduleId: input.scheduleId, exportId });
  if ('skipped' in start) {
    setCurrentDetails(`skipped: ${start.skipped}`);
    return { scheduleId: input.scheduleId, exportId: null, status: 'SKIPPED' };
  }
  setCurrentDetails(`export ${start.exportId}`);
  const result = await executeChild(exportUsersWorkflow, {
    workflowId: exportWorkflowId(start.exportId),
    args: [{ exportId: start.exportId, linkBaseUrl: start.linkBaseUrl, heartbeatTimeoutMs: start.heartbeatTimeoutMs }],
    typedSearchAttributes: [
      { key: ApplicationId, value: start.applicationId },
      { key: JobId, value: start.exportId },
      { key: JobKind, value: 'export' satisfies JobKindValue },
    ],
    staticSummary: start.summary,
    // The export ends (and records its ending) even if this run is terminated.
    parentClosePolicy: ParentClosePolicy.ABANDON,
  });
  return { scheduleId: input.scheduleId, exportId: start.exportId, status: 'COMPLETED', rowCount: result.rowCount };
}
