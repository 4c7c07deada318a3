import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { recordImportAudit } from '../src/imports/audit';
import { StorageNotFoundError } from '../src/storage/storage';
import {
  ChunkNotFoundError,
  listPendingChunks,
  recordChunkFailure,
  writeChunk,
  type ChunkWriteResult,
} from '../src/imports/chunks';
import { poolOf } from '../src/imports/pool';
import type { HeaderRules } from '../src/imports/columns';
import { savedMappingsOf } from '../src/imports/mappings';
import type { ImportOptions } from '../src/imports/options';
import {
  applyConfirm,
  applyImportControl,
  decideApproval,
  markApprovalExpired,
  reserveActiveImport,
  getImport,
  markCancelled,
  type ImportControlAction, markExpired, markFailed, markFinished, markRejected, type ImportRecord } from '../src/imports/queries';
import { stageImportFile, type StagedCounts } from '../src/imports/staging';
import type { ActivityDeps } from './deps';
import type { ImportChunkRef, ImportUsersResult } from '../workflows/import-definitions';
import type { ImportStatus } from '../drizzle/schema';
import { FAILURE_TYPES } from '../workflows/definitions';
import { DomainError } from '../src/errors';
import { finishUndo, listUndoChunks, undoChunk, type UndoChunkResult } from '../src/imports/undo';
import { secondsBetween } from '../src/metrics/jobs';
import type { UndoImportResult } from '../workflows/import-definitions';
import type { Client } from '@temporalio/client';
import { drizzle } from 'drizzle-orm/node-postgres';
import * as schema from '../drizzle/schema';
import { recordImportEvent, webhookEventId } from '../src/webhooks/events';
import { dispatchAfterCommit } from '../src/webhooks/dispatch';
import type { LiveProgress, WriteRate } from '../workflows/definitions';
import { importRate } from '../src/imports/present';

export interface ImportActivityInput {
  importId: string;
}

export interface ValidateImportResult extends StagedCounts {
  status: ImportStatus;
}

/** What finishing an import returns: the workflow's result. */
export type FinishImportResult = ImportUsersResult;

/**
 * Heartbeats every 2 seconds while `work` runs: the worker is alive even during one long SQL statement. (Not at
 * once: most chunks finish sooner, and a heartbeat is a round trip to the server.)
 */
