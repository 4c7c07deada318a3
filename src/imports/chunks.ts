import { sql } from 'drizzle-orm';
import type { Db, Queryable } from '../db/client';
import { retryTransient } from '../db/errors';
import { storable } from '../text';
import { changesSql, CREATE_VALUES_SQL, nextValuesSql, parseStoredOptions, WRITTEN_FIELDS, writeModes, type WriteModes } from './merge';
import type { ImportChunkRef } from '../../workflows/import-definitions';

/**
 * The write of one chunk: one transaction, one set-based upsert of the chunk's staged rows into users, the chunk
 * marked COMPLETED with its counts, and the import's counters recomputed from its chunks. A chunk already COMPLETED
 * is not written again, so a retried activity (after a crash, a timeout, or an operator's retry) writes nothing twice.
 */

export interface ChunkWriteResult {
  /**
   * `skipped_cancelled`: the import was no longer RUNNING when this chunk started (cancelled, or ended otherwise);
   * nothing was written. (The name is kept: workflow histories hold it.)
   */
  outcome: 'written' | 'already_completed' | 'skipped_cancelled';
  created: number;
  updated: number;
  unchanged: number;
}

export class ChunkNotFoundError extends Error {
  constructor(importId: string, chunkNo: number) {
    super(`import ${importId} has no chunk ${chunkNo}`);
    this.name = 'ChunkNotFoundError';
  }
}

type ChunkState = {
  status: string;
  first_row: number;
  last_row: number;
  row_count: number;
  created_count: number;
  updated_count: number;
  unchanged_count: number;
  import_status: string;
  application_id: string;
  options: unknown;
  undo_recorded: boolean;
};

/**
 * For a user created by someone else after the chunk locked the existing ones (another import writing the same
 * users): the proposed row `excluded` over `u` as a default upsert would write it (a field not given keeps the
 * stored value, metadata merged, a verified full_name kept). A "clear it" of empty_cells=clear is not seen on this
 * path (the proposed row holds the new user's values).
 */
const CONFLICT_NEXT = {
  display_name: sql.raw('COALESCE(excluded.display_name, u.display_name)'),
  full_name: sql.raw(
    `CASE WHEN 'full_name' = ANY (u.verified_fields) THEN u.full_name ELSE COALESCE(excluded.full_name, u.full_name) END`,
  ),
  email: sql.raw('COALESCE(excluded.email, u.email)'),
  phone: sql.raw('COALESCE(excluded.phone, u.phone)'),
  country: sql.raw('COALESCE(excluded.country, u.country)'),
  status: sql.raw('excluded.status'),
  tags: sql.raw('CASE WHEN cardinality(excluded.tags) = 0 THEN u.tags ELSE excluded.tags END'),
  metadata: sql.raw('u.metadata || excluded.metadata'),
};
const CONFLICT_SET = sql.join(
  Object.entries(CONFLICT_NEXT).map(([column, value]) => sql`${sql.raw(column)} = ${value}`),
  sql`, `,
);
const CONFLICT_CHANGES = sql`(${sql.raw(Object.keys(CONFLICT_NEXT).map((c) => `u.${c}`).join(', '))}) IS DISTINCT FROM (${sql.join(
  Object.values(CONFLICT_NEXT),
  sql`, `,
)})`;

