import type { Pool, PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Readable } from 'node:stream';
import { ImportFileError, type FileErrorCode } from './columns';
import { STAGING_COLUMNS } from './copy-text';
import type { DetectedSource, ReadOptions } from './options';
import { readImportFile } from './read-file';

/**
 * Validation and staging of an uploaded file, in one transaction: the file is streamed through the row rules into a
 * temporary table with COPY (valid rows numbered into chunks on the way), then one set-based statement finds
 * duplicates and classifies each row (create / update / unchanged / invalid, and the verified fields it may not
 * change) against the users, writing import_rows and import_chunks once. Either the whole file is staged and the import moves to AWAITING_CONFIRMATION, or nothing is.
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
  | { status: 'AWAITING_CONFIRMATION'; counts: StagedCounts; source: DetectedSource }
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
  /** IMPORT_MAX_BYTES: bounds what an xlsx may unpack to. */
  maxBytes?: number;
  /** The format, sheet, encoding and delimiter given with the upload (undefined: detected). */
  read?: ReadOptions;
  onProgress?: (rows: number) => void;
}

const CREATE_STAGING = `
  CREATE TEMPORARY TABLE import_staging (
    row_number integer NOT NULL,
    chunk_no integer,
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
    metadata jsonb,
    raw text[]
  ) ON COMMIT DROP`;

/** Whether a valid row `s` would change an existing user `u` (a verified full_name excepted). */
const CHANGES = `
  (s.display_name IS NOT NULL AND s.display_name IS DISTINCT FROM u.display_name)
  OR (s.full_name IS NOT NULL AND NOT ('full_name' = ANY (u.verified_fields)) AND s.full_name IS DISTINCT FROM u.full_name)
  OR (s.email IS NOT NULL AND s.email IS DISTINCT FROM u.email)
  OR (s.phone IS NOT NULL AND s.phone IS DISTINCT FROM u.phone)
  OR (s.country IS NOT NULL AND s.country IS DISTINCT FROM u.country)
  OR (s.status IS NOT NULL AND s.status IS DISTINCT FROM u.status)
  OR (s.tags IS NOT NULL AND s.tags IS DISTINCT FROM u.tags)
  OR (s.metadata IS NOT NULL AND (u.metadata || s.metadata) IS DISTINCT FROM u.metadata)`;

/**
 * Staging -> import_rows, import_chunks and the counts, in one statement. A later row whose key appeared before gets
 * `duplicate_in_file` naming the first row (found by grouping the keys, not by sorting the rows); each valid row is
 * classified against the application's users; the chunks (numbered while reading) are summed up from the rows.
 */
const CLASSIFY = `
  WITH dups AS (
    SELECT vendor_data_key, min(row_number) AS first_row FROM import_staging
    WHERE vendor_data_key IS NOT NULL
    GROUP BY vendor_data_key HAVING count(*) > 1
  ),
  verdicts AS (
    SELECT s.*, d.first_row AS duplicate_of FROM import_staging s
    LEFT JOIN dups d ON d.vendor_data_key = s.vendor_data_key AND d.first_row < s.row_number
  ),
  ins AS (
    INSERT INTO import_rows (import_id, row_number, chunk_no, vendor_data, vendor_data_key, action, errors, kept_fields,
      display_name, full_name, email, phone, country, status, tags, metadata, raw)
    SELECT $1, s.row_number,
      CASE WHEN s.duplicate_of IS NULL THEN s.chunk_no END,
      s.vendor_data, s.vendor_data_key,
      CASE WHEN s.errors IS NOT NULL OR s.duplicate_of IS NOT NULL THEN 'invalid'
        WHEN u.id IS NULL THEN 'create' WHEN ${CHANGES} THEN 'update' ELSE 'unchanged' END,
      CASE WHEN s.duplicate_of IS NULL THEN s.errors
        ELSE COALESCE(s.errors, '[]'::jsonb) || jsonb_build_array(jsonb_build_object(
          'column', 'vendor_data', 'code', 'duplicate_in_file',
          'message', 'vendor_data already appears in row ' || s.duplicate_of)) END,
      CASE WHEN u.id IS NOT NULL AND s.full_name IS NOT NULL AND 'full_name' = ANY (u.verified_fields)
        AND s.full_name IS DISTINCT FROM u.full_name THEN ARRAY['full_name'] ELSE '{}'::text[] END,
      s.display_name, s.full_name, s.email, s.phone, s.country, s.status, s.tags, s.metadata, s.raw
    FROM verdicts s
    LEFT JOIN users u ON s.errors IS NULL AND s.duplicate_of IS NULL AND u.application_id = $2
      AND u.vendor_data_key = s.vendor_data_key
    RETURNING row_number, chunk_no, action
  ),
  chunks AS (
    INSERT INTO import_chunks (import_id, chunk_no, first_row, last_row, row_count)
    SELECT $1, chunk_no, min(row_number), max(row_number), count(*)::int FROM ins
    WHERE chunk_no IS NOT NULL GROUP BY chunk_no
    RETURNING chunk_no
  )
  SELECT count(*)::int AS total_rows,
    count(*) FILTER (WHERE action <> 'invalid')::int AS valid_rows,
    count(*) FILTER (WHERE action = 'invalid')::int AS invalid_rows,
    count(*) FILTER (WHERE action = 'create')::int AS to_create,
    count(*) FILTER (WHERE action = 'update')::int AS to_update,
    count(*) FILTER (WHERE action = 'unchanged')::int AS to_unchanged,
    (SELECT count(*) FROM chunks)::int AS chunks_total
  FROM ins`;

async function copyInto(client: PoolClient, source: Readable, params: StageParams) {
  const sink = client.query(copyFrom(`COPY import_staging (${STAGING_COLUMNS.join(', ')}) FROM STDIN`));
  return readImportFile(source, sink, {
    ...params.read,
    maxRows: params.maxRows,
    chunkRows: params.chunkRows,
    maxBytes: params.maxBytes,
    onProgress: params.onProgress,
  });
}

/** Stages the file of an import that is VALIDATING; see StageOutcome. */
export async function stageImportFile(pool: Pool, params: StageParams): Promise<StageOutcome> {
  const client = await pool.connect();
  let broken: Error | undefined;
  // A checked-out client that loses its connection emits 'error'; unheard, that would end the process. The query
  // in flight fails with it anyway, and the client is then released as broken.
  const onError = (err: Error) => {
    broken ??= err;
  };
  client.on('error', onError);
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
    const { rows } = await client.query<Record<string, number>>(CLASSIFY, [params.importId, params.applicationId]);
    const c = rows[0];
    const counts: StagedCounts = {
      totalRows: c.total_rows,
      validRows: c.valid_rows,
      invalidRows: c.invalid_rows,
      toCreate: c.to_create,
      toUpdate: c.to_update,
      toUnchanged: c.to_unchanged,
      chunksTotal: c.chunks_total,
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
    return { status: 'AWAITING_CONFIRMATION', counts, source: read.source };
  } catch (err) {
    broken = err as Error;
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    // A connection whose COPY was cut off is not reused.
    client.off('error', onError);
    client.release(broken);
  }
}
