import { and, asc, desc, eq, inArray, sql, type SQL } from 'drizzle-orm';
import { ACTIVE_IMPORT_STATUSES, applications, importChunks, imports, operators, type ImportRowAction, type ImportStatus } from '../../drizzle/schema';
import type { Cursor } from '../db/cursor';
import type { Queryable } from '../db/client';
import { isUuid } from '../db/ids';
import { DomainError, invalidState, notFound } from '../errors';
import { refreshImportCounters } from './chunks';
import { changesListSql, parseStoredOptions, writeModes, type WrittenField } from './merge';
import { rawOfRow, stagedValuesSql, type StagedValues } from './raw-cells';
import { storable } from '../text';
import type { DetectedSource } from './options';

/** The import row with its operator's email: what the import object is made from. */
const importColumns = {
  id: imports.id,
  applicationId: imports.applicationId,
  operatorId: imports.operatorId,
  operatorEmail: operators.email,
  apiKeyPrefix: imports.apiKeyPrefix,
  autoConfirm: imports.autoConfirm,
  rateSince: imports.rateSince,
  rateBaseRows: imports.rateBaseRows,
  /** The database's clock when the row was read: the write rate is measured against it. */
  readAt: sql<Date>`now()`.mapWith((value: string | Date) => new Date(value)),
  status: imports.status,
  fileName: imports.fileName,
  fileSha256: imports.fileSha256,
  fileBytes: imports.fileBytes,
  storageKey: imports.storageKey,
  columns: imports.columns,
  options: imports.options,
  detected: imports.detected,
  mapping: imports.mapping,
  totalRows: imports.totalRows,
  validRows: imports.validRows,
  invalidRows: imports.invalidRows,
  toCreate: imports.toCreate,
  toUpdate: imports.toUpdate,
  toUnchanged: imports.toUnchanged,
  processedRows: imports.processedRows,
  createdCount: imports.createdCount,
  updatedCount: imports.updatedCount,
  unchangedCount: imports.unchangedCount,
  skippedCount: imports.skippedCount,
  failedRows: imports.failedRows,
  chunksTotal: imports.chunksTotal,
  chunksCompleted: imports.chunksCompleted,
  chunksFailed: imports.chunksFailed,
  errorCode: imports.errorCode,
  errorMessage: imports.errorMessage,
  workflowId: imports.workflowId,
  chunkConcurrency: imports.chunkConcurrency,
  approvalRequired: imports.approvalRequired,
  approvalReasons: imports.approvalReasons,
  approvalDecision: imports.approvalDecision,
  approvalDecidedBy: imports.approvalDecidedBy,
  approvalDecidedByEmail: sql<string | null>`(SELECT d.email FROM operators d WHERE d.id = ${imports.approvalDecidedBy})`,
  approvalDecidedAt: imports.approvalDecidedAt,
  undoStatus: imports.undoStatus,
  undoRequestedBy: imports.undoRequestedBy,
  undoRequestedByEmail: sql<string | null>`(SELECT r.email FROM operators r WHERE r.id = ${imports.undoRequestedBy})`,
  undoRequestedAt: imports.undoRequestedAt,
  undoRequestedActor: imports.undoRequestedActor,
  progressAt: imports.progressAt,
  undoRestored: imports.undoRestored,
  undoDeleted: imports.undoDeleted,
  undoConflicts: imports.undoConflicts,
  undoFinishedAt: imports.undoFinishedAt,
  createdAt: imports.createdAt,
  confirmedAt: imports.confirmedAt,
  finishedAt: imports.finishedAt,
};
const selectImports = (db: Queryable) =>
  db.select(importColumns).from(imports).leftJoin(operators, eq(operators.id, imports.operatorId));
export type ImportRecord = Awaited<ReturnType<typeof selectImports>>[number];

