import type { Pool, PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Readable } from 'node:stream';
import { ImportFileError, type FileErrorCode } from './columns';
import { STAGING_COLUMNS } from './copy-text';
import { readImportFile } from './read-file';

/**
 * Validation and staging of an uploaded file, in one transaction: the file is streamed through the row rules into a
 * temporary table with COPY, then one set-based statement finds duplicates, numbers the chunks and classifies each
 * row (create / update / unchanged / invalid, and the verified fields it may not change) against the users, writing
 * import_rows once. Either the whole file is staged and the import moves to AWAITING_CONFIRMATION, or nothing is.
 */

export interface StagedCounts {
  totalRows: number;
  validRows: number;
  invalidRows: number;
  toCreate: number;
  toUpdate: number;
  toUnchanged: number;
  chunksTotal: number;
}

export type StageOutcome =
  | { status: 'AWAITING_CONFIRMATION'; counts: StagedCounts }
  | { status: 'REJECTED'; error: { code: FileErrorCode; message: string } }
  /** The import had already left VALIDATING (staged by an earlier attempt, or cancelled). */
  | { status: 'NOT_VALIDATING' };

export interface StageParams {
  importId: string;
  applicationId: string;
  /** Opens the stored file; called once the transaction is ready. */
  openFile: () => Promise<Readable>;
  maxRows: number;
  chunkRows: number;
  onProgress?: (rows: number) => void;
}

const CREATE_STAGING = `
  CREATE TEMPORARY TABLE import_staging (
    row_number integer NOT NULL,
    vendor_data text,
    vendor_data_key text,
    errors jsonb,
    display_name text,
    full_name text,
    email text,
    phone text,
    country text,
    status text,
    tags text[],
    metadata jsonb
  ) ON COMMIT DROP`;

/** Whether a valid row would change an existing user `u` (verified full_name excepted). */
const CHANGES = `
  (v.display_name IS NOT NULL AND v.display_name IS DISTINCT FROM u.display_name)
  OR (v.full_name IS NOT NULL AND NOT ('full_name' = ANY (u.verified_fields)) AND v.full_name IS DISTINCT FROM u.full_name)
  OR (v.email IS NOT NULL AND v.email IS DISTINCT FROM u.email)
  OR (v.phone IS NOT NULL AND v.phone IS DISTINCT FROM u.phone)
  OR (v.country IS NOT NULL AND v.country IS DISTINCT FROM u.country)
  OR (v.status IS NOT NULL AND v.status IS DISTINCT FROM u.status)
  OR (v.tags IS NOT NULL AND v.tags IS DISTINCT FROM u.tags)
  OR (v.metadata IS NOT NULL AND (u.metadata || v.metadata) IS DISTINCT FROM u.metadata)`;

/**
 * Staging -> import_rows. A later row whose key appeared before gets `duplicate_in_file` naming the first row; valid
 * rows are numbered into chunks of $3 rows in file order; each valid row is classified against the users.
 */
const CLASSIFY = `
  INSERT INTO import_rows (import_id, row_number, chunk_no, vendor_data, vendor_data_key, action, errors, kept_fields,
    display_name, full_name, email, phone, country, status, tags, metadata)
  SELECT $1, v.row_number,
    CASE WHEN v.errors IS NULL THEN (count(*) FILTER (WHERE v.errors IS NULL) OVER (ORDER BY v.row_number) - 1) / $3 END,
    v.vendor_data, v.vendor_data_key,
    CASE WHEN v.errors IS NOT NULL THEN 'invalid' WHEN u.id IS NULL THEN 'create' WHEN ${CHANGES} THEN 'update' ELSE 'unchanged' END,
    v.errors,
    CASE WHEN u.id IS NOT NULL AND v.full_name IS NOT NULL AND 'full_name' = ANY (u.verified_fields)
      AND v.full_name IS DISTINCT FROM u.full_name THEN ARRAY['full_name'] ELSE '{}'::text[] END,
    v.display_name, v.full_name, v.email, v.phone, v.country, v.status, v.tags, v.metadata
  FROM (
    SELECT s.row_number, s.vendor_data, s.vendor_data_key,
      CASE WHEN s.vendor_data_key IS NOT NULL AND s.first_row < s.row_number
        THEN COALESCE(s.errors, '[]'::jsonb) || jsonb_build_array(jsonb_build_object(
          'column', 'vendor_data', 'code', 'duplicate_in_file',
          'message', 'vendor_data already appears in row ' || s.first_row))
        ELSE s.errors END AS errors,
      s.display_name, s.full_name, s.email, s.phone, s.country, s.status, s.tags, s.metadata
    FROM (
      SELECT st.*, min(st.row_number) OVER (PARTITION BY st.vendor_data_key COLLATE "C") AS first_row FROM import_staging st
    ) s
  ) v
  LEFT JOIN users u ON v.errors IS NULL AND u.application_id = $2 AND u.vendor_data_key = v.vendor_data_key`;

