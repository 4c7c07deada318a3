import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
// Types only: the workflow bundle never loads the schema module (nor drizzle).
import type { ImportStatus } from '../drizzle/schema';
import type { WriteRate } from './definitions';

/**
 * What the API and the import workflows share: ids, inputs and results, signals and the progress query (what is not
 * the imports' own is in definitions.ts).
 * The database is the source of truth for an import's status: the API moves it (compare-and-set) and then signals the
 * workflow, which acts on the signal; the workflow's activities move it in the other steps.
 */

/** The workflow id of an import (one per import; a retry starts a new run under the same id). */
export const importWorkflowId = (importId: string) => `users-import-${importId}`;

/**
 * Sent after the API moved the import to RUNNING, or to AWAITING_APPROVAL (`approval: true`: the application's policy
 * wants a second operator; the run then waits for the approve or reject Update, or expires).
 */
export const confirmImportSignal = defineSignal<[ConfirmImportArgs?]>('confirmImport');
export interface ConfirmImportArgs {
  approval?: boolean;
}

/**
 * A second operator's decision on an import AWAITING_APPROVAL (Updates, so the caller learns the outcome). The
 * validator refuses the operator who started the import (`approver_is_requester`) and a file hash other than the
 * one the run was started for (`file_changed`: the approver decided on another file than the one to be written).
 */
export interface ApprovalDecisionArgs {
  operatorId: string;
  /** The file's SHA-256 as the approver saw it; the import's own when not given. */
  fileSha256?: string;
}
export const approveImportUpdate = defineUpdate<{ status: ImportStatus }, [ApprovalDecisionArgs]>('approveImport');
export const rejectImportUpdate = defineUpdate<{ status: ImportStatus }, [ApprovalDecisionArgs]>('rejectImport');
export const APPROVAL_FAILURES = {
  approverIsRequester: 'approver_is_requester',
  fileChanged: 'file_changed',
  tooManyActiveImports: 'too_many_active_imports',
} as const;
/** Sent after the API moved the import to CANCELLED; the parent forwards it to its running chunk workflow. */
export const cancelImportSignal = defineSignal('cancelImport');

/**
 * Sent (with signalWithStart) after the API moved the import back to RUNNING for a retry. A run still open when it
 * arrives (it recorded the failed chunks and is closing) continues as new in `retry` mode once it is done; a run that
 * signalWithStart started for that very request (`retryRequestId`) ignores it.
 */
export const retryImportSignal = defineSignal<[{ requestId: string }]>('retryImport');

/**
 * Controls of a running import (API.md "Controlling imports"), as Workflow Updates on its workflow, so the caller
 * learns the outcome: the handler moves the database (compare-and-set, in an activity) and the chunk window. Each
 * answers the import's status afterwards; one that cannot apply fails with the type `invalid_state`.
 */
export const pauseImportUpdate = defineUpdate<ImportControlResult, []>('pauseImport');
export const resumeImportUpdate = defineUpdate<ImportControlResult, []>('resumeImport');
export const setChunkConcurrencyUpdate = defineUpdate<ImportControlResult, [{ chunkConcurrency: number }]>('setChunkConcurrency');

export interface ImportControlResult {
  status: ImportStatus;
  paused: boolean;
  chunkConcurrency: number;
}

/** The failure type of an update that does not apply in the import's state (the API answers 409 invalid_state). */
export const INVALID_STATE = 'invalid_state';

/** Chunk concurrency bounds of PATCH chunk_concurrency. */
export const CHUNK_CONCURRENCY_MIN = 1;
export const CHUNK_CONCURRENCY_MAX = 16;

/** The window of a chunk batch, sent by the import workflow to its running child whenever a control changes it. */
export interface ChunkWindow {
  paused: boolean;
  concurrency: number;
}
export const chunkWindowSignal = defineSignal<[ChunkWindow]>('chunkWindow');

export interface ImportProgress {
  phase: 'validating' | 'awaiting_confirmation' | 'awaiting_approval' | 'writing' | 'finishing' | 'done';
  chunksTotal: number;
  chunksDone: number;
  chunksFailed: number;
  /** The write rate as the database gave it after the last batch of chunks (see WriteRate). */
  rate?: WriteRate;
  paused?: boolean;
  chunkConcurrency?: number;
}
export const importProgressQuery = defineQuery<ImportProgress>('importProgress');

export interface ImportUsersInput {
  importId: string;
  applicationId: string;
  /** `import`: validate, wait for confirmation, write. `retry`: write the chunks that are PENDING again. */
  mode: 'import' | 'retry';
  /** How long a validated import waits for confirm or cancel before it is EXPIRED (IMPORT_CONFIRM_TIMEOUT). */
  confirmTimeoutMs: number;
  /** Chunk activities running at once (IMPORT_CHUNK_CONCURRENCY). */
  chunkConcurrency: number;
  /** Chunks per child workflow (bounds each run's history); default 100. */
  chunksPerChild?: number;
  /** The retry request this run was started for (see retryImportSignal). */
  retryRequestId?: string;
  /** Start paused (a PAUSED import whose workflow the reconciler started again). */
  paused?: boolean;
  /** The operator who started the import (who may not approve it) and the file's SHA-256, for the approval Updates. */
  operatorId?: string;
  fileSha256?: string;
  /**
   * `auto_confirm=true` (public API): once validated, the run confirms the import itself (an activity doing what the
   * API's confirm does, so the approval policy still applies) instead of waiting for a confirm.
   */
  autoConfirm?: boolean;
}

export interface ImportUsersResult {
  importId: string;
  status: ImportStatus;
  totalRows: number;
  createdCount: number;
  updatedCount: number;
  unchangedCount: number;
  skippedCount: number;
  failedRows: number;
}

export interface ImportChunkRef {
  chunkNo: number;
  firstRow: number;
  lastRow: number;
  rowCount: number;
}

export interface ImportChunksInput {
  importId: string;
  chunks: ImportChunkRef[];
  chunksTotal: number;
  concurrency: number;
  /** Start with no chunk running until the chunkWindow signal resumes the batch. */
  paused?: boolean;
}

export interface ImportChunksResult {
  completed: number;
  failed: number;
  /** The import was cancelled: chunks after the running ones were not started. */
  cancelled: boolean;
  /** The import's write rate after the batch's last chunk (absent from results recorded before it existed). */
  rate?: WriteRate;
}

/** The innermost message of a failure (an ActivityFailure's own message only says that the activity failed). */
export function rootMessage(err: unknown): string {
  let current: unknown = err;
  while (current instanceof Error && current.cause instanceof Error) current = current.cause;
  const message = current instanceof Error ? current.message : String(current);
  return (message || (err instanceof Error ? err.message : String(err))).slice(0, 2000);
}

/** The workflow id of an import's undo (one per import: an import is undone once). */
export const undoImportWorkflowId = (importId: string) => `users-import-undo-${importId}`;

export interface UndoImportInput {
  importId: string;
  applicationId: string;
  /** Chunk undo activities running at once. */
  concurrency: number;
  /** Chunks undone per run before it continues as new (bounds the history); default 200. */
  chunksPerRun?: number;
  /** Set by continue-as-new: the chunks up to this one are done. */
  afterChunkNo?: number;
}

export interface UndoImportResult {
  importId: string;
  status: ImportStatus;
  restored: number;
  deleted: number;
  conflicts: number;
}
