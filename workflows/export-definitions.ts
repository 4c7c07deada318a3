import { defineQuery } from '@temporalio/workflow';

/** What the API, the workflows and the activities of an export share: ids, inputs, results and the query (the rest: definitions.ts). */

export const exportWorkflowId = (exportId: string) => `users-export-${exportId}`;

export interface ExportUsersInput {
  exportId: string;
  /** Where the API answers, for links to local files in the email (PUBLIC_BASE_URL, else the request's host). */
  linkBaseUrl: string;
  /** How long a range activity may go without a heartbeat before it is retried elsewhere (default 30 s). */
  heartbeatTimeoutMs?: number;
}

export interface ExportUsersResult {
  exportId: string;
  status: 'COMPLETED';
  rowCount: number;
  fileBytes: number;
  fileSha256: string;
  /** OUTBOX: no mail service is configured; the email is stored, not sent. */
  emailStatus: 'SENT' | 'OUTBOX' | 'FAILED';
}

export interface ExportProgress {
  phase: 'planning' | 'writing' | 'assembling' | 'emailing' | 'finishing' | 'done' | 'failed';
  rangesTotal: number;
  rangesDone: number;
  rowsWritten: number;
}

/** Live detail of a running export (the API reads Postgres; this is for operators and the Web UI). */
export const exportProgressQuery = defineQuery<ExportProgress>('exportProgress');

/** The Temporal Schedule of an export schedule; each of its runs is a scheduledExportWorkflow. */
export const exportScheduleTemporalId = (scheduleId: string) => `kyc-export-schedule-${scheduleId}`;
/** The id a Schedule's runs take (Temporal appends the scheduled time). */
export const scheduledExportWorkflowId = (scheduleId: string) => `export-schedule-${scheduleId}`;

export interface ScheduledExportInput {
  scheduleId: string;
}

export interface ScheduledExportResult {
  scheduleId: string;
  /** The export this run made; null when the schedule was deleted or is paused (nothing to do). */
  exportId: string | null;
  status: 'COMPLETED' | 'SKIPPED';
  rowCount?: number;
}

/** What the activity that makes a run's export row answers: the export to run, or why there is none. */
export type ScheduledExportStart =
  | { exportId: string; applicationId: string; linkBaseUrl: string; heartbeatTimeoutMs?: number; summary: string }
  | { skipped: string };