async function withHeartbeats<T>(details: () => unknown, work: () => Promise<T>): Promise<T> {
  const context = Context.current();
  const timer = setInterval(() => context.heartbeat(details()), 2000);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

function validationResult(row: ImportRecord): ValidateImportResult {
  return {
    status: row.status,
    totalRows: row.totalRows,
    validRows: row.validRows,
    invalidRows: row.invalidRows,
    toCreate: row.toCreate,
    toUpdate: row.toUpdate,
    toUnchanged: row.toUnchanged,
    chunksTotal: row.chunksTotal,
  };
}

/** The import activities; `temporal` starts the webhook deliveries of the events they emit (without it, the reconciler does). */
export function createImportActivities({ db, storage, config, temporal, hooks = {}, metrics }: Omit<ActivityDeps, 'temporal'> & { temporal?: Client }) {
  const dispatch = (...eventIds: string[]) => dispatchAfterCommit({ db, temporal, config }, eventIds);

  /** The import's ending, counted once per workflow run: `ended` is whether this call wrote the run's audit entry. */
  async function finalResult(importId: string, ended: boolean): Promise<FinishImportResult> {
    const row = await getImport(db, { id: importId });
    if (ended) metrics?.jobFinished('import', row.status, secondsBetween(row.createdAt, row.finishedAt));
    return {
      importId,
      status: row.status,
      totalRows: row.totalRows,
      createdCount: row.createdCount,
      updatedCount: row.updatedCount,
      unchangedCount: row.unchangedCount,
      skippedCount: row.skippedCount,
      failedRows: row.failedRows,
    };
  }

  return {
    /**
     * Validates the stored file and stages its rows with their verdicts, then moves the import to
     * AWAITING_CONFIRMATION (or REJECTED with the file-level error). One transaction: a retry after a crash starts
     * over from the file; a retry after the verdict was written finds it and returns it.
     */
    async validateImport({ importId }: ImportActivityInput): Promise<ValidateImportResult> {
      const awaitingEvent = webhookEventId('import.awaiting_confirmation', importId);
      const row = await getImport(db, { id: importId });
      if (row.status !== 'VALIDATING') {
        // A retry after the verdict's commit: the event was recorded with it; its delivery may not have started.
        void dispatch(awaitingEvent);
        return validationResult(row);
      }
      // Started once: a retried validation (attempt 2 and on) is the same job.
      if (Context.current().info.attempt === 1) metrics?.jobStarted('import');
      const storageKey = row.storageKey;
      if (!storageKey) throw ApplicationFailure.nonRetryable('the uploaded file is no longer stored', FAILURE_TYPES.importFileMissing);
      let rowsRead = 0;
      const options = (row.options ?? {}) as ImportOptions;
      const header: HeaderRules = { mapping: options.mapping, preset: options.preset, saved: await savedMappingsOf(db, row.applicationId) };
      const outcome = await withHeartbeats(
        () => ({ rowsRead }),
        () =>
          stageImportFile(poolOf(db), {
            importId,
            applicationId: row.applicationId,
            maxRows: config.imports.maxRows,
            chunkRows: config.imports.chunkRows,
            header,
            saveMapping: options.save_mapping ? { operatorId: row.operatorId } : undefined,
            beforeCommit: async (client) => {
              await recordImportEvent(drizzle(client, { schema }), { importId, type: 'import.awaiting_confirmation' });
            },
            maxBytes: config.imports.maxBytes,
            read: { format: options.format, sheet: options.sheet, encoding: options.encoding, delimiter: options.delimiter },
            onProgress: (rows) => {
              rowsRead = rows;
            },
            openFile: async () => {
              try {
                return await storage.getStream(storageKey);
              } catch (err) {
                if (err instanceof StorageNotFoundError) {
                  throw ApplicationFailure.nonRetryable('the uploaded file is no longer stored', FAILURE_TYPES.importFileMissing);
                }
                throw err;
              }
            },
          }),
      );
      if (outcome.status === 'REJECTED') await markRejected(db, { importId, error: outcome.error, detected: outcome.source });
      // Not awaited: the workflow takes the operator's confirm only once this activity has returned, so waiting here
      // for the deliveries to start held the import back (bench:import --rows 100000 --webhook: +12% to +18% with a
      // subscription when awaited, −6% to −11% since). dispatch never throws; an event it could not start is the
      // reconciler's.
      if (outcome.status === 'AWAITING_CONFIRMATION') void dispatch(awaitingEvent);
      return validationResult(await getImport(db, { id: importId }));
    },

    /**
     * auto_confirm: the validated import confirms itself, as the API's confirm does (to AWAITING_APPROVAL when the
     * application's policy wants a second operator, else RUNNING). Not counted again against
     * IMPORT_ACTIVE_PER_APPLICATION: the import has held its place since it was VALIDATING. A move to
     * AWAITING_APPROVAL records the `import.awaiting_approval` event in the same transaction, as the API's confirm
     * does. Returns the status afterwards (an operator's confirm or cancel may have come first; a retry finds its own
     * move done, and starts the event's delivery again: it was recorded with the move).
     */
    async autoConfirmImport({ importId }: ImportActivityInput): Promise<ImportStatus> {
      const status = await db.transaction(async (tx) => {
        const record = await getImport(tx, { id: importId });
        if (record.status !== 'AWAITING_CONFIRMATION') return record.status;
        const moved = await applyConfirm(tx, record);
        if (moved === 'AWAITING_APPROVAL') await recordImportEvent(tx, { importId, type: 'import.awaiting_approval' });
        return moved;
      });
      if (status === 'AWAITING_APPROVAL') void dispatch(webhookEventId('import.awaiting_approval', importId));
      return status;
    },

    /**
     * The confirmation timer fired: AWAITING_CONFIRMATION becomes EXPIRED. Returns the status afterwards (RUNNING or
     * CANCELLED when the operator's confirm or cancel came first). Compare-and-set, so a retry changes nothing more.
     */
    async expireImport({ importId }: ImportActivityInput): Promise<string> {
      return markExpired(db, importId);
    },

    /** Lists the chunks still to write (PENDING) with their row ranges, and the import's number of chunks. Read-only: a retry is harmless. */
    async listImportChunks({ importId }: ImportActivityInput): Promise<{ total: number; pending: ImportChunkRef[] }> {
      const row = await getImport(db, { id: importId });
      return { total: row.chunksTotal, pending: await listPendingChunks(db, importId) };
    },

    /**
     * The import's live progress as the database holds it (rows written and still to write, the write rate), for the
     * workflow's current details while chunks run. Read-only; the workflow calls it as a local activity.
     */
    async readImportProgress({ importId }: { importId: string }): Promise<LiveProgress> {
      const row = await getImport(db, { id: importId });
      return { rowsDone: row.processedRows + row.failedRows, rowsTotal: row.validRows, rate: importRate(row, row.readAt) };
    },

    /**
     * Writes one chunk of staged rows into users: one transaction, one set-based upsert, counts recorded with the
     * chunk. Idempotent: a retry of a chunk that committed finds it COMPLETED and writes nothing; a retry of one that
     * did not commit writes it whole. Heartbeats while it runs.
     */
    async writeImportChunk({ importId, chunkNo }: { importId: string; chunkNo: number }): Promise<ChunkWriteResult & { rate?: WriteRate }> {
      const attempt = Context.current().info.attempt;
      const { beforeChunkCommit } = hooks;
      try {
        const written = await withHeartbeats(
          () => ({ chunkNo, attempt }),
          () =>
            writeChunk(db, importId, chunkNo, {
              beforeCommit: beforeChunkCommit ? () => beforeChunkCommit({ importId, chunkNo }) : undefined,
            }),
        );
        // Counted once per chunk: only the attempt that committed it is `written` (a retry finds it already_completed).
        if (written.outcome === 'written' && metrics) {
          metrics.rowsWritten('created', written.created);
          metrics.rowsWritten('updated', written.updated);
          metrics.rowsWritten('unchanged', written.unchanged);
        }
        // The import's write rate after this chunk, from the database (for the workflow's current details).
        const row = await getImport(db, { id: importId });
        return { ...written, rate: importRate(row, row.readAt) };
      } catch (err) {
        if (err instanceof ChunkNotFoundError) throw ApplicationFailure.nonRetryable(err.message, FAILURE_TYPES.importChunkNotFound);
        throw err;
      }
    },

    /** Records a chunk that exhausted its retries as FAILED with its error. Idempotent (a COMPLETED chunk stays so). */
    async recordImportChunkFailure(input: { importId: string; chunkNo: number; message: string }): Promise<void> {
      const moved = await recordChunkFailure(db, input.importId, input.chunkNo, { code: 'write_failed', message: input.message });
      if (moved) metrics?.chunkFailed('import');
    },

    /**
     * Ends a workflow run: RUNNING becomes COMPLETED or COMPLETED_WITH_ERRORS, finished_at is set, and the audit
     * entry of this ending is written (keyed by the run, so a retry writes none twice but a retry run adds its own),
     * with the `import.completed` webhook event (same key), whose deliveries start after the commit.
     */
    async finishImport({ importId, runKey }: { importId: string; runKey: string }): Promise<FinishImportResult> {
      const { ended, eventId } = await db.transaction(async (tx) => {
        const status = await markFinished(tx, importId);
        const audited = await recordImportAudit(tx, importId, runKey);
        const event =
          status === 'COMPLETED' || status === 'COMPLETED_WITH_ERRORS'
            ? await recordImportEvent(tx, { importId, type: 'import.completed', ending: runKey })
            : undefined;
        return { ended: audited, eventId: event };
      });
      if (eventId) await dispatch(eventId);
      return finalResult(importId, ended);
    },

    /**
     * A control of a writing import (pause, resume, resize of the chunk window) in the database: a compare-and-set,
     * so a retry of an applied one finds it applied.
     */
    async controlImport(input: { importId: string; action: ImportControlAction; chunkConcurrency?: number }): Promise<{ status: ImportStatus; applied: boolean }> {
      return applyImportControl(db, input);
    },

    /**
     * A second operator's decision on an import AWAITING_APPROVAL (compare-and-set; a retry of an applied decision
     * finds it applied). An approval that would take the application over IMPORT_ACTIVE_PER_APPLICATION is refused
     * (`refused`), the import staying AWAITING_APPROVAL.
     */
    async decideImportApproval(input: {
      importId: string;
      decision: 'APPROVED' | 'REJECTED';
      operatorId: string;
    }): Promise<{ status: ImportStatus; applied: boolean; refused?: string; message?: string }> {
      try {
        return await db.transaction(async (tx) => {
          const outcome = await decideApproval(tx, input);
          if (outcome.applied && input.decision === 'APPROVED') {
            const row = await getImport(tx, { id: input.importId });
            await reserveActiveImport(tx, { applicationId: row.applicationId, limit: config.imports.activePerApplication, excludeId: row.id });
          }
          return outcome;
        });
      } catch (err) {
        if (err instanceof DomainError && err.code === 'too_many_active_imports') {
          return { status: 'AWAITING_APPROVAL', applied: false, refused: err.code, message: err.message };
        }
        throw err;
      }
    },

    /** The approval wait timed out: AWAITING_APPROVAL becomes EXPIRED. Returns the status afterwards (a decision may have come first). */
    async expireImportApproval({ importId }: ImportActivityInput): Promise<ImportStatus> {
      return markApprovalExpired(db, importId);
    },

    /**
     * The workflow was cancelled from Temporal: an unfinished import becomes CANCELLED (compare-and-set, so an
     * import that ended meanwhile keeps its ending, and a retry changes nothing more).
     */
    async markImportCancelled({ importId }: ImportActivityInput): Promise<void> {
      await markCancelled(db, importId);
    },

    /** The chunks of an import with undo images still to undo, after `afterChunkNo`, in order. Read-only. */
    async listImportUndoChunks(input: { importId: string; afterChunkNo: number; limit: number }): Promise<number[]> {
      // The undo's first list (its first run, first attempt) is where it starts.
      if (input.afterChunkNo < 0 && Context.current().info.attempt === 1) metrics?.jobStarted('undo');
      return listUndoChunks(db, input);
    },

    /**
     * Undoes one chunk of an import (src/imports/undo.ts): one transaction that restores its updated users, deletes
     * its created ones and marks the conflicts. A retry does what a crashed attempt left undone, nothing twice.
     * Heartbeats while it runs.
     */
    async undoImportChunk({ importId, chunkNo }: { importId: string; chunkNo: number }): Promise<UndoChunkResult> {
      const attempt = Context.current().info.attempt;
      const { beforeUndoChunkCommit } = hooks;
      try {
        const result = await withHeartbeats(
          () => ({ chunkNo, attempt }),
          () => undoChunk(db, importId, chunkNo, { beforeCommit: beforeUndoChunkCommit ? () => beforeUndoChunkCommit({ importId, chunkNo }) : undefined }),
        );
        // Each image is acted on once (a retry does only the rest), so these add up to the undo's counts.
        if (metrics) {
          metrics.rowsWritten('restored', result.restored);
          metrics.rowsWritten('deleted', result.deleted);
          metrics.rowsWritten('conflict', result.conflicts);
        }
        return result;
      } catch (err) {
        metrics?.chunkFailed('undo');
        throw err;
      }
    },

    /** The undo is done: UNDOING -> UNDONE with its audit entry. Idempotent. */
    async finishImportUndo({ importId }: ImportActivityInput): Promise<UndoImportResult> {
      const { row, ended } = await finishUndo(db, importId);
      if (ended) metrics?.jobFinished('undo', row.status, secondsBetween(row.undoRequestedAt, row.undoFinishedAt));
      if (row.status === 'UNDONE') await dispatch(webhookEventId('import.undone', importId));
      return { importId, status: row.status, restored: row.undoRestored, deleted: row.undoDeleted, conflicts: row.undoConflicts };
    },

    /** The workflow cannot go on: the import becomes FAILED with the error, and its audit entry is written. Idempotent. */
    async failImport({ importId, runKey, message }: { importId: string; runKey: string; message: string }): Promise<FinishImportResult> {
      const { ended, eventId } = await db.transaction(async (tx) => {
        await markFailed(tx, { importId, error: { code: 'internal_error', message } });
        const audited = await recordImportAudit(tx, importId, runKey);
        const row = await getImport(tx, { id: importId });
        const event = row.status === 'FAILED' ? await recordImportEvent(tx, { importId, type: 'import.failed', ending: runKey }) : undefined;
        return { ended: audited, eventId: event };
      });
      if (eventId) await dispatch(eventId);
      return finalResult(importId, ended);
    },
  };
}