/**
 * The upsert. `locked` first locks every existing user of the chunk, in vendor_data_key order (a row changed
 * concurrently is re-read after the lock); `upd` then writes each of them under the import's modes (merge.ts: the
 * same expressions that classified the rows at staging), leaving alone those it would not change (and their
 * updated_at); `ins` inserts the others, in key order. A user created concurrently between the lock and the insert
 * gets ACTIVE unless the row gives a status (see the README), and is updated as CONFLICT_NEXT says. Locking them
 * all, in one order, before anything is written is what keeps chunks of imports that update the same users from
 * deadlocking: locking only some first and the rest during the insert took the locks in two passes, and two imports
 * then waited on each other. `create_only` updates no one (a user that exists by now is left alone: unchanged);
 * `update_only` inserts no one (a user deleted since staging is not made again).
 *
 * `images` records, in the same statement, what an undo needs: one import_undo_chunks row with the whole row of each
 * user `upd` changed as `locked` read it (after its lock, so before this write, and as a concurrent writer left it),
 * the id and vendor_data of each user `ins` created, and the updated_at written (`now()`, which `upd` and `ins` write
 * too). The users `upd` changed are picked in an aggregate's FILTER, where `IN (SELECT id FROM upd)` is a hashed
 * subplan: a join of the two CTE scans (both estimated at one row while import_rows' statistics lag behind) was planned
 * as a nested loop, 36 s for a chunk of 5,000 updates. A user created concurrently and then updated through ON
 * CONFLICT has no before-image here (its old row is not visible to RETURNING): it is recorded without one, and an undo
 * leaves it alone as a conflict (`no_before_image`). The chunk's transaction either commits its writes and their
 * images or neither, and a COMPLETED chunk is never written again, so a retry records nothing twice and never records
 * its own writes as before-images (ON CONFLICT DO NOTHING keeps the first row should one exist). An import started
 * while undo was off (`recordUndo` false: IMPORT_UNDO_DAYS=0) records nothing.
 */
function upsertChunk(importId: string, applicationId: string, chunk: ImportChunkRef, modes: WriteModes, recordUndo: boolean) {
  const next = nextValuesSql(modes);
  const set = sql.raw(WRITTEN_FIELDS.map((f) => `${f} = ${next[f]}`).join(', '));
  const created = sql.raw(WRITTEN_FIELDS.map((f) => CREATE_VALUES_SQL[f]).join(', '));
  const update =
    modes.mode === 'create_only'
      ? sql`SELECT NULL::uuid AS id, NULL::timestamptz AS updated_at WHERE false`
      : // Joined by the users' key index. `(SELECT count(*) FROM locked)` is an InitPlan, run once before the
        // scan: every lock is taken, in key order, before the first update (an `IN locked` could be planned as a
        // semi-join that reads the CTE, and takes its locks, bit by bit). `NOT IN locked` below is a hashed
        // subplan for the same reason, and because a join of two CTE scans may be a nested loop, quadratic in the
        // chunk. The users the scan finds are those locked (a user deleted since is skipped by the update).
        sql`UPDATE users u SET ${set}, updated_at = now()
      FROM src s
      WHERE (SELECT count(*) FROM locked) >= 0
        AND u.application_id = ${applicationId} AND u.vendor_data_key = s.vendor_data_key
        AND ${sql.raw(changesSql(modes))}
      RETURNING u.id, u.updated_at`;
  const insert =
    modes.mode === 'update_only'
      ? sql`SELECT NULL::uuid AS id, NULL::text AS vendor_data, NULL::timestamptz AS updated_at, true AS inserted WHERE false`
      : sql`INSERT INTO users AS u (application_id, vendor_data, vendor_data_key, ${sql.raw(WRITTEN_FIELDS.join(', '))})
      SELECT ${applicationId}, s.vendor_data, s.vendor_data_key, ${created}
      FROM src s WHERE s.vendor_data_key NOT IN (SELECT vendor_data_key FROM locked)
      ORDER BY s.vendor_data_key
      ON CONFLICT (application_id, vendor_data_key) DO ${
        modes.mode === 'create_only' ? sql`NOTHING` : sql`UPDATE SET ${CONFLICT_SET}, updated_at = now() WHERE ${CONFLICT_CHANGES}`
      }
      RETURNING u.id, u.vendor_data, u.updated_at, (xmax = 0) AS inserted`;
  return sql`
    WITH src AS (
      SELECT r.vendor_data, r.vendor_data_key, r.display_name, r.full_name, r.email, r.phone, r.country, r.status,
        r.tags, r.metadata
      FROM import_rows r
      WHERE r.import_id = ${importId} AND r.row_number BETWEEN ${chunk.firstRow} AND ${chunk.lastRow}
        AND r.chunk_no = ${chunk.chunkNo}
    ),
    locked AS (
      SELECT u.id, u.vendor_data_key, u AS row FROM users u
      WHERE u.application_id = ${applicationId}
        AND u.vendor_data_key IN (SELECT vendor_data_key FROM src)
      ORDER BY u.vendor_data_key
      FOR UPDATE
    ),
    upd AS (${update}),
    ins AS (${insert})${recordUndo ? sql`,
    images AS (
      INSERT INTO import_undo_chunks (import_id, chunk_no, written_updated_at, before, created_ids, created_vendor_data,
        no_image_ids, no_image_vendor_data)
      SELECT ${importId}::uuid, ${chunk.chunkNo}::int, now(),
        COALESCE((SELECT array_agg(l.row ORDER BY l.id) FILTER (WHERE l.id IN (SELECT id FROM upd)) FROM locked l), '{}'),
        COALESCE(array_agg(ins.id ORDER BY ins.id) FILTER (WHERE ins.inserted), '{}'),
        COALESCE(array_agg(ins.vendor_data ORDER BY ins.id) FILTER (WHERE ins.inserted), '{}'),
        COALESCE(array_agg(ins.id ORDER BY ins.id) FILTER (WHERE NOT ins.inserted), '{}'),
        COALESCE(array_agg(ins.vendor_data ORDER BY ins.id) FILTER (WHERE NOT ins.inserted), '{}')
      FROM ins
      ON CONFLICT (import_id, chunk_no) DO NOTHING
    )` : sql``}
    SELECT (SELECT count(*) FROM ins WHERE inserted)::int AS created,
      ((SELECT count(*) FROM upd) + (SELECT count(*) FROM ins WHERE NOT inserted))::int AS updated`;
}