export interface NewImport {
  id: string;
  applicationId: string;
  /** Who started it: an operator (console) or, through the public API, the API key's prefix. */
  operatorId: string | null;
  apiKeyPrefix?: string | null;
  autoConfirm?: boolean;
  fileName: string;
  fileSha256: string;
  fileBytes: number;
  storageKey: string;
  workflowId: string;
  options?: Record<string, unknown>;
  chunkConcurrency?: number;
  undoRecorded?: boolean;
}

export async function insertImport(db: Queryable, row: NewImport): Promise<void> {
  await db.insert(imports).values({ ...row, status: 'VALIDATING' });
}

/**
 * Takes the application's active-imports lock for the rest of the transaction `db` is (a Postgres advisory lock, so
 * two API processes serialise too), then counts its imports in ACTIVE_IMPORT_STATUSES: 429 too_many_active_imports
 * when one more would be over `limit`. The caller then inserts or moves its import in the same transaction, so no two
 * requests can both see room for one.
 */
export async function reserveActiveImport(db: Queryable, params: { applicationId: string; limit: number; excludeId?: string }): Promise<void> {
  await db.execute(sql`SELECT pg_advisory_xact_lock(hashtextextended(${`kyc-active-imports:${params.applicationId}`}, 0))`);
  await checkActiveImports(db, params);
}

/** The count of reserveActiveImport without the lock (an early refusal before a file is stored). */
export async function checkActiveImports(db: Queryable, params: { applicationId: string; limit: number; excludeId?: string }): Promise<void> {
  const [row] = await db
    .select({ active: sql<number>`count(*)::int` })
    .from(imports)
    .where(
      and(
        eq(imports.applicationId, params.applicationId),
        inArray(imports.status, [...ACTIVE_IMPORT_STATUSES]),
        params.excludeId ? sql`${imports.id} <> ${params.excludeId}` : undefined,
      ),
    );
  if ((row?.active ?? 0) >= params.limit) {
    throw new DomainError(
      'too_many_requests',
      'too_many_active_imports',
      `the application has ${row?.active ?? 0} imports validating or running, the most it may have at once ` +
        `(IMPORT_ACTIVE_PER_APPLICATION=${params.limit}); try again when one has finished`,
      { active: row?.active ?? 0, limit: params.limit },
    );
  }
}

/** One import; `applicationId` scopes it (another application's import is not found). Undefined when absent. */
async function findImport(db: Queryable, params: { id: string; applicationId?: string }): Promise<ImportRecord | undefined> {
  if (!isUuid(params.id)) return undefined;
  const conditions: SQL[] = [eq(imports.id, params.id)];
  if (params.applicationId) conditions.push(eq(imports.applicationId, params.applicationId));
  const [row] = await selectImports(db).where(and(...conditions));
  return row;
}

export async function getImport(db: Queryable, params: { id: string; applicationId?: string }): Promise<ImportRecord> {
  const row = await findImport(db, params);
  if (!row) throw notFound('import');
  return row;
}

/** A page of an application's imports, newest first; up to limit+1 rows so the caller knows if more follow. */
export async function listImports(db: Queryable, params: { applicationId: string; limit: number; cursor?: Cursor }) {
  const conditions: SQL[] = [eq(imports.applicationId, params.applicationId)];
  if (params.cursor) {
    conditions.push(sql`(${imports.createdAt}, ${imports.id}) < (${params.cursor.createdAt}, ${params.cursor.id})`);
  }
  return selectImports(db)
    .where(and(...conditions))
    .orderBy(desc(imports.createdAt), desc(imports.id))
    .limit(params.limit + 1);
}

export interface PreviewRow {
  rowNumber: number;
  vendorData: string | null;
  action: ImportRowAction;
  errors: { column: string; code: string; message: string }[] | null;
  keptFields: string[] | null;
  normalized: { field: string; from: string; to: string }[] | null;
  /** For an `update` row: what writing it would change now (the other rows: empty). */
  changes: { field: string; from: unknown; to: unknown }[];
  /** The row's cells as they were in the file (stored, or rebuilt from its values: ./raw-cells.ts). */
  raw: string[];
}

