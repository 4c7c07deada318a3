import { getTableColumns, sql } from 'drizzle-orm';
import { users } from '../../drizzle/schema';
import type { Db, Queryable } from '../db/client';
import { retryTransient } from '../db/errors';
import { recordImportEvent } from '../webhooks/events';
import { recordAuditEntry } from '../audit/queries';
import { invalidState } from '../errors';
import { getImport, type ImportRecord } from './queries';

/**
 * The undo of an import (API.md "Controlling imports"), from what its chunk writes recorded in import_undo_chunks
 * (chunks.ts): chunk by chunk, each updated user gets its before-image back (the whole row, updated_at included), each
 * created user is deleted; a user changed since by anything else (its updated_at is not the one the import wrote), with
 * a verification session since (its session counters moved), or deleted since, is left as it is and recorded in
 * import_undo_conflicts with the reason.
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
  params: { id: string; operatorId: string | null; actor?: 'cli'; undoDays: number; now?: Date },
): Promise<{ previousStatus: string }> {
  const found = await db.execute<{ status: string; finished_at: string | null; undo_status: string | null; undo_recorded: boolean }>(
    sql`SELECT status, finished_at, undo_status, undo_recorded FROM imports WHERE id = ${params.id} FOR NO KEY UPDATE`,
  );
  const row = found.rows[0];
  if (!row) throw invalidState('the import does not exist');
  if (!(UNDOABLE_STATUSES as readonly string[]).includes(row.status) || row.undo_status !== null) {
    throw invalidState(`the import is ${row.status}; only an import ${UNDOABLE_STATUSES.join(', ')} can be undone (once)`);
  }
  if (row.finished_at === null) throw invalidState('the import is still stopping; try again in a moment');
  if (!row.undo_recorded) throw invalidState('the import was written while undo was off (IMPORT_UNDO_DAYS=0): it kept no before-images');
  if (params.undoDays === 0) throw invalidState('undo is off (IMPORT_UNDO_DAYS=0)');
  const cutoff = (params.now ?? new Date()).getTime() - params.undoDays * DAY_MS;
  if (new Date(row.finished_at).getTime() < cutoff) {
    throw invalidState(`the import finished more than ${params.undoDays} days ago (IMPORT_UNDO_DAYS); it can no longer be undone`);
  }
  await db.execute(sql`
    UPDATE imports SET status = 'UNDOING', undo_status = 'RUNNING', undo_requested_by = ${params.operatorId},
      undo_requested_actor = ${params.actor ?? null}, undo_requested_at = now(), undo_restored = 0, undo_deleted = 0, undo_conflicts = 0, undo_finished_at = NULL
    WHERE id = ${params.id}`);
  return { previousStatus: row.status };
}

/** The workflow could not be started: UNDOING goes back to the status it came from, as if never asked. */
export async function unmarkUndoing(db: Queryable, importId: string, previousStatus: string): Promise<void> {
  await db.execute(sql`
    UPDATE imports SET status = ${previousStatus}, undo_status = NULL, undo_requested_by = NULL, undo_requested_actor = NULL,
      undo_requested_at = NULL
    WHERE id = ${importId} AND status = 'UNDOING'`);
}

/** The chunks after `afterChunkNo` still to undo, in order, at most `limit`. Read-only. */
export async function listUndoChunks(db: Queryable, params: { importId: string; afterChunkNo: number; limit: number }): Promise<number[]> {
  const result = await db.execute<{ chunk_no: number }>(sql`
    SELECT chunk_no FROM import_undo_chunks
    WHERE import_id = ${params.importId} AND chunk_no > ${params.afterChunkNo} AND undone_at IS NULL
    ORDER BY chunk_no LIMIT ${params.limit}`);
  return result.rows.map((r) => r.chunk_no);
}

export interface UndoChunkResult {
  restored: number;
  deleted: number;
  conflicts: number;
}

const COUNTERS = ['session_count', 'approved_count', 'declined_count', 'in_review_count'] as const;
/**
 * Every column of users an undo puts back: all but the id and the application, from the schema (none forgotten), as
 * the SET expression. A before-image taken before a column was added reads it as null: a NOT NULL column, which can
 * never have held null, then keeps its current value.
 */
const RESTORED_COLUMNS = Object.values(getTableColumns(users)).filter((column) => column.name !== 'id' && column.name !== 'application_id');
export const RESTORED_COLUMN_NAMES: readonly string[] = RESTORED_COLUMNS.map((c) => c.name);
const RESTORE_SET = sql.raw(
  `(${RESTORED_COLUMNS.map((c) => c.name).join(', ')}) = (${RESTORED_COLUMNS.map((c) => (c.notNull ? `COALESCE(i.${c.name}, u.${c.name})` : `i.${c.name}`)).join(', ')})`,
);
const list = (prefix: string, names: readonly string[]) => sql.raw(`(${names.map((n) => `${prefix}.${n}`).join(', ')})`);

