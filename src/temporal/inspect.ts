import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';

/**
 * Temporal's view of a job for the on-call CLI (`imports show`, `exports show`, `imports stuck`): the workflow's
 * status and history length, and every activity pending in it or in its open child workflows (an import writes its
 * chunks through children `users-import-<id>-chunks-<first>-<last>`), each with its attempt, state and last failure,
 * and the summary the workflow gave it ("chunk 3 of 10, rows 10001-15000"), read from the ActivityTaskScheduled event
 * of the run's history (a pending activity's description does not carry it).
 */

type Timestamp = { seconds?: { toNumber(): number } | number | string | null; nanos?: number | null } | null | undefined;

export interface PendingActivityView {
  workflow_id: string;
  activity_type: string | null;
  activity_id: string;
  summary: string | null;
  /** The chunk (0-based, as in import_chunks.chunk_no) when the activity works on one. */
  chunk_no: number | null;
  attempt: number;
  maximum_attempts: number;
  state: string;
  last_failure: { message: string; type: string } | null;
  last_heartbeat_time: string | null;
  last_started_time: string | null;
  scheduled_time: string | null;
  next_attempt_schedule_time: string | null;
  last_worker_identity: string | null;
}

export interface WorkflowView {
  workflow_id: string;
  status: string;
  run_id: string;
  history_length: number;
  start_time: string | null;
  close_time: string | null;
  pending_activities: PendingActivityView[];
  /** Open child workflows (their pending activities are in `pending_activities` too). */
  children: { workflow_id: string; run_id: string; status: string; history_length: number }[];
}

const ACTIVITY_STATES: Record<number, string> = {
  1: 'SCHEDULED',
  2: 'STARTED',
  3: 'CANCEL_REQUESTED',
  4: 'PAUSED',
  5: 'PAUSE_REQUESTED',
};

function iso(ts: Timestamp): string | null {
  if (!ts || ts.seconds === undefined || ts.seconds === null) return null;
  const seconds = typeof ts.seconds === 'object' ? ts.seconds.toNumber() : Number(ts.seconds);
  return new Date(seconds * 1000 + Math.floor((ts.nanos ?? 0) / 1e6)).toISOString();
}

function failureOf(failure: temporal.api.failure.v1.IFailure | null | undefined): PendingActivityView['last_failure'] {
  if (!failure) return null;
  const type =
    failure.applicationFailureInfo?.type ??
    (failure.timeoutFailureInfo ? `timeout${failure.timeoutFailureInfo.timeoutType ? `:${String(failure.timeoutFailureInfo.timeoutType)}` : ''}` : undefined) ??
    (failure.canceledFailureInfo ? 'cancelled' : failure.serverFailureInfo ? 'server' : failure.terminatedFailureInfo ? 'terminated' : 'unknown');
  // A timeout's own message is generic; the failure of the attempt it ended, when there is one, says more.
  const cause = failure.cause?.message ? ` (${failure.cause.message})` : '';
  return { message: `${failure.message ?? ''}${cause}`.slice(0, 2000), type };
}

function decode(payload: temporal.api.common.v1.IPayload | null | undefined): unknown {
  if (!payload) return undefined;
  try {
    return defaultPayloadConverter.fromPayload(payload as never);
  } catch {
    return undefined;
  }
}

/** activityId -> the summary and input the workflow scheduled it with (from the run's history). */
async function scheduledActivities(client: Client, workflowId: string, runId: string) {
  const scheduled = new Map<string, { summary: string | null; chunkNo: number | null }>();
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  for (const event of history.events ?? []) {
    const attributes = event.activityTaskScheduledEventAttributes;
    if (!attributes?.activityId) continue;
    const summary = decode(event.userMetadata?.summary);
    const input = decode(attributes.input?.payloads?.[0]) as { chunkNo?: unknown } | undefined;
    scheduled.set(attributes.activityId, {
      summary: typeof summary === 'string' ? summary : null,
      chunkNo: typeof input?.chunkNo === 'number' ? input.chunkNo : null,
    });
  }
  return scheduled;
}

async function describeOne(client: Client, workflowId: string, runId?: string) {
  const description = await client.workflow.getHandle(workflowId, runId).describe();
  const raw = description.raw;
  const pending = raw.pendingActivities ?? [];
  const scheduled = pending.length > 0 ? await scheduledActivities(client, workflowId, description.runId) : new Map();
  const activities: PendingActivityView[] = pending.map((activity) => {
    const known = scheduled.get(activity.activityId ?? '');
    return {
      workflow_id: workflowId,
      activity_type: activity.activityType?.name ?? null,
      activity_id: activity.activityId ?? '',
      summary: known?.summary ?? null,
      chunk_no: known?.chunkNo ?? null,
      attempt: activity.attempt ?? 0,
      maximum_attempts: activity.maximumAttempts ?? 0,
      state: ACTIVITY_STATES[Number(activity.state ?? 0)] ?? 'UNSPECIFIED',
      last_failure: failureOf(activity.lastFailure),
      last_heartbeat_time: iso(activity.lastHeartbeatTime as Timestamp),
      last_started_time: iso(activity.lastStartedTime as Timestamp),
      scheduled_time: iso(activity.scheduledTime as Timestamp),
      next_attempt_schedule_time: iso(activity.nextAttemptScheduleTime as Timestamp),
      last_worker_identity: activity.lastWorkerIdentity || null,
    };
  });
  return {
    view: {
      workflow_id: workflowId,
      status: description.status.name,
      run_id: description.runId,
      history_length: description.historyLength,
      start_time: description.startTime?.toISOString() ?? null,
      close_time: description.closeTime?.toISOString() ?? null,
    },
    activities,
    children: (raw.pendingChildren ?? []).flatMap((child) => (child.workflowId ? [{ workflowId: child.workflowId, runId: child.runId ?? undefined }] : [])),
  };
}

/**
 * The workflow `workflowId` (its latest run) with its open children's pending activities; null when Temporal has no
 * such workflow (never started, or deleted past the namespace's retention).
 */
export async function describeWorkflowTree(client: Client, workflowId: string): Promise<WorkflowView | null> {
  let root: Awaited<ReturnType<typeof describeOne>>;
  try {
    root = await describeOne(client, workflowId);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return null;
    throw err;
  }
  const pendingActivities = [...root.activities];
  const children: WorkflowView['children'] = [];
  for (const child of root.children) {
    try {
      const described = await describeOne(client, child.workflowId, child.runId);
      children.push({ workflow_id: described.view.workflow_id, run_id: described.view.run_id, status: described.view.status, history_length: described.view.history_length });
      pendingActivities.push(...described.activities);
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err; // closed meanwhile and gone: nothing pending there
    }
  }
  return { ...root.view, pending_activities: pendingActivities, children };
}