/** The fields whose values are personal data: their `changes` are shown only to roles with exports.all_columns. */
export const PERSONAL_FIELDS: readonly WrittenField[] = ['full_name', 'email', 'phone', 'metadata'];

/**
 * Staged rows in file order after `afterRow`; up to limit+1 rows. An `update` row's `changes` are computed here,
 * against the user as it is now and under the import's modes (the same expressions the write uses), leaving out the
 * fields in `hiddenFields`.
 */
export async function listImportRows(
  db: Queryable,
  params: {
    importId: string;
    applicationId: string;
    options?: unknown;
    hiddenFields?: readonly WrittenField[];
    action?: ImportRowAction;
    afterRow?: number;
    limit: number;
    /** The column each header was read as (columnsOfHeaders): a row whose raw was left out is rebuilt with it. */
    headerColumns: readonly (string | null)[];
  },
): Promise<PreviewRow[]> {
  const modes = writeModes(parseStoredOptions(params.options));
  const changes = sql.raw(changesListSql(modes, params.hiddenFields ?? []));
  const result = await db.execute<{
    row_number: number;
    vendor_data: string | null;
    action: ImportRowAction;
    errors: PreviewRow['errors'];
    kept_fields: string[] | null;
    normalized: PreviewRow['normalized'];
    changes: PreviewRow['changes'] | null;
    raw: string[] | null;
    staged: StagedValues | null;
  }>(sql`
    SELECT s.row_number, s.vendor_data, s.action, s.errors, s.kept_fields, s.normalized, s.raw, ${sql.raw(stagedValuesSql('s'))},
      CASE WHEN u.id IS NOT NULL THEN ${changes} END AS changes
    FROM import_rows s
    LEFT JOIN users u ON s.action = 'update' AND u.application_id = ${params.applicationId}
      AND u.vendor_data_key = s.vendor_data_key
    WHERE s.import_id = ${params.importId}
      ${params.action ? sql`AND s.action = ${params.action}` : sql``}
      ${params.afterRow !== undefined ? sql`AND s.row_number > ${params.afterRow}` : sql``}
    ORDER BY s.row_number
    LIMIT ${params.limit + 1}`);
  return result.rows.map((r) => ({
    rowNumber: r.row_number,
    vendorData: r.vendor_data,
    action: r.action,
    errors: r.errors,
    keptFields: r.kept_fields,
    normalized: r.normalized,
    changes: r.changes ?? [],
    raw: rawOfRow(r, params.headerColumns),
  }));
}

export type ErrorReportRow = {
  row_number: number;
  vendor_data: string | null;
  errors: { column: string; code: string; message: string }[] | null;
  chunk_no: number | null;
  chunk_error: string | null;
  /** The row's cells as they were in the file (stored, or rebuilt from its values: ./raw-cells.ts). */
  raw: string[];
};

/**
 * The next rows for the error report after `afterRow`: invalid rows and rows of failed chunks, in file order;
 * `headerColumns` as for listImportRows.
 */
