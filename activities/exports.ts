import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { and, eq, inArray, isNull, sql } from 'drizzle-orm';
import { exportParts, exportSchedules, exportsTable, type ExportStatus } from '../drizzle/schema';
import { recordAuditEntry } from '../src/audit/queries';
import { MailerError, type SendResult } from '../src/email/mailer';
import type { ExportColumn } from '../src/exports/columns';
import { csvHeader } from '../src/exports/csv';
import { exportEmail } from '../src/exports/email';
import type { ExportFilters } from '../src/exports/filters';
import { exportDownloadUrl, exportRate, linkPeriod } from '../src/exports/present';
import {
  exportKeys,
  getExportById,
  listExportParts,
  poolOf,
  refreshExportProgress,
  TERMINAL_EXPORT_STATUSES,
  type ExportWithOperator,
} from '../src/exports/queries';
import { writeRange, type RangeCheckpoint } from '../src/exports/range-writer';
import { inExportSession, planRanges, type ChangedWindow, type RowKey } from '../src/exports/sql';
import { DomainError } from '../src/errors';
import { createStorageSet, type AppendState, type CompositeState } from '../src/storage';
import { loadSigningSecret } from '../src/storage/signing';
import type { ActivityDeps } from './deps';
import type { Client } from '@temporalio/client';
import { recordExportEvent, webhookEventId } from '../src/webhooks/events';
import { dispatchAfterCommit } from '../src/webhooks/dispatch';
import { secondsBetween } from '../src/metrics/jobs';
import { FAILURE_TYPES, type LiveProgress, type WriteRate } from '../workflows/definitions';

/** What a part row keeps in `details`: its key range, the snapshot time, its last checkpoint, its resumes. */
export interface PartDetails {
  from?: RowKey;
  to?: RowKey;
  until: string;
  checkpoint?: RangeCheckpoint | null;
  resumes?: { attempt: number; atRows: number }[];
  /** The range writer's closing state: what the storage needs to join the ranges. */
  written?: AppendState;
}

export interface ExportPlan {
  parts: number;
  estimatedRows: number;
  concurrency: number;
}

export interface RangeResult {
  partNo: number;
  rows: number;
  bytes: number;
  resumedAtRows: number;
  /** The export's write rate after this range (absent from results recorded before it existed). */
  rate?: WriteRate;
}

export interface AssembledFile {
  rowCount: number;
  fileBytes: number;
  fileSha256: string;
}

/** The window of an incremental export (a schedule's run), else undefined. */
function changedWindowOf(row: ExportWithOperator): ChangedWindow | undefined {
  if (!row.incremental || !row.snapshotAt) return undefined;
  return { after: row.changedAfter?.toISOString() ?? null, until: row.snapshotAt.toISOString() };
}

function compositeOf(row: ExportWithOperator): CompositeState {
  if (!row.upload) throw ApplicationFailure.nonRetryable(`export ${row.id} has no upload`, FAILURE_TYPES.exportNotPlanned);
  return row.upload as unknown as CompositeState;
}

const gzipAsync = promisify(gzip);
/** One chunk as one gzip member (zlib works off the event loop). */
const gzipMember = (chunk: Buffer): Promise<Buffer> => gzipAsync(chunk);

/** The statuses startExport plans from: QUEUED, or RUNNING when it is a retry of itself. */
const STARTABLE_EXPORT_STATUSES: ExportStatus[] = ['QUEUED', 'RUNNING'];

/** Most ranges one export is cut into: keeps the workflow's history small whatever the row count. */
const MAX_RANGES = 1000;

async function loadExport(deps: Pick<ActivityDeps, 'db'>, exportId: string): Promise<ExportWithOperator> {
  try {
    return await getExportById(deps.db, exportId);
  } catch (err) {
    if (err instanceof DomainError && err.kind === 'not_found') {
      throw ApplicationFailure.nonRetryable(`export ${exportId} does not exist`, FAILURE_TYPES.exportNotFound);
    }
    throw err;
  }
}

function expectRunning(row: ExportWithOperator): void {
  if (row.status !== 'RUNNING') {
    throw ApplicationFailure.nonRetryable(`export ${row.id} is ${row.status}, not RUNNING`, FAILURE_TYPES.exportNotRunning);
  }
}

