import { sql } from 'drizzle-orm';
import type { Db, Queryable } from '../db/client';
import { retryTransient } from '../db/errors';
import { recordImportEvent } from '../webhooks/events';
import { recordAuditEntry } from '../audit/queries';
import { invalidState } from '../errors';
import { getImport, type ImportRecord } from './queries';

/**
 * The undo of an import (API.md "Controlling imports"), from the images its chunk writes recorded in
 * import_undo_images (chunks.ts): chunk by chunk, each updated user gets its before-image back (the whole row,
 * updated_at included), each created user is deleted; a user changed since by anything else (its updated_at is not
 * the one the import wrote), with a verification session since (its session counters moved), or deleted since, is
 * left as it is and its image marked a conflict with the reason.
 */

/** The statuses an import can be undone from (with finished_at within IMPORT_UNDO_DAYS). */
export const UNDOABLE_STATUSES = ['COMPLETED', 'COMPLETED_WITH_ERRORS', 'CANCELLED'] as const;

const DAY_MS = 86_400_000;

/**
 * COMPLETED / COMPLETED_WITH_ERRORS / CANCELLED (finished within `undoDays`) -> UNDOING, recording who asked; 409
 * invalid_state otherwise. A compare-and-set under the import row's lock: of two requests only one wins.
 */
export async function markUndoing(
  db: Queryable,
  params: { id: string; operatorId: string; undoDays: number; now?: Date },
): Promise<{ previousStatus: string }> {
  const found = await db.execute<{ status: string; finished_at: string | null; undo_status: string | null }>(
    sql`SELECT status, finished_at, undo_status FROM imports WHERE id = ${params.id} FOR NO KEY UPDATE`,
  );
  const row = found.rows[0];
  if (!row) throw invalidState('the import does not exist');
  if (!(UNDOABLE_STATUSES as readonly string[]).includes(row.status) || row.undo_status !== null) {
    throw invalidState(`the import is ${row.status}; only an import ${UNDOABLE_STATUSES.join(', ')} can be undone (once)`);
  }
  if (row.finished_at === null) throw invalidState('the import is still stopping; try again in a moment');
  const cutoff = (params.now ?? new Date()).getTime() - params.undoDays * DAY_MS;
  if (new Date(row.finished_at).getTime() < cutoff) {
    throw invalidState(`the import finished more than ${params.undoDays} days ago (IMPORT_UNDO_DAYS); it can no longer be undone`);
  }
  await db.execute(sql`
    UPDATE imports SET status = 'UNDOING', undo_status = 'RUNNING', undo_requested_by = ${params.operatorId},
      undo_requested_at = now(), undo_restored = 0, undo_deleted = 0, undo_conflicts = 0, undo_finished_at = NULL
    WHERE id = ${params.id}`);
  return { previousStatus: row.status };
}

/** The workflow could not be started: UNDOING goes back to the status it came from, as if never asked. */
export async function unmarkUndoing(db: Queryable, importId: string, previousStatus: string): Promise<void> {
  await db.execute(sql`
    UPDATE imports SET status = ${previousStatus}, undo_status = NULL, undo_requested_by = NULL, undo_requested_at = NULL
    WHERE id = ${importId} AND status = 'UNDOING'`);
}

/** The chunks after `afterChunkNo` that have images still to undo, in order, at most `limit`. Read-only. */
export async function listUndoChunks(db: Queryable, params: { importId: string; afterChunkNo: number; limit: number }): Promise<number[]> {
  const result = await db.execute<{ chunk_no: number }>(sql`
    SELECT DISTINCT chunk_no FROM import_undo_images
    WHERE import_id = ${params.importId} AND chunk_no > ${params.afterChunkNo} AND outcome IS NULL
    ORDER BY chunk_no LIMIT ${params.limit}`);
  return result.rows.map((r) => r.chunk_no);
}

export interface UndoChunkResult {
  restored: number;
  deleted: number;
  conflicts: number;
}