export async function errorReportBatch(
  db: Queryable,
  params: { importId: string; afterRow: number; limit: number; headerColumns: readonly (string | null)[] },
): Promise<ErrorReportRow[]> {
  const { importId, afterRow, limit } = params;
  const staged = sql.raw(stagedValuesSql('r'));
  const result = await db.execute<Omit<ErrorReportRow, 'raw'> & { raw: string[] | null; staged: StagedValues | null }>(sql`
    SELECT * FROM (
      SELECT r.row_number, r.vendor_data, r.errors, NULL::int AS chunk_no, NULL::text AS chunk_error, r.raw, ${staged}
      FROM import_rows r
      WHERE r.import_id = ${importId} AND r.action = 'invalid' AND r.row_number > ${afterRow}
      UNION ALL
      SELECT r.row_number, r.vendor_data, NULL, c.chunk_no, c.error_message, r.raw, ${staged}
      FROM import_chunks c
      JOIN import_rows r ON r.import_id = c.import_id AND r.row_number BETWEEN c.first_row AND c.last_row
        AND r.chunk_no = c.chunk_no
      WHERE c.import_id = ${importId} AND c.status = 'FAILED' AND r.row_number > ${afterRow}
    ) e
    ORDER BY row_number
    LIMIT ${limit}`);
  return result.rows.map((r) => ({
    row_number: r.row_number,
    vendor_data: r.vendor_data,
    errors: r.errors,
    chunk_no: r.chunk_no,
    chunk_error: r.chunk_error,
    raw: rawOfRow(r, params.headerColumns),
  }));
}

// ---- state transitions: compare-and-set on the status, so the API and the workflow never both win ----

/** Set on every move to RUNNING (confirm, approval, retry, resume): the write rate is measured from here. */
const rateBase = { rateSince: sql`now()`, rateBaseRows: sql`${imports.processedRows}` };

/** AWAITING_CONFIRMATION -> RUNNING; 409 invalid_state otherwise. */
export async function markConfirmed(db: Queryable, importRecord: ImportRecord): Promise<void> {
  const moved = await db
    .update(imports)
    .set({ status: 'RUNNING', confirmedAt: sql`now()`, skippedCount: sql`${imports.invalidRows}`, ...rateBase })
    .where(and(eq(imports.id, importRecord.id), eq(imports.status, 'AWAITING_CONFIRMATION')))
    .returning({ id: imports.id });
  if (moved.length === 0) throw notConfirmable(importRecord.status);
}

/**
 * Why the application's approval policy wants a second operator for this import (empty: it does not): more updates
 * than `approval_updates_over`, or rows that set a status of `approval_statuses`.
 */
export async function approvalReasons(db: Queryable, record: Pick<ImportRecord, 'id' | 'applicationId' | 'toUpdate'>): Promise<string[]> {
  const [policy] = await db
    .select({ updatesOver: applications.approvalUpdatesOver, statuses: applications.approvalStatuses })
    .from(applications)
    .where(eq(applications.id, record.applicationId));
  const reasons: string[] = [];
  if (policy?.updatesOver !== null && policy?.updatesOver !== undefined && record.toUpdate > policy.updatesOver) {
    reasons.push(`updates ${record.toUpdate} existing users, more than ${policy.updatesOver}`);
  }
  if (policy?.statuses && policy.statuses.length > 0) {
    const result = await db.execute<{ status: string; n: number }>(sql`
      SELECT status, count(*)::int AS n FROM import_rows
      WHERE import_id = ${record.id} AND action IN ('create', 'update') AND status IN (${sql.join(policy.statuses.map((status) => sql`${status}`), sql`, `)})
      GROUP BY status ORDER BY status`);
    for (const row of result.rows) reasons.push(`sets status ${row.status} on ${row.n} user${row.n === 1 ? '' : 's'}`);
  }
  return reasons;
}

/** AWAITING_CONFIRMATION -> AWAITING_APPROVAL with the policy's reasons; 409 invalid_state otherwise. */
export async function markAwaitingApproval(db: Queryable, importRecord: ImportRecord, reasons: string[]): Promise<void> {
  const moved = await db
    .update(imports)
    .set({
      status: 'AWAITING_APPROVAL',
      confirmedAt: sql`now()`,
      skippedCount: sql`${imports.invalidRows}`,
      approvalRequired: true,
      approvalReasons: reasons,
    })
    .where(and(eq(imports.id, importRecord.id), eq(imports.status, 'AWAITING_CONFIRMATION')))
    .returning({ id: imports.id });
  if (moved.length === 0) throw notConfirmable(importRecord.status);
}

