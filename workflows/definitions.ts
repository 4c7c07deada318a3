import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * The contract between the API, the workflows and the activities that is not one domain's: workflow types, job
 * kinds, search attributes, the Schedules' ids and inputs, and the failure types an activity ends with when no retry
 * can help. The domains' own ids, inputs, results, signals and queries are beside it: import-definitions.ts and
 * export-definitions.ts. Names written here are recorded in workflow histories and in the Temporal Web UI's
 * queries, so changing one is a deploy-time change (README, "Shipping a workflow change").
 */

/** Each workflow type, as the worker registers it (the names of the functions workflows/index.ts exports). */
export const WORKFLOW_TYPES = {
  importUsers: 'importUsersWorkflow',
  importChunks: 'importChunksWorkflow',
  undoImport: 'undoImportWorkflow',
  exportUsers: 'exportUsersWorkflow',
  scheduledExport: 'scheduledExportWorkflow',
  retention: 'retentionWorkflow',
  reconcile: 'reconcileWorkflow',
  webhookDelivery: 'webhookDeliveryWorkflow',
} as const;

/** The value of the KycJobKind search attribute: what a run does (the README's Web UI queries use these). */
export const JOB_KINDS = ['import', 'export', 'export_schedule', 'retention', 'reconcile', 'webhook'] as const;
export type JobKindValue = (typeof JOB_KINDS)[number];

/**
 * Search attributes on every job workflow, so an operator can find runs in the Temporal Web UI by application, job
 * and kind. Never personal data (no emails, no vendor_data). The dev server registers them at start
 * (dev/temporal-dev-server.ts); a production namespace needs `temporal operator search-attribute create` once
 * (README, Operations).
 */
export const ApplicationId = defineSearchAttributeKey('KycApplicationId', SearchAttributeType.KEYWORD);
export const JobId = defineSearchAttributeKey('KycJobId', SearchAttributeType.KEYWORD);
export const JobKind = defineSearchAttributeKey('KycJobKind', SearchAttributeType.KEYWORD);

export const SEARCH_ATTRIBUTES = [
  { name: ApplicationId.name, type: 'Keyword' },
  { name: JobId.name, type: 'Keyword' },
  { name: JobKind.name, type: 'Keyword' },
] as const;

/**
 * The ApplicationFailure types an activity throws when retrying cannot help (the workflows list them as
 * non-retryable). snake_case, like the API's error codes: an export's failure type is its `error.code`.
 */
export const FAILURE_TYPES = {
  importFileMissing: 'import_file_missing',
  importChunkNotFound: 'import_chunk_not_found',
  exportNotPlanned: 'export_not_planned',
  exportNotFound: 'export_not_found',
  exportNotRunning: 'export_not_running',
  exportFinished: 'export_finished',
  exportPartMissing: 'export_part_missing',
  exportPartsIncomplete: 'export_parts_incomplete',
  exportNotAssembled: 'export_not_assembled',
  emailRejected: 'email_rejected',
} as const;

/**
 * The failure types of the first release, which an activity of a worker not yet upgraded may still throw while a
 * deploy rolls out; listed as non-retryable beside the new names. Remove once no worker of that release runs.
 */
export const LEGACY_FAILURE_TYPES = {
  importFileMissing: 'ImportFileMissing',
  importChunkNotFound: 'ImportChunkNotFound',
} as const;

/** Retention (export files and import uploads past their days), run by a Schedule of this id per task queue. */
export const retentionScheduleId = (taskQueue: string) => `kyc-retention-${taskQueue}`;

export interface RetentionInput {
  /** Only for tests: the time to measure ages from (ISO); now by default. */
  now?: string;
}

export interface RetentionResult {
  exportsExpired: number;
  importFilesDeleted: number;
  /** Undo before-images deleted past IMPORT_UNDO_DAYS (absent in the histories of before it). */
  undoImagesDeleted?: number;
  /** Webhook events deleted past WEBHOOK_RETENTION_DAYS (absent in the histories of before it). */
  webhookEventsDeleted?: number;
}

/** The reconciler (imports and exports whose workflow is gone or out of step), run by a Schedule per task queue. */
export const reconcileScheduleId = (taskQueue: string) => `kyc-reconcile-${taskQueue}`;

export interface ReconcileInput {
  /** Only the jobs of this application (tests, or on-call work on one tenant); every application by default. */
  applicationId?: string;
}

/** A write rate as activities return it (src/rate.ts, computed from the database's durable progress). */
export interface WriteRate {
  rows_per_second: number | null;
  eta_seconds: number | null;
}

/** A running job's progress as the database holds it, read for the workflow's current details (readImportProgress, readExportProgress). */
export interface LiveProgress {
  rowsDone: number;
  /** Rows to write in all (an export's is its estimate; null when unknown). */
  rowsTotal: number | null;
  rate: WriteRate;
}

/** The rate as a short phrase for a workflow's current details ("" when there is none yet). */
export function describeRate(rate: Partial<WriteRate> | undefined): string {
  if (!rate || rate.rows_per_second === null || rate.rows_per_second === undefined) return '';
  const eta = rate.eta_seconds === null || rate.eta_seconds === undefined ? '' : `, about ${formatSeconds(rate.eta_seconds)} left`;
  return `; ${rate.rows_per_second} rows/s${eta}`;
}

function formatSeconds(seconds: number): string {
  if (seconds < 90) return `${seconds} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 360) / 10} h`;
}