const COUNTERS = ['session_count', 'approved_count', 'declined_count', 'in_review_count'] as const;
/** Every column of users an undo puts back (all but the id and the application). */
const RESTORED_COLUMNS = [
  'vendor_data',
  'vendor_data_key',
  'display_name',
  'full_name',
  'date_of_birth',
  'email',
  'phone',
  'country',
  'status',
  'tags',
  'metadata',
  'verified_fields',
  ...COUNTERS,
  'created_at',
  'updated_at',
] as const;

/**
 * Undoes one chunk: one transaction. The chunk's import_chunks row is locked first (two attempts at one chunk run one
 * after the other), then the users of its images still to undo, in id order; each image gets its outcome in the
 * transaction that acted on its user, and only images without one are looked at, so a retry after a crash does the
 * rest and nothing twice. The import's undo counters are added to in the same transaction.
 */
export function undoChunk(db: Db, importId: string, chunkNo: number, hooks: { beforeCommit?: () => Promise<void> } = {}): Promise<UndoChunkResult> {
  return retryTransient(() => undoChunkOnce(db, importId, chunkNo, hooks), { unavailableForMs: 2 * 60_000 });
}

async function undoChunkOnce(db: Db, importId: string, chunkNo: number, hooks: { beforeCommit?: () => Promise<void> }): Promise<UndoChunkResult> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`SELECT 1 FROM import_chunks WHERE import_id = ${importId} AND chunk_no = ${chunkNo} FOR UPDATE`);
    await tx.execute(sql`
      SELECT u.id FROM users u
      WHERE u.id IN (SELECT user_id FROM import_undo_images WHERE import_id = ${importId} AND chunk_no = ${chunkNo} AND outcome IS NULL)
      ORDER BY u.id FOR UPDATE`);
    const counters = sql.raw(`(${COUNTERS.map((c) => `u.${c}`).join(', ')})`);
    const beforeCounters = sql.raw(`(${COUNTERS.map((c) => `COALESCE((i.before ->> '${c}')::int, 0)`).join(', ')})`);
    const set = sql.raw(`(${RESTORED_COLUMNS.join(', ')}) = (${RESTORED_COLUMNS.map((c) => `b.${c}`).join(', ')})`);
    const result = await tx.execute<{ restored: number; deleted: number; conflicts: number }>(sql`
      WITH c AS (
        SELECT i.user_id, i.kind, i.before,
          CASE
            WHEN u.id IS NULL THEN 'deleted_since'
            WHEN i.kind = 'updated' AND i.before IS NULL THEN 'no_before_image'
            WHEN ${counters} IS DISTINCT FROM ${beforeCounters} THEN 'session_since'
            WHEN u.updated_at IS DISTINCT FROM i.written_updated_at THEN 'changed_since'
          END AS reason
        FROM import_undo_images i LEFT JOIN users u ON u.id = i.user_id
        WHERE i.import_id = ${importId} AND i.chunk_no = ${chunkNo} AND i.outcome IS NULL
      ),
      restored AS (
        UPDATE users u SET ${set}
        FROM c, jsonb_populate_record(NULL::users, c.before) b
        WHERE u.id = c.user_id AND c.reason IS NULL AND c.kind = 'updated'
        RETURNING u.id
      ),
      deleted AS (
        DELETE FROM users u USING c
        WHERE u.id = c.user_id AND c.reason IS NULL AND c.kind = 'created'
        RETURNING u.id
      ),
      marked AS (
        UPDATE import_undo_images i
        SET outcome = CASE WHEN c.reason IS NOT NULL THEN 'conflict' WHEN c.kind = 'updated' THEN 'restored' ELSE 'deleted' END,
          reason = c.reason
        FROM c
        WHERE i.import_id = ${importId} AND i.chunk_no = ${chunkNo} AND i.user_id = c.user_id
        RETURNING i.outcome
      )
      SELECT (SELECT count(*) FROM restored)::int AS restored, (SELECT count(*) FROM deleted)::int AS deleted,
        (SELECT count(*) FROM marked WHERE outcome = 'conflict')::int AS conflicts`);
    const counts = result.rows[0];
    await hooks.beforeCommit?.();
    await tx.execute(sql`
      UPDATE imports SET undo_restored = undo_restored + ${counts.restored}, undo_deleted = undo_deleted + ${counts.deleted},
        undo_conflicts = undo_conflicts + ${counts.conflicts}
      WHERE id = ${importId}`);
    return counts;
  });
}