/**
 * A second operator's decision: AWAITING_APPROVAL -> RUNNING (approved) or REJECTED with `error.code`
 * approval_rejected. Compare-and-set: `applied` is false when the import is no longer awaiting approval (and true
 * again for a retry of the same decision by the same operator).
 */
export async function decideApproval(
  db: Queryable,
  params: { importId: string; decision: 'APPROVED' | 'REJECTED'; operatorId: string },
): Promise<{ status: ImportStatus; applied: boolean }> {
  const approved = params.decision === 'APPROVED';
  const moved = await db
    .update(imports)
    .set({
      status: approved ? 'RUNNING' : 'REJECTED',
      ...(approved ? rateBase : {}),
      approvalDecision: params.decision,
      approvalDecidedBy: params.operatorId,
      approvalDecidedAt: sql`now()`,
      ...(approved ? {} : { errorCode: 'approval_rejected', errorMessage: 'a second operator rejected the import; nothing was written' }),
    })
    .where(and(eq(imports.id, params.importId), eq(imports.status, 'AWAITING_APPROVAL')))
    .returning({ status: imports.status });
  if (moved[0]) return { status: moved[0].status, applied: true };
  const [row] = await db
    .select({ status: imports.status, decision: imports.approvalDecision, decidedBy: imports.approvalDecidedBy })
    .from(imports)
    .where(eq(imports.id, params.importId));
  if (!row) throw notFound('import');
  return { status: row.status, applied: row.decision === params.decision && row.decidedBy === params.operatorId };
}

/** AWAITING_APPROVAL -> EXPIRED (not decided within IMPORT_CONFIRM_TIMEOUT); returns the status afterwards. */
export async function markApprovalExpired(db: Queryable, importId: string): Promise<ImportStatus> {
  await db
    .update(imports)
    .set({ status: 'EXPIRED', finishedAt: sql`now()` })
    .where(and(eq(imports.id, importId), eq(imports.status, 'AWAITING_APPROVAL')));
  const [row] = await db.select({ status: imports.status }).from(imports).where(eq(imports.id, importId));
  if (!row) throw notFound('import');
  return row.status;
}

/**
 * The confirm of an import AWAITING_CONFIRMATION, in the caller's transaction: to AWAITING_APPROVAL when the
 * application's approval policy wants a second operator, else to RUNNING (and, with `activeLimit`, counted against
 * IMPORT_ACTIVE_PER_APPLICATION: 429 too_many_active_imports). The API's confirm and auto_confirm's activity share it.
 */
export async function applyConfirm(
  db: Queryable,
  record: ImportRecord,
  params: { activeLimit?: number } = {},
): Promise<'RUNNING' | 'AWAITING_APPROVAL'> {
  const reasons = record.status === 'AWAITING_CONFIRMATION' ? await approvalReasons(db, record) : [];
  if (reasons.length > 0) {
    await markAwaitingApproval(db, record, reasons);
    return 'AWAITING_APPROVAL';
  }
  await markConfirmed(db, record);
  // Counted after the move (the lock is taken after it, so a concurrent move that committed first is seen).
  if (params.activeLimit !== undefined) {
    await reserveActiveImport(db, { applicationId: record.applicationId, limit: params.activeLimit, excludeId: record.id });
  }
  return 'RUNNING';
}

function notConfirmable(status: ImportStatus) {
  return invalidState(`the import is ${status}; only an import AWAITING_CONFIRMATION can be confirmed`);
}

/**
 * VALIDATING / AWAITING_CONFIRMATION / RUNNING -> CANCELLED. An import awaiting confirmation ends now; one that is
 * validating or running ends when its workflow has stopped (it sets finished_at).
 */