const CHUNKS = `
  INSERT INTO import_chunks (import_id, chunk_no, first_row, last_row, row_count)
  SELECT $1, chunk_no, min(row_number), max(row_number), count(*)::int
  FROM import_rows WHERE import_id = $1 AND chunk_no IS NOT NULL
  GROUP BY chunk_no`;

const COUNTS = `
  SELECT count(*)::int AS total_rows,
    count(*) FILTER (WHERE action <> 'invalid')::int AS valid_rows,
    count(*) FILTER (WHERE action = 'invalid')::int AS invalid_rows,
    count(*) FILTER (WHERE action = 'create')::int AS to_create,
    count(*) FILTER (WHERE action = 'update')::int AS to_update,
    count(*) FILTER (WHERE action = 'unchanged')::int AS to_unchanged
  FROM import_rows WHERE import_id = $1`;

async function copyInto(client: PoolClient, source: Readable, params: StageParams) {
  const sink = client.query(copyFrom(`COPY import_staging (${STAGING_COLUMNS.join(', ')}) FROM STDIN`));
  return readImportFile(source, sink, { maxRows: params.maxRows, onProgress: params.onProgress });
}

/** Stages the file of an import that is VALIDATING; see StageOutcome. */
export async function stageImportFile(pool: Pool, params: StageParams): Promise<StageOutcome> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const current = await client.query<{ status: string }>('SELECT status FROM imports WHERE id = $1', [params.importId]);
    if (current.rows[0]?.status !== 'VALIDATING') {
      await client.query('ROLLBACK');
      return { status: 'NOT_VALIDATING' };
    }
    await client.query(`SET LOCAL work_mem = '64MB'`);
    await client.query(CREATE_STAGING);
    let read;
    try {
      read = await copyInto(client, await params.openFile(), params);
    } catch (err) {
      if (!(err instanceof ImportFileError)) throw err;
      await client.query('ROLLBACK');
      return { status: 'REJECTED', error: { code: err.code, message: err.message } };
    }
    await client.query(CLASSIFY, [params.importId, params.applicationId, params.chunkRows]);
    const chunks = await client.query(CHUNKS, [params.importId]);
    const { rows } = await client.query<Record<string, number>>(COUNTS, [params.importId]);
    const c = rows[0];
    const counts: StagedCounts = {
      totalRows: c.total_rows,
      validRows: c.valid_rows,
      invalidRows: c.invalid_rows,
      toCreate: c.to_create,
      toUpdate: c.to_update,
      toUnchanged: c.to_unchanged,
      chunksTotal: chunks.rowCount ?? 0,
    };
    // Compare-and-set: a cancel during validation wins, and then nothing stays staged.
    const moved = await client.query(
      `UPDATE imports SET status = 'AWAITING_CONFIRMATION', columns = $2, total_rows = $3, valid_rows = $4,
         invalid_rows = $5, to_create = $6, to_update = $7, to_unchanged = $8, chunks_total = $9
       WHERE id = $1 AND status = 'VALIDATING'`,
      [
        params.importId,
        read.columns,
        counts.totalRows,
        counts.validRows,
        counts.invalidRows,
        counts.toCreate,
        counts.toUpdate,
        counts.toUnchanged,
        counts.chunksTotal,
      ],
    );
    if (moved.rowCount !== 1) {
      await client.query('ROLLBACK');
      return { status: 'NOT_VALIDATING' };
    }
    await client.query('COMMIT');
    return { status: 'AWAITING_CONFIRMATION', counts };
  } catch (err) {
    broken = err as Error;
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    // A connection whose COPY was cut off is not reused.
    client.release(broken);
  }
}