/**
 * The end of the undo: UNDOING -> UNDONE with undo_finished_at, and the audit entry `users.import.undo` (keyed by the
 * import: one per undo, a retry writes none twice). Idempotent.
 */
export async function finishUndo(db: Db, importId: string): Promise<ImportRecord> {
  await db.transaction(async (tx) => {
    await tx.execute(sql`
      UPDATE imports SET status = 'UNDONE', undo_status = 'COMPLETED', undo_finished_at = COALESCE(undo_finished_at, now())
      WHERE id = ${importId} AND status = 'UNDOING'`);
    const row = await getImport(tx, { id: importId });
    if (row.status !== 'UNDONE') return;
    await recordAuditEntry(tx, {
      applicationId: row.applicationId,
      action: 'users.import.undo',
      operatorId: row.undoRequestedBy ?? row.operatorId,
      targetId: row.id,
      status: row.undoConflicts === 0 ? 'SUCCESS' : 'FAILURE',
      details: {
        import_status: row.status,
        file_name: row.fileName,
        file_sha256: row.fileSha256,
        import_operator: { id: row.operatorId, email: row.operatorEmail },
        requested_by: row.undoRequestedBy ? { id: row.undoRequestedBy, email: row.undoRequestedByEmail } : null,
        restored: row.undoRestored,
        deleted: row.undoDeleted,
        conflicts: row.undoConflicts,
      },
      startedAt: row.undoRequestedAt,
      finishedAt: row.undoFinishedAt,
      idempotencyKey: `users.import.undo:${row.id}`,
    });
    await recordImportEvent(tx, { importId: row.id, type: 'import.undone' });
  });
  return getImport(db, { id: importId });
}

/** A batch of an import's undo conflicts, in (chunk, user) order after the given key. */
export async function undoConflictBatch(
  db: Queryable,
  params: { importId: string; after?: { chunkNo: number; userId: string }; limit: number },
): Promise<{ chunk_no: number; user_id: string; vendor_data: string; reason: string }[]> {
  const after = params.after ? sql`AND (chunk_no, user_id) > (${params.after.chunkNo}, ${params.after.userId}::uuid)` : sql``;
  const result = await db.execute<{ chunk_no: number; user_id: string; vendor_data: string; reason: string }>(sql`
    SELECT chunk_no, user_id, vendor_data, reason FROM import_undo_images
    WHERE import_id = ${params.importId} AND outcome = 'conflict' ${after}
    ORDER BY chunk_no, user_id LIMIT ${params.limit}`);
  return result.rows;
}

/**
 * Deletes the undo images of imports that finished (and whose undo, if any, finished) before `cutoff`, a batch of
 * `batch` rows at a time; `onBatch` after each (a heartbeat). Returns how many were deleted. A retry goes on.
 */
export async function deleteExpiredUndoImages(db: Db, params: { cutoff: Date; batch: number; onBatch?: (deleted: number) => void }): Promise<number> {
  let deleted = 0;
  for (;;) {
    const result = await db.execute(sql`
      DELETE FROM import_undo_images d
      WHERE (d.import_id, d.chunk_no, d.user_id) IN (
        SELECT i.import_id, i.chunk_no, i.user_id FROM import_undo_images i
        WHERE i.import_id IN (
          SELECT m.id FROM imports m
          WHERE m.status <> 'UNDOING' AND COALESCE(m.undo_finished_at, m.finished_at) < ${params.cutoff}
            AND EXISTS (SELECT 1 FROM import_undo_images x WHERE x.import_id = m.id)
          LIMIT 10)
        LIMIT ${params.batch})`);
    const n = result.rowCount ?? 0;
    deleted += n;
    params.onBatch?.(deleted);
    if (n === 0) return deleted;
  }
}