export async function markCancelled(db: Queryable, importId: string): Promise<ImportStatus | undefined> {
  const [row] = await db
    .update(imports)
    .set({
      status: 'CANCELLED',
      finishedAt: sql`CASE WHEN ${imports.status} = 'AWAITING_CONFIRMATION' THEN now() ELSE ${imports.finishedAt} END`,
    })
    .where(and(eq(imports.id, importId), sql`${imports.status} IN ('VALIDATING', 'AWAITING_CONFIRMATION', 'AWAITING_APPROVAL', 'RUNNING', 'PAUSED')`))
    .returning({ status: imports.status });
  return row?.status;
}

/**
 * COMPLETED_WITH_ERRORS -> RUNNING, with the failed chunks back to PENDING (their errors cleared): the retry run
 * writes exactly those. 409 nothing_to_retry when no chunk failed, invalid_state in any other status.
 */
export async function markRetrying(db: Queryable, importId: string): Promise<number> {
  const [current] = await db
    .select({ status: imports.status, chunksFailed: imports.chunksFailed })
    .from(imports)
    .where(eq(imports.id, importId))
    .for('update');
  if (!current) throw notFound('import');
  if (current.status === 'COMPLETED' || (current.status === 'COMPLETED_WITH_ERRORS' && current.chunksFailed === 0)) {
    throw nothingToRetry();
  }
  if (current.status !== 'COMPLETED_WITH_ERRORS') {
    throw invalidState(`the import is ${current.status}; only an import COMPLETED_WITH_ERRORS can be retried`);
  }
  const reset = await db
    .update(importChunks)
    .set({ status: 'PENDING', errorCode: null, errorMessage: null, updatedAt: sql`now()` })
    .where(and(eq(importChunks.importId, importId), eq(importChunks.status, 'FAILED')))
    .returning({ chunkNo: importChunks.chunkNo });
  if (reset.length === 0) throw nothingToRetry();
  await db.update(imports).set({ status: 'RUNNING', finishedAt: null, errorCode: null, errorMessage: null, ...rateBase }).where(eq(imports.id, importId));
  await refreshImportCounters(db, importId);
  return reset.length;
}

const nothingToRetry = () => new DomainError('conflict', 'nothing_to_retry', 'the import has no failed chunks to retry');

/** RUNNING -> COMPLETED_WITH_ERRORS again when a retry's workflow could not be started (the chunks go back to FAILED). */
export async function undoRetrying(db: Queryable, params: { importId: string; message: string }): Promise<void> {
  const { importId, message } = params;
  await db
    .update(importChunks)
    .set({ status: 'FAILED', errorCode: 'retry_not_started', errorMessage: storable(message) })
    .where(and(eq(importChunks.importId, importId), eq(importChunks.status, 'PENDING')));
  await db.update(imports).set({ status: 'COMPLETED_WITH_ERRORS', finishedAt: sql`now()` }).where(eq(imports.id, importId));
  await refreshImportCounters(db, importId);
}

export type ImportControlAction = 'pause' | 'resume' | 'resize';

/**
 * The database side of a control of a writing import: `pause` RUNNING -> PAUSED, `resume` PAUSED -> RUNNING,
 * `resize` stores chunk_concurrency of a RUNNING or PAUSED import. Compare-and-set: `applied` says whether it moved
 * (a retry of an applied control finds it applied); `status` is the import's status afterwards.
 */
export async function applyImportControl(
  db: Queryable,
  params: { importId: string; action: ImportControlAction; chunkConcurrency?: number },
): Promise<{ status: ImportStatus; applied: boolean }> {
  const { importId, action } = params;
  const from: ImportStatus[] = action === 'pause' ? ['RUNNING'] : action === 'resume' ? ['PAUSED'] : ['RUNNING', 'PAUSED'];
  const set =
    action === 'pause'
      ? { status: 'PAUSED' as const }
      : action === 'resume'
        ? { status: 'RUNNING' as const, ...rateBase }
        : { chunkConcurrency: params.chunkConcurrency ?? null };
  const moved = await db
    .update(imports)
    .set(set)
    .where(and(eq(imports.id, importId), inArray(imports.status, from)))
    .returning({ status: imports.status, chunkConcurrency: imports.chunkConcurrency });
  if (moved[0]) return { status: moved[0].status, applied: true };
  const [row] = await db.select({ status: imports.status, chunkConcurrency: imports.chunkConcurrency }).from(imports).where(eq(imports.id, importId));
  if (!row) throw notFound('import');
  const already =
    (action === 'pause' && row.status === 'PAUSED') ||
    (action === 'resume' && row.status === 'RUNNING') ||
    (action === 'resize' && row.chunkConcurrency === (params.chunkConcurrency ?? null));
  return { status: row.status, applied: already };
}