/** Recomputes the import's counters from its chunks; the caller holds the import row's lock (see below). */
export async function refreshImportCounters(db: Queryable, importId: string): Promise<void> {
  // Lock first, then read the chunks in a new statement: under READ COMMITTED that statement sees every chunk
  // committed before the lock was granted, so the last chunk to finish leaves exact totals.
  await db.execute(sql`SELECT 1 FROM imports WHERE id = ${importId} FOR NO KEY UPDATE`);
  await db.execute(sql`
    UPDATE imports i SET
      processed_rows = s.processed_rows, created_count = s.created, updated_count = s.updated,
      unchanged_count = s.unchanged, failed_rows = s.failed_rows, chunks_completed = s.completed, chunks_failed = s.failed
    FROM (
      SELECT
        COALESCE(sum(row_count) FILTER (WHERE status = 'COMPLETED'), 0)::int AS processed_rows,
        COALESCE(sum(created_count) FILTER (WHERE status = 'COMPLETED'), 0)::int AS created,
        COALESCE(sum(updated_count) FILTER (WHERE status = 'COMPLETED'), 0)::int AS updated,
        COALESCE(sum(unchanged_count) FILTER (WHERE status = 'COMPLETED'), 0)::int AS unchanged,
        COALESCE(sum(row_count) FILTER (WHERE status = 'FAILED'), 0)::int AS failed_rows,
        count(*) FILTER (WHERE status = 'COMPLETED')::int AS completed,
        count(*) FILTER (WHERE status = 'FAILED')::int AS failed
      FROM import_chunks WHERE import_id = ${importId}
    ) s
    WHERE i.id = ${importId}`);
}

export interface WriteChunkHooks {
  /** Runs inside the transaction after the upsert, before the commit (a seam: see ActivityHooks.beforeChunkCommit). */
  beforeCommit?: () => Promise<void>;
}

/** How long a chunk waits out a database it cannot reach (a failover) before its attempt fails. */
const UNAVAILABLE_FOR_MS = 2 * 60_000;

/**
 * Writes one chunk; see the module comment. A transaction Postgres aborts for a deadlock is run again, and so is one
 * that lost its connection, for up to two minutes (the activity heartbeats meanwhile).
 */
