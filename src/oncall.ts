import type { Client } from '@temporalio/client';
import { sql } from 'drizzle-orm';
import type { Db } from './db/client';
import { getExportById } from './exports/queries';
import { presentExport, type ExportObject } from './exports/present';
import { presentImport, type ImportObject } from './imports/present';
import { getImport } from './imports/queries';
import { describeWorkflowTree, type WorkflowView } from './temporal/inspect';
import { importWorkflowId, undoImportWorkflowId } from '../workflows/import-definitions';
import { exportWorkflowId } from '../workflows/export-definitions';

/**
 * The on-call views of the CLI (API.md "Command line"): a job as the API presents it, with what the database knows
 * of where it stands (failed chunks and their last error, when its progress last moved) and what Temporal knows (the
 * workflow's status, its pending activities with attempt and last failure). Temporal is asked through `temporal()`,
 * which may fail (Temporal down): the database's view is printed all the same, with `workflow_error`.
 */

export interface OnCallDeps {
  db: Db;
  /** The Temporal client, connected on first use; rejects when Temporal cannot be reached. */
  temporal: () => Promise<Client>;
}

/** The statuses `imports stuck` looks at: an import that should be moving on its own. */
export const STUCK_STATUSES = ['VALIDATING', 'RUNNING', 'UNDOING'] as const;

export interface FailedChunk {
  chunk_no: number;
  first_row: number;
  last_row: number;
  row_count: number;
  attempts: number;
  error: { code: string | null; message: string | null };
  updated_at: string;
}

export type ImportOnCallView = ImportObject & {
  progress_at: string;
  /** Seconds since the import's durable progress last moved. */
  progress_idle_seconds: number;
  workflow: WorkflowView | null;
  /** The undo's workflow `users-import-undo-<id>`, once an undo was asked for. */
  undo_workflow?: WorkflowView | null;
  workflow_error?: string;
  failed_chunks: FailedChunk[];
};

async function temporalView(deps: OnCallDeps, workflowIds: string[]): Promise<{ views: (WorkflowView | null)[]; error?: string }> {
  try {
    const client = await deps.temporal();
    const views: (WorkflowView | null)[] = [];
    for (const id of workflowIds) views.push(await describeWorkflowTree(client, id));
    return { views };
  } catch (err) {
    return { views: workflowIds.map(() => null), error: err instanceof Error ? err.message : String(err) };
  }
}

/** The failed chunks of an import with their last error (at most 100, in order). */
export async function failedChunks(db: Db, importId: string): Promise<FailedChunk[]> {
  const result = await db.execute<{
    chunk_no: number;
    first_row: number;
    last_row: number;
    row_count: number;
    attempts: number;
    error_code: string | null;
    error_message: string | null;
    updated_at: Date | string;
  }>(sql`
    SELECT chunk_no, first_row, last_row, row_count, attempts, error_code, error_message, updated_at
    FROM import_chunks WHERE import_id = ${importId} AND status = 'FAILED' ORDER BY chunk_no LIMIT 100`);
  return result.rows.map((r) => ({
    chunk_no: r.chunk_no,
    first_row: r.first_row,
    last_row: r.last_row,
    row_count: r.row_count,
    attempts: r.attempts,
    error: { code: r.error_code, message: r.error_message },
    updated_at: new Date(r.updated_at).toISOString(),
  }));
}

/** `imports show <id>`: not_found when there is no such import (in any application). */
export async function showImport(deps: OnCallDeps, id: string): Promise<ImportOnCallView> {
  const record = await getImport(deps.db, { id });
  const undoAsked = record.undoStatus !== null || record.status === 'UNDOING';
  const ids = [record.workflowId ?? importWorkflowId(record.id), ...(undoAsked ? [undoImportWorkflowId(record.id)] : [])];
  const [temporal, failed] = await Promise.all([temporalView(deps, ids), failedChunks(deps.db, record.id)]);
  return {
    ...presentImport(record),
    progress_at: record.progressAt.toISOString(),
    progress_idle_seconds: Math.max(0, Math.round((Date.now() - record.progressAt.getTime()) / 1000)),
    workflow: temporal.views[0],
    ...(undoAsked ? { undo_workflow: temporal.views[1] } : {}),
    ...(temporal.error ? { workflow_error: temporal.error } : {}),
    failed_chunks: failed,
  };
}

/**
 * `imports stuck [--minutes N]`: the imports VALIDATING, RUNNING or UNDOING whose progress_at (moved by a trigger
 * whenever their status or their row and chunk counts change) is at least `minutes` old, longest idle first, each as
 * `imports show` prints it (at most 50); only one application's with `applicationId`.
 */
export async function stuckImports(
  deps: OnCallDeps,
  params: { minutes: number; applicationId?: string },
): Promise<{ imports: ImportOnCallView[] }> {
  const ofApplication = params.applicationId ? sql`AND application_id = ${params.applicationId}` : sql``;
  const result = await deps.db.execute<{ id: string }>(sql`
    SELECT id FROM imports
    WHERE status IN ('VALIDATING', 'RUNNING', 'UNDOING') AND progress_at <= clock_timestamp() - ${params.minutes} * interval '1 minute'
      ${ofApplication}
    ORDER BY progress_at, id LIMIT 50`);
  const views: ImportOnCallView[] = [];
  for (const { id } of result.rows) views.push(await showImport(deps, id));
  return { imports: views };
}

export type ExportOnCallView = ExportObject & {
  parts: { total: number; completed: number };
  workflow: WorkflowView | null;
  workflow_error?: string;
};

/** `exports show <id>`: the export object (without a download link: the CLI is not its requester) and its workflow. */
export async function showExport(deps: OnCallDeps, id: string): Promise<ExportOnCallView> {
  const row = await getExportById(deps.db, id);
  const parts = await deps.db.execute<{ total: number; completed: number }>(sql`
    SELECT count(*)::int AS total, (count(*) FILTER (WHERE status = 'COMPLETED'))::int AS completed
    FROM export_parts WHERE export_id = ${row.id}`);
  const temporal = await temporalView(deps, [row.workflowId ?? exportWorkflowId(row.id)]);
  return {
    ...presentExport(row, null),
    parts: parts.rows[0] ?? { total: 0, completed: 0 },
    workflow: temporal.views[0],
    ...(temporal.error ? { workflow_error: temporal.error } : {}),
  };
}