/**
 * Undoes one chunk: one transaction. The chunk's import_undo_chunks row is locked first (two attempts at one chunk run
 * one after the other) and a chunk already undone is left alone; then its users, in id order. A user is as the import
 * left it when its updated_at is the one the chunk wrote and its session counters are those of its before-image (zero
 * for a created one): an updated one gets its before-image back, column by column, updated_at included; a created one
 * is deleted. Every other user of the chunk is left as it is and recorded as a conflict with the reason, by the
 * complementary test in the same statement (one snapshot). The chunk is marked undone and the import's undo counters
 * added to in the same transaction, so a retry after a crash does nothing twice.
 */
export function undoChunk(db: Db, importId: string, chunkNo: number, hooks: { beforeCommit?: () => Promise<void> } = {}): Promise<UndoChunkResult> {
  return retryTransient(() => undoChunkOnce(db, importId, chunkNo, hooks), { unavailableForMs: 2 * 60_000 });
}

async function undoChunkOnce(db: Db, importId: string, chunkNo: number, hooks: { beforeCommit?: () => Promise<void> }): Promise<UndoChunkResult> {
  return db.transaction(async (tx) => {
    const found = await tx.execute<{ undone: boolean; written: string }>(sql`
      SELECT undone_at IS NOT NULL AS undone, written_updated_at::text AS written FROM import_undo_chunks
      WHERE import_id = ${importId} AND chunk_no = ${chunkNo} FOR UPDATE`);
    if (!found.rows[0] || found.rows[0].undone) return { restored: 0, deleted: 0, conflicts: 0 };
    // The updated_at the chunk wrote, as a value: a join to the chunk's row (its images inline, megabytes) in the
    // restore's nested loop copied that row once per user, 3.6 s for a chunk of 5,000.
    const written = sql`${found.rows[0].written}::timestamptz`;
    const thisChunk = sql`import_id = ${importId} AND chunk_no = ${chunkNo}`;
    await tx.execute(sql`
      SELECT u.id FROM users u
      WHERE u.id IN (
        SELECT b.id FROM import_undo_chunks c, unnest(c.before) b WHERE ${thisChunk}
        UNION ALL
        SELECT unnest(c.created_ids) FROM import_undo_chunks c WHERE ${thisChunk})
      ORDER BY u.id FOR UPDATE`);
    const result = await tx.execute<{ restored: number; deleted: number; conflicts: number }>(sql`
      WITH chunk AS (
        SELECT before, created_ids, created_vendor_data, no_image_ids, no_image_vendor_data FROM import_undo_chunks WHERE ${thisChunk}
      ),
      img AS (SELECT b.* FROM chunk, unnest(chunk.before) b),
      created AS (SELECT x.id, x.vendor_data FROM chunk, unnest(chunk.created_ids, chunk.created_vendor_data) x(id, vendor_data)),
      restored AS (
        UPDATE users u SET ${RESTORE_SET}
        FROM img i
        WHERE u.id = i.id AND u.updated_at = ${written} AND ${list('u', COUNTERS)} = ${list('i', COUNTERS)}
        RETURNING u.id
      ),
      deleted AS (
        DELETE FROM users u USING created x
        WHERE u.id = x.id AND u.updated_at = ${written} AND ${list('u', COUNTERS)} = (0, 0, 0, 0)
        RETURNING u.id
      ),
      conflicts AS (
        INSERT INTO import_undo_conflicts (import_id, chunk_no, user_id, vendor_data, reason)
        SELECT ${importId}::uuid, ${chunkNo}::int, c.id, c.vendor_data, c.reason
        FROM (
          SELECT i.id, i.vendor_data,
            CASE
              WHEN u.id IS NULL THEN 'deleted_since'
              WHEN ${list('u', COUNTERS)} IS DISTINCT FROM ${list('i', COUNTERS)} THEN 'session_since'
              WHEN u.updated_at IS DISTINCT FROM ${written} THEN 'changed_since'
            END AS reason
          FROM img i LEFT JOIN users u ON u.id = i.id
          UNION ALL
          SELECT x.id, x.vendor_data,
            CASE
              WHEN u.id IS NULL THEN 'deleted_since'
              WHEN ${list('u', COUNTERS)} IS DISTINCT FROM (0, 0, 0, 0) THEN 'session_since'
              WHEN u.updated_at IS DISTINCT FROM ${written} THEN 'changed_since'
            END
          FROM created x LEFT JOIN users u ON u.id = x.id
          UNION ALL
          SELECT x.id, x.vendor_data, 'no_before_image'
          FROM chunk, unnest(chunk.no_image_ids, chunk.no_image_vendor_data) x(id, vendor_data)
        ) c
        WHERE c.reason IS NOT NULL
        ON CONFLICT DO NOTHING
        RETURNING 1
      ),
      marked AS (UPDATE import_undo_chunks SET undone_at = now() WHERE ${thisChunk} RETURNING 1)
      SELECT (SELECT count(*) FROM restored)::int AS restored, (SELECT count(*) FROM deleted)::int AS deleted,
        (SELECT count(*) FROM conflicts)::int AS conflicts, (SELECT count(*) FROM marked)::int AS marked`);
    const counts = result.rows[0];
    await hooks.beforeCommit?.();
    await tx.execute(sql`
      UPDATE imports SET undo_restored = undo_restored + ${counts.restored}, undo_deleted = undo_deleted + ${counts.deleted},
        undo_conflicts = undo_conflicts + ${counts.conflicts}
      WHERE id = ${importId}`);
    return { restored: counts.restored, deleted: counts.deleted, conflicts: counts.conflicts };
  });
}