/** VALIDATING -> FAILED when the workflow could not be started at all. */
export async function markStartFailed(db: Queryable, params: { importId: string; message: string }): Promise<void> {
  await db
    .update(imports)
    .set({ status: 'FAILED', errorCode: 'workflow_not_started', errorMessage: storable(params.message), finishedAt: sql`now()` })
    .where(and(eq(imports.id, params.importId), eq(imports.status, 'VALIDATING')));
}

/**
 * VALIDATING -> REJECTED with the file-level error; nothing was staged. `detected`: what the file was read as (the
 * format, encoding, delimiter the operator needs to see to fix it), when that was known.
 */
export async function markRejected(
  db: Queryable,
  params: { importId: string; error: { code: string; message: string }; detected?: DetectedSource | null },
): Promise<void> {
  const { importId, error } = params;
  await db
    .update(imports)
    .set({ status: 'REJECTED', errorCode: error.code, errorMessage: storable(error.message), detected: params.detected ? { ...params.detected } : null, finishedAt: sql`now()` })
    .where(and(eq(imports.id, importId), eq(imports.status, 'VALIDATING')));
}

/** AWAITING_CONFIRMATION -> EXPIRED; returns the status the import has afterwards (a confirm or cancel may have won). */
export async function markExpired(db: Queryable, importId: string): Promise<ImportStatus> {
  await db
    .update(imports)
    .set({ status: 'EXPIRED', finishedAt: sql`now()` })
    .where(and(eq(imports.id, importId), eq(imports.status, 'AWAITING_CONFIRMATION')));
  const [row] = await db.select({ status: imports.status }).from(imports).where(eq(imports.id, importId));
  if (!row) throw notFound('import');
  return row.status;
}

/**
 * The end of a workflow run: RUNNING becomes COMPLETED, or COMPLETED_WITH_ERRORS when chunks failed (or were left
 * unwritten); an import that ended otherwise (REJECTED, CANCELLED, EXPIRED, FAILED) gets its finished_at if it has
 * none. The caller runs it in a transaction. Returns the status.
 */
export async function markFinished(db: Queryable, importId: string): Promise<ImportStatus> {
  const [current] = await db.select({ status: imports.status }).from(imports).where(eq(imports.id, importId)).for('no key update');
  if (!current) throw notFound('import');
  if (current.status === 'RUNNING' || current.status === 'PAUSED') {
    // A run must not end COMPLETED with chunks unwritten: such chunks count as failed, so a retry can write them.
    const unwritten = await db
      .update(importChunks)
      .set({ status: 'FAILED', errorCode: 'not_written', errorMessage: 'the workflow run ended before this chunk was written' })
      .where(and(eq(importChunks.importId, importId), eq(importChunks.status, 'PENDING')))
      .returning({ chunkNo: importChunks.chunkNo });
    if (unwritten.length > 0) await refreshImportCounters(db, importId);
  }
  const [row] = await db
    .update(imports)
    .set({
      status: sql`CASE WHEN ${imports.status} NOT IN ('RUNNING', 'PAUSED') THEN ${imports.status}
        WHEN ${imports.chunksFailed} > 0 THEN 'COMPLETED_WITH_ERRORS' ELSE 'COMPLETED' END`,
      finishedAt: sql`COALESCE(${imports.finishedAt}, now())`,
    })
    .where(eq(imports.id, importId))
    .returning({ status: imports.status });
  if (!row) throw notFound('import');
  return row.status;
}