/** Runs `fn` with a heartbeat every few seconds: a long step of an activity that has no progress to report. */
async function whileHeartbeating<T>(fn: () => Promise<T>): Promise<T> {
  const ctx = Context.current();
  ctx.heartbeat();
  const timer = setInterval(() => ctx.heartbeat(), 5000);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}

const later = (a?: RangeCheckpoint | null, b?: RangeCheckpoint | null) =>
  !a ? (b ?? undefined) : !b ? a : b.writer.bytes > a.writer.bytes ? b : a;

export interface ExportEnding {
  exportId: string;
  outcome: Extract<ExportStatus, 'COMPLETED' | 'FAILED' | 'CANCELLED'>;
  error?: { code: string; message: string };
}

/**
 * Ends an export (see finishExport); `idempotencyKey` keys its audit entry (the workflow run, or the reconciler's
 * ending of an export whose workflow was terminated) and its webhook event (`export.completed` / `export.failed`,
 * recorded in the same transaction, dispatched after it). An export already ended is left as it is.
 */
export async function endExport(
  deps: Pick<ActivityDeps, 'db' | 'storage' | 'config' | 'metrics'> & { temporal?: Client },
  input: ExportEnding,
  idempotencyKey: string,
): Promise<{ status: ExportStatus }> {
  const { db, storage } = deps;
  const eventType = input.outcome === 'COMPLETED' ? 'export.completed' : input.outcome === 'FAILED' ? 'export.failed' : undefined;
  const eventId = eventType ? webhookEventId(eventType, input.exportId, idempotencyKey) : undefined;
  const row = await loadExport(deps, input.exportId);
  if (TERMINAL_EXPORT_STATUSES.includes(row.status)) {
    // A retry after the ending's commit: its webhook event was recorded with it; the delivery may not have started.
    if (eventId) await dispatchAfterCommit(deps, [eventId]);
    // And the clean-up after a cancel's commit (below), in case that attempt failed at it.
    if (row.status === 'CANCELLED' && input.outcome === 'CANCELLED') await storage.deletePrefix(exportKeys.prefix(row));
    return { status: row.status };
  }
  const success = input.outcome === 'COMPLETED';
  // A cancelled export leaves nothing behind (the partial file, the S3 multipart upload); a FAILED one keeps its
  // written ranges and checkpoints, which `retry` goes on from (retention deletes them after EXPORT_RETENTION_DAYS).
  if (input.outcome === 'CANCELLED') {
    if (row.upload) await storage.abortComposite(compositeOf(row));
    await storage.deletePrefix(exportKeys.prefix(row));
  }
  const finishedAt = new Date();
  const error = success ? undefined : (input.error ?? { code: 'export_failed', message: 'the export failed' });
  const ended = await db.transaction(async (tx) => {
    await recordAuditEntry(tx, {
      applicationId: row.applicationId,
      action: 'users.export',
      operatorId: row.operatorId,
      targetId: row.id,
      status: success ? 'SUCCESS' : 'FAILURE',
      details: {
        outcome: input.outcome,
        filters: row.filters,
        columns: row.columns,
        row_count: success ? row.rowCount : null,
        file_bytes: success ? row.fileBytes : null,
        file_sha256: success ? row.fileSha256 : null,
        storage: storage.kind,
        ...(row.scheduleId ? { schedule_id: row.scheduleId, incremental: row.incremental } : {}),
        ...(error ? { error } : {}),
      },
      startedAt: row.startedAt ?? row.createdAt,
      finishedAt,
      idempotencyKey,
    });
    const moved = await tx
      .update(exportsTable)
      .set({
        status: input.outcome,
        finishedAt,
        ...(success
          ? { progress: 1 }
          : {
              errorCode: error!.code,
              errorMessage: error!.message,
              storageKey: null,
              linkIssuedAt: null,
              linkExpiresAt: null,
              ...(input.outcome === 'CANCELLED' ? { upload: null } : {}),
            }),
      })
      .where(and(eq(exportsTable.id, row.id), inArray(exportsTable.status, ['QUEUED', 'RUNNING'])))
      .returning({ id: exportsTable.id });
    // A completed incremental run moves its schedule's watermark to its snapshot, in the same transaction: only if
    // it started from the current watermark (a run that failed left it; a later run that completed moved it on).
    if (moved.length > 0 && success && row.scheduleId && row.incremental && row.snapshotAt) {
      await tx
        .update(exportSchedules)
        .set({ watermark: row.snapshotAt })
        .where(
          and(
            eq(exportSchedules.id, row.scheduleId),
            row.changedAfter ? eq(exportSchedules.watermark, row.changedAfter) : isNull(exportSchedules.watermark),
          ),
        );
    }
    // The event only when this call ended it (a concurrent cancel may have come first).
    if (eventType && moved.length > 0) await recordExportEvent(tx, { exportId: row.id, type: eventType, ending: idempotencyKey });
    return moved.length > 0;
  });
  if (eventId) await dispatchAfterCommit(deps, [eventId]);
  // Counted by the call that moved it: a retry (or the reconciler after the workflow) finds it ended.
  if (ended) deps.metrics?.jobFinished('export', input.outcome, secondsBetween(row.createdAt, finishedAt));
  // A cancel does not wait for a running startExport or assembleExport: what one wrote after the clean-up above, before
  // the status moved, is deleted now; once it has moved, they see it and delete what they wrote themselves.
  if (ended && input.outcome === 'CANCELLED') await storage.deletePrefix(exportKeys.prefix(row));
  return { status: input.outcome };
}