/**
 * The end of the undo: UNDOING -> UNDONE with undo_finished_at, and the audit entry `users.import.undo` (keyed by the
 * import: one per undo, a retry writes none twice). Idempotent: `ended` says whether this call ended it.
 */
export async function finishUndo(db: Db, importId: string): Promise<{ row: ImportRecord; ended: boolean }> {
  const ended = await db.transaction(async (tx) => {
    await tx.execute(sql`
      UPDATE imports SET status = 'UNDONE', undo_status = 'COMPLETED', undo_finished_at = COALESCE(undo_finished_at, now())
      WHERE id = ${importId} AND status = 'UNDOING'`);
    const row = await getImport(tx, { id: importId });
    if (row.status !== 'UNDONE') return false;
    const audited = await recordAuditEntry(tx, {
      applicationId: row.applicationId,
      action: 'users.import.undo',
      // Asked for by the CLI: no operator, `actor: "cli"` in the details.
      operatorId: row.undoRequestedActor ? null : (row.undoRequestedBy ?? row.operatorId),
      targetId: row.id,
      status: row.undoConflicts === 0 ? 'SUCCESS' : 'FAILURE',
      details: {
        import_status: row.status,
        file_name: row.fileName,
        file_sha256: row.fileSha256,
        import_operator: row.operatorId ? { id: row.operatorId, email: row.operatorEmail } : null,
        import_api_key: row.apiKeyPrefix ? { prefix: row.apiKeyPrefix } : null,
        requested_by: row.undoRequestedBy ? { id: row.undoRequestedBy, email: row.undoRequestedByEmail } : null,
        ...(row.undoRequestedActor ? { actor: row.undoRequestedActor } : {}),
        restored: row.undoRestored,
        deleted: row.undoDeleted,
        conflicts: row.undoConflicts,
      },
      startedAt: row.undoRequestedAt,
      finishedAt: row.undoFinishedAt,
      idempotencyKey: `users.import.undo:${row.id}`,
    });
    await recordImportEvent(tx, { importId: row.id, type: 'import.undone' });
    return audited;
  });
  return { row: await getImport(db, { id: importId }), ended };
}

/** A batch of an import's undo conflicts, in (chunk, user) order after the given key. */
export async function undoConflictBatch(
  db: Queryable,
  params: { importId: string; after?: { chunkNo: number; userId: string }; limit: number },
): Promise<{ chunk_no: number; user_id: string; vendor_data: string; reason: string }[]> {
  const after = params.after ? sql`AND (chunk_no, user_id) > (${params.after.chunkNo}, ${params.after.userId}::uuid)` : sql``;
  const result = await db.execute<{ chunk_no: number; user_id: string; vendor_data: string; reason: string }>(sql`
    SELECT chunk_no, user_id, vendor_data, reason FROM import_undo_conflicts
    WHERE import_id = ${params.importId} ${after}
    ORDER BY chunk_no, user_id LIMIT ${params.limit}`);
  return result.rows;
}

/**
 * Deletes what the chunk writes recorded for undo (import_undo_chunks, a row per chunk: up to a few MB each) of imports
 * that finished (and whose undo, if any, finished) before `cutoff`, `batch` chunk rows at a time; `onBatch` after each
 * (a heartbeat). Returns how many chunk rows were deleted. A retry goes on. The conflicts an undo recorded stay: they
 * are its report (undo-conflicts.csv), a vendor_data and a reason each.
 */
export async function deleteExpiredUndoImages(db: Db, params: { cutoff: Date; batch: number; onBatch?: (deleted: number) => void }): Promise<number> {
  let deleted = 0;
  for (;;) {
    const result = await db.execute(sql`
      DELETE FROM import_undo_chunks d
      WHERE (d.import_id, d.chunk_no) IN (
        SELECT c.import_id, c.chunk_no FROM import_undo_chunks c
        WHERE c.import_id IN (
          SELECT m.id FROM imports m
          WHERE m.status <> 'UNDOING' AND COALESCE(m.undo_finished_at, m.finished_at) < ${params.cutoff}
            AND EXISTS (SELECT 1 FROM import_undo_chunks x WHERE x.import_id = m.id)
          LIMIT 10)
        LIMIT ${params.batch})`);
    const n = result.rowCount ?? 0;
    deleted += n;
    params.onBatch?.(deleted);
    if (n === 0) return deleted;
  }
}