/** Any unfinished status -> FAILED with the error (the workflow could not go on). */
export async function markFailed(db: Queryable, params: { importId: string; error: { code: string; message: string } }): Promise<void> {
  const { importId, error } = params;
  await db
    .update(imports)
    .set({ status: 'FAILED', errorCode: error.code, errorMessage: storable(error.message), finishedAt: sql`COALESCE(${imports.finishedAt}, now())` })
    .where(and(eq(imports.id, importId), sql`${imports.status} IN ('VALIDATING', 'AWAITING_CONFIRMATION', 'AWAITING_APPROVAL', 'RUNNING', 'PAUSED')`));
}

/**
 * Imports the reconciler looks at: not finished (VALIDATING, AWAITING_CONFIRMATION, RUNNING, or CANCELLED while its
 * workflow had yet to stop) and created before `createdBefore`, oldest first.
 */
export async function listUnfinishedImports(
  db: Queryable,
  params: { createdBefore: Date; limit: number; applicationId?: string },
): Promise<ImportRecord[]> {
  return selectImports(db)
    .where(
      and(
        params.applicationId ? eq(imports.applicationId, params.applicationId) : undefined,
        sql`${imports.createdAt} < ${params.createdBefore}`,
        sql`(${imports.status} IN ('VALIDATING', 'AWAITING_CONFIRMATION', 'AWAITING_APPROVAL', 'RUNNING', 'PAUSED')
          OR (${imports.status} = 'CANCELLED' AND ${imports.finishedAt} IS NULL))`,
      ),
    )
    .orderBy(asc(imports.createdAt), asc(imports.id))
    .limit(params.limit);
}

/** Imports UNDOING whose undo was asked for before `requestedBefore`, oldest first (the reconciler checks their undo workflow). */
export async function listUndoingImports(
  db: Queryable,
  params: { requestedBefore: Date; limit: number; applicationId?: string },
): Promise<ImportRecord[]> {
  return selectImports(db)
    .where(
      and(
        params.applicationId ? eq(imports.applicationId, params.applicationId) : undefined,
        eq(imports.status, 'UNDOING'),
        sql`${imports.undoRequestedAt} < ${params.requestedBefore}`,
      ),
    )
    .orderBy(asc(imports.undoRequestedAt), asc(imports.id))
    .limit(params.limit);
}

/**
 * The import's workflow ended without finishing it (terminated or failed from outside): an unfinished import becomes
 * FAILED with the error, a CANCELLED one stays CANCELLED; either way finished_at is set. Returns whether it changed.
 */
export async function markWorkflowEnded(
  db: Queryable,
  params: { importId: string; error: { code: string; message: string } },
): Promise<boolean> {
  const { importId, error } = params;
  const moved = await db
    .update(imports)
    .set({
      status: sql`CASE WHEN ${imports.status} = 'CANCELLED' THEN 'CANCELLED' ELSE 'FAILED' END`,
      errorCode: sql`CASE WHEN ${imports.status} = 'CANCELLED' THEN ${imports.errorCode} ELSE ${error.code} END`,
      errorMessage: sql`CASE WHEN ${imports.status} = 'CANCELLED' THEN ${imports.errorMessage} ELSE ${storable(error.message)} END`,
      finishedAt: sql`COALESCE(${imports.finishedAt}, now())`,
    })
    .where(
      and(
        eq(imports.id, importId),
        sql`(${imports.status} IN ('VALIDATING', 'AWAITING_CONFIRMATION', 'AWAITING_APPROVAL', 'RUNNING', 'PAUSED')
          OR (${imports.status} = 'CANCELLED' AND ${imports.finishedAt} IS NULL))`,
      ),
    )
    .returning({ id: imports.id });
  return moved.length > 0;
}