/** The export activities; `temporal` starts the webhook deliveries of the events they emit (without it, the reconciler does). */
export function createExportActivities(deps: Omit<ActivityDeps, 'temporal'> & { temporal?: Client }) {
  const { db, storage, mailer, config, metrics } = deps;
  const storages = createStorageSet(config, storage);
  const linkSecret = () => loadSigningSecret(config.storage.linkSigningSecret, config.dataDir);
  const activities = {
    /**
     * Marks the export RUNNING (from QUEUED, or RUNNING for a retry of itself) and cuts it into keyset ranges (stored
     * as export_parts rows, with the snapshot time that bounds them). A retry finds the stored plan and returns it
     * unchanged. An export ended meanwhile is left as it is (the upload opened for it is aborted if it was cancelled).
     */
    async startExport(input: { exportId: string }): Promise<ExportPlan> {
      const row = await loadExport(deps, input.exportId);
      if (TERMINAL_EXPORT_STATUSES.includes(row.status)) {
        throw ApplicationFailure.nonRetryable(`export ${row.id} is already ${row.status}`, FAILURE_TYPES.exportFinished);
      }
      const concurrency = config.exports.concurrency;
      const existing = await listExportParts(db, row.id);
      if (existing.length > 0) return { parts: existing.length, estimatedRows: row.estimatedRows ?? 0, concurrency };

      const filters = row.filters as ExportFilters;
      const client = await poolOf(db).connect();
      let plan: Awaited<ReturnType<typeof planRanges>>;
      // The export holds the users created up to now (the database's clock): later ones are not half in it.
      let until: string;
      try {
        ({ plan, until } = await inExportSession(client, async () => {
          // An incremental run's snapshot was taken when its row was made (./export-schedules.ts).
          const now = row.snapshotAt?.toISOString() ?? (await client.query<{ now: Date }>('SELECT now() AS now')).rows[0].now.toISOString();
          const planned = await planRanges(client, {
            applicationId: row.applicationId,
            filters,
            restrictedSearch: row.searchRestricted,
            changed: changedWindowOf(row),
            until: now,
            rowsPerRange: config.exports.partRows,
            maxRanges: MAX_RANGES,
          });
          return { plan: planned, until: now };
        }));
      } finally {
        client.release();
      }
      const bounds = [undefined, ...plan.cuts, undefined];
      const ranges = bounds.length - 1;
      // The file is written as a composite of the ranges (S3: one multipart upload the ranges put parts into).
      const upload = await storage.createComposite(exportKeys.file(row), ranges, exportKeys.partsPrefix(row));
      const planned = await db.transaction(async (tx) => {
        // The lock makes a concurrent attempt wait, then find this plan (its upload then goes with the prefix), and
        // orders this write against an ending's (endExport): the status is read under it.
        const [locked] = await tx
          .select({ status: exportsTable.status })
          .from(exportsTable)
          .where(eq(exportsTable.id, row.id))
          .for('update');
        if (!locked || !STARTABLE_EXPORT_STATUSES.includes(locked.status)) return { ended: locked?.status ?? 'missing' };
        const again = await listExportParts(tx, row.id);
        if (again.length > 0) return { parts: again.length, estimatedRows: row.estimatedRows ?? 0, concurrency, fresh: false };
        await tx.insert(exportParts).values(
          bounds.slice(0, -1).map((from, partNo) => ({
            exportId: row.id,
            partNo,
            details: { from, to: bounds[partNo + 1], until } satisfies PartDetails as unknown as Record<string, unknown>,
          })),
        );
        await tx
          .update(exportsTable)
          .set({
            status: 'RUNNING',
            startedAt: new Date(),
            rateSince: sql`now()`,
            rateBaseRows: 0,
            estimatedRows: plan.estimatedRows,
            progress: 0,
            upload: upload as unknown as Record<string, unknown>,
            storageKind: storage.kind,
          })
          .where(and(eq(exportsTable.id, row.id), inArray(exportsTable.status, STARTABLE_EXPORT_STATUSES)));
        return { parts: ranges, estimatedRows: plan.estimatedRows, concurrency, fresh: true };
      });
      if ('ended' in planned) {
        // Ended while this attempt planned (a cancel does not wait for it): the upload it opened is recorded nowhere.
        // A cancelled export keeps nothing, so it goes with its scratch objects; for another ending, it goes with the
        // prefix (retention), as a concurrent attempt's does.
        if (planned.ended === 'CANCELLED') await storage.abortComposite(upload);
        throw ApplicationFailure.nonRetryable(`export ${row.id} is already ${planned.ended}`, FAILURE_TYPES.exportFinished);
      }
      // Started by the attempt that stored the plan (a retry finds the plan and does not count again).
      if (planned.fresh) metrics?.jobStarted('export');
      return { parts: planned.parts, estimatedRows: planned.estimatedRows, concurrency: planned.concurrency };
    },

    /**
     * The export's live progress as the database holds it (rows written, from the ranges' checkpoints; the estimate;
     * the write rate), for the workflow's current details while ranges run. Read-only; called as a local activity.
     */
    async readExportProgress(input: { exportId: string }): Promise<LiveProgress> {
      const row = await getExportById(db, input.exportId);
      return { rowsDone: row.rowsWritten ?? 0, rowsTotal: row.estimatedRows, rate: exportRate(row) };
    },

    /**
     * Streams one range of rows into its part object (Postgres formats the CSV, see src/exports/sql.ts),
     * heartbeating each checkpoint (bytes durable, rows, last key) and keeping it on the part row. A retry resumes
     * after the checkpointed row on top of the checkpointed bytes; a part already completed is returned as it is.
     */
    async exportRange(input: { exportId: string; partNo: number }): Promise<RangeResult> {
      const ctx = Context.current();
      const row = await loadExport(deps, input.exportId);
      expectRunning(row);
      const [part] = await db
        .select()
        .from(exportParts)
        .where(and(eq(exportParts.exportId, row.id), eq(exportParts.partNo, input.partNo)));
      if (!part) throw ApplicationFailure.nonRetryable(`export ${row.id} has no part ${input.partNo}`, FAILURE_TYPES.exportPartMissing);
      if (part.status === 'COMPLETED') {
        return { partNo: part.partNo, rows: part.rowCount, bytes: part.byteCount, resumedAtRows: part.rowCount };
      }
      const details = part.details as unknown as PartDetails;
      const columns = row.columns as ExportColumn[];
      const resume = later(ctx.info.heartbeatDetails as RangeCheckpoint | undefined, details.checkpoint);

      let lastCheckpoint: RangeCheckpoint | undefined = resume;
      let lastBeat = 0;
      const composite = compositeOf(row);
      const result = await writeRange({
        pool: poolOf(db),
        open: (state) => storage.openCompositeRange(composite, part.partNo, state),
        query: {
          applicationId: row.applicationId,
          filters: row.filters as ExportFilters,
          columns,
          from: details.from,
          to: details.to,
          until: details.until,
          format: row.format,
          restrictedSearch: row.searchRestricted,
          changed: changedWindowOf(row),
        },
        header: part.partNo === 0 ? (row.excelBom ? '\uFEFF' : '') + (row.format === 'ndjson' ? '' : csvHeader(columns)) : undefined,
        transform: row.gzip ? gzipMember : undefined,
        resume,
        checkpointBytes: config.exports.checkpointBytes,
        signal: ctx.cancellationSignal,
        onChunk: () => {
          const now = Date.now();
          if (now - lastBeat >= 1000) {
            lastBeat = now;
            ctx.heartbeat(lastCheckpoint);
          }
        },
        onCheckpoint: async (checkpoint) => {
          lastCheckpoint = checkpoint;
          lastBeat = Date.now();
          ctx.heartbeat(checkpoint);
          // The range waits for this (its COPY stalls meanwhile), some 46 times a million CSV rows: without waiting for
          // the WAL flush of its commit. A checkpoint a database crash loses only makes a resume start from the one
          // before it (the heartbeat carries it too), which is always safe.
          await db.transaction(async (tx) => {
            await tx.execute(sql`SET LOCAL synchronous_commit = off`);
            await tx
              .update(exportParts)
              .set({
                rowCount: checkpoint.rows,
                byteCount: checkpoint.writer.bytes,
                details: sql`${exportParts.details} || ${JSON.stringify({ checkpoint })}::jsonb`,
              })
              .where(and(eq(exportParts.exportId, row.id), eq(exportParts.partNo, part.partNo)));
            await refreshExportProgress(tx, row.id);
          });
        },
      });

      const resumes = [...(details.resumes ?? [])];
      if (result.resumedAtRows > 0) resumes.push({ attempt: ctx.info.attempt, atRows: result.resumedAtRows });
      await db
        .update(exportParts)
        .set({
          status: 'COMPLETED',
          rowCount: result.rows,
          byteCount: result.bytes,
          details: sql`${exportParts.details} || ${JSON.stringify({ checkpoint: null, resumes, written: result.state })}::jsonb`,
        })
        .where(and(eq(exportParts.exportId, row.id), eq(exportParts.partNo, part.partNo)));
      // Once per range: a retry of a completed range returns above without counting.
      metrics?.rowsWritten('exported', result.rows);
      await refreshExportProgress(db, row.id);
      // The export's write rate after this range, from the database (for the workflow's current details).
      const rate = exportRate(await getExportById(db, row.id));
      return { partNo: part.partNo, rows: result.rows, bytes: result.bytes, resumedAtRows: result.resumedAtRows, rate };
    },

    /**
     * Concatenates the parts, in order, into the export's file (its size and SHA-256 computed on the way), records
     * the file and a link period, and deletes the parts, only while the export is RUNNING (a file joined for an export
     * ended meanwhile is deleted). A retry after the record returns it (and deletes the parts).
     */
    async assembleExport(input: { exportId: string }): Promise<AssembledFile> {
      const row = await loadExport(deps, input.exportId);
      expectRunning(row);
      if (row.storageKey && row.fileSha256 && row.fileBytes !== null && row.rowCount !== null) {
        await storage.deletePrefix(exportKeys.partsPrefix(row)).catch(() => undefined);
        return { rowCount: row.rowCount, fileBytes: row.fileBytes, fileSha256: row.fileSha256 };
      }
      const parts = await listExportParts(db, row.id);
      const unfinished = parts.filter((p) => p.status !== 'COMPLETED');
      if (parts.length === 0 || unfinished.length > 0) {
        throw ApplicationFailure.nonRetryable(`export ${row.id}: ${unfinished.length} parts are not written`, FAILURE_TYPES.exportPartsIncomplete);
      }
      const composite = compositeOf(row);
      const written = parts.map((p) => (p.details as unknown as PartDetails).written ?? { bytes: p.byteCount });
      const file = await whileHeartbeating(() => storage.completeComposite(composite, written));
      const fileKey = composite.key;
      const rowCount = parts.reduce((sum, p) => sum + p.rowCount, 0);
      const { issuedAt, expiresAt } = linkPeriod(config.exports.linkTtlSeconds);
      const recorded = await db
        .update(exportsTable)
        .set({
          storageKey: fileKey,
          fileBytes: file.bytes,
          fileSha256: file.sha256,
          rowCount,
          linkIssuedAt: issuedAt,
          linkExpiresAt: expiresAt,
          emailTo: row.operatorEmail,
          emailStatus: 'PENDING',
        })
        .where(and(eq(exportsTable.id, row.id), eq(exportsTable.status, 'RUNNING')))
        .returning({ id: exportsTable.id });
      if (recorded.length === 0) {
        // Ended while the file was joined (a cancel does not wait for this activity): the file is recorded nowhere.
        // A cancelled export keeps nothing; another ending keeps its ranges, not this file.
        const { status } = await loadExport(deps, row.id);
        if (status === 'CANCELLED') await storage.deletePrefix(exportKeys.prefix(row));
        else await storage.delete(fileKey);
        throw ApplicationFailure.nonRetryable(`export ${row.id} is ${status}, not RUNNING`, FAILURE_TYPES.exportNotRunning);
      }
      await storage.deletePrefix(exportKeys.partsPrefix(row)).catch(() => undefined);
      return { rowCount, fileBytes: file.bytes, fileSha256: file.sha256 };
    },

    /**
     * Emails the link, the row count, the filters and the expiry to the operator who asked for the export. The
     * mailer's idempotency key is the export's, so a retried send does not send twice.
     */
    async sendExportEmail(input: { exportId: string; linkBaseUrl: string }): Promise<{ status: 'SENT' | 'OUTBOX'; sentAt: string | null }> {
      const row = await loadExport(deps, input.exportId);
      if (row.emailStatus === 'SENT' && row.emailSentAt) return { status: 'SENT', sentAt: row.emailSentAt.toISOString() };
      if (row.emailStatus === 'OUTBOX') return { status: 'OUTBOX', sentAt: null };
      const store = storages.of(row.storageKind);
      const url = store ? exportDownloadUrl(linkSecret(), { ...row, status: 'COMPLETED' }, input.linkBaseUrl) : null;
      if (!url || !row.linkExpiresAt) {
        throw ApplicationFailure.nonRetryable(`export ${row.id} has no file to link to`, FAILURE_TYPES.exportNotAssembled);
      }
      const message = exportEmail({
        exportId: row.id,
        url,
        rowCount: row.rowCount ?? 0,
        fileBytes: row.fileBytes ?? 0,
        filters: row.filters as ExportFilters,
        columns: row.columns,
        expiresAt: row.linkExpiresAt,
      });
      let sent: SendResult;
      try {
        sent = await mailer.send({
          applicationId: row.applicationId,
          idempotencyKey: `users-export-${row.id}`,
          to: row.emailTo ?? row.operatorEmail,
          ...message,
        });
      } catch (err) {
        if (err instanceof MailerError && !err.retryable) throw ApplicationFailure.nonRetryable(err.message, FAILURE_TYPES.emailRejected);
        throw err;
      }
      await db
        .update(exportsTable)
        .set({ emailStatus: sent.status, emailSentAt: sent.sentAt })
        .where(eq(exportsTable.id, row.id));
      return { status: sent.status, sentAt: sent.sentAt?.toISOString() ?? null };
    },

    /** Records that the email could not be sent after its retries (the export stays usable); idempotent. */
    async recordExportEmailFailure(input: { exportId: string }): Promise<void> {
      await db
        .update(exportsTable)
        .set({ emailStatus: 'FAILED' })
        .where(and(eq(exportsTable.id, input.exportId), sql`${exportsTable.emailStatus} IS DISTINCT FROM 'SENT'`, sql`${exportsTable.emailStatus} IS DISTINCT FROM 'OUTBOX'`));
    },

    /**
     * Ends the export: its status (COMPLETED, FAILED or CANCELLED) and its audit entry, in one transaction; a
     * failed or cancelled export's objects are deleted first. A retry finds the export ended and changes nothing.
     */
    async finishExport(input: ExportEnding): Promise<{ status: ExportStatus }> {
      return endExport(deps, input, `users-export-${input.exportId}:${Context.current().info.workflowExecution?.runId ?? 'no-run'}`);
    },
  };
  const { exportRange } = activities;
  return {
    ...activities,
    /** exportRange (above), its failed attempts counted (a cancelled one, the export being cancelled, is not a failure). */
    async exportRange(input: { exportId: string; partNo: number }): Promise<RangeResult> {
      try {
        return await exportRange(input);
      } catch (err) {
        if (!Context.current().cancellationSignal.aborted) metrics?.exportRangeFailed();
        throw err;
      }
    },
  };
}