export function writeChunk(db: Db, importId: string, chunkNo: number, hooks: WriteChunkHooks = {}): Promise<ChunkWriteResult> {
  return retryTransient(() => writeChunkOnce(db, importId, chunkNo, hooks), { unavailableForMs: UNAVAILABLE_FOR_MS });
}

async function writeChunkOnce(db: Db, importId: string, chunkNo: number, hooks: WriteChunkHooks): Promise<ChunkWriteResult> {
  return db.transaction(async (tx) => {
    const found = await tx.execute<ChunkState>(sql`
      SELECT c.status, c.first_row, c.last_row, c.row_count, c.created_count, c.updated_count, c.unchanged_count,
        i.status AS import_status, i.application_id, i.options, i.undo_recorded
      FROM import_chunks c JOIN imports i ON i.id = c.import_id
      WHERE c.import_id = ${importId} AND c.chunk_no = ${chunkNo}
      FOR UPDATE OF c`);
    const state = found.rows[0];
    if (!state) throw new ChunkNotFoundError(importId, chunkNo);
    if (state.status === 'COMPLETED') {
      return {
        outcome: 'already_completed',
        created: state.created_count,
        updated: state.updated_count,
        unchanged: state.unchanged_count,
      };
    }
    // Rows are written only while the import is RUNNING (or PAUSED: a chunk in flight when the pause came
    // finishes): never after a cancel, a failure or any other ending.
    if (state.import_status !== 'RUNNING' && state.import_status !== 'PAUSED') return { outcome: 'skipped_cancelled', created: 0, updated: 0, unchanged: 0 };

    const chunk = { chunkNo, firstRow: state.first_row, lastRow: state.last_row, rowCount: state.row_count };
    const modes = writeModes(parseStoredOptions(state.options));
    const counts = (await tx.execute<{ created: number; updated: number }>(upsertChunk(importId, state.application_id, chunk, modes, state.undo_recorded)))
      .rows[0];
    const unchanged = state.row_count - counts.created - counts.updated;
    await hooks.beforeCommit?.();
    await tx.execute(sql`
      UPDATE import_chunks SET status = 'COMPLETED', created_count = ${counts.created}, updated_count = ${counts.updated},
        unchanged_count = ${unchanged}, error_code = NULL, error_message = NULL, updated_at = now()
      WHERE import_id = ${importId} AND chunk_no = ${chunkNo}`);
    await refreshImportCounters(tx, importId);
    return { outcome: 'written', created: counts.created, updated: counts.updated, unchanged };
  });
}

/**
 * Records a chunk that exhausted its retries as FAILED with the error; a COMPLETED chunk stays COMPLETED. Returns
 * whether this call moved it to FAILED (a retry of the call finds it FAILED already).
 */
export async function recordChunkFailure(db: Db, importId: string, chunkNo: number, error: { code: string; message: string }): Promise<boolean> {
  return db.transaction(async (tx) => {
    const before = await tx.execute<{ status: string }>(sql`
      SELECT status FROM import_chunks WHERE import_id = ${importId} AND chunk_no = ${chunkNo} FOR UPDATE`);
    await tx.execute(sql`
      UPDATE import_chunks SET status = 'FAILED', error_code = ${error.code}, error_message = ${storable(error.message)},
        updated_at = now()
      WHERE import_id = ${importId} AND chunk_no = ${chunkNo} AND status <> 'COMPLETED'`);
    await refreshImportCounters(tx, importId);
    const status = before.rows[0]?.status;
    return status !== undefined && status !== 'COMPLETED' && status !== 'FAILED';
  });
}

/** The chunks still to write (PENDING), in order. */
export async function listPendingChunks(db: Queryable, importId: string): Promise<ImportChunkRef[]> {
  const result = await db.execute<{ chunk_no: number; first_row: number; last_row: number; row_count: number }>(sql`
    SELECT chunk_no, first_row, last_row, row_count FROM import_chunks
    WHERE import_id = ${importId} AND status = 'PENDING' ORDER BY chunk_no`);
  return result.rows.map((r) => ({ chunkNo: r.chunk_no, firstRow: r.first_row, lastRow: r.last_row, rowCount: r.row_count }));
}
