import type { Pool, PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Readable } from 'node:stream';
import { ImportFileError, type FileErrorCode, type HeaderRules, type MappingEntry } from './columns';
import { headerSetKey } from './header-mapping';
import { STAGED_ROW_COLUMNS, STAGING_COLUMNS } from './copy-text';
import { changesSql, KEEPS_FULL_NAME_SQL, parseStoredOptions, tooManyTagsSql, writeModes, type ValueOptions, type WriteModes } from './merge';
import type { DetectedSource, ReadOptions } from './options';
import { readImportFile } from './read-file';
import type { RowOptions } from './rows';
import { phoneCountry } from '../users/fields';
import { NotUtf8AfterAllError } from './sniff';

/**
 * Validation and staging of an uploaded file, in one transaction: the file is streamed through the row rules with
 * COPY (valid rows numbered into chunks on the way) into import_rows itself when the application has no users yet,
 * else into a temporary staging table; then set-based statements find duplicates and classify each row (create /
 * update / unchanged / invalid, and the verified fields it may not change) against the users, and write
 * import_chunks and the counts (classifyInPlaceSql and SUMMARIZE_SQL, or classifyStagedSql). Either the whole file is
 * staged and the import moves to AWAITING_CONFIRMATION, or nothing is.
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
  /** `source`: what the file was read as when the problem was found; null when that was not known yet. */
  | { status: 'REJECTED'; error: { code: FileErrorCode; message: string }; source: DetectedSource | null }
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
  header?: HeaderRules;
  /** Remember the resolved mapping for the application's files with these headers (the option save_mapping). */
  saveMapping?: { operatorId: string | null };
  /**
   * The value options (default_phone_country, mode, empty_cells, tags_mode, metadata_mode); when absent they are
   * read from the import row (imports.options).
   */
  options?: ValueOptions;
  /** Runs in the staging transaction once the import is AWAITING_CONFIRMATION, just before the commit (the webhook event). */
  beforeCommit?: (client: PoolClient) => Promise<void>;
}

/** The CASE branches of a valid row's mode error (over `s` and its user `u`, null when it has none). */
function modeErrorsSql(modes: WriteModes): { modeError: string; tagsError: string } {
  const modeError =
    modes.mode === 'create_only'
      ? `WHEN u.id IS NOT NULL THEN jsonb_build_object('column', 'vendor_data', 'code', 'already_exists',
          'message', 'a user with this vendor_data exists already (mode create_only)')`
      : modes.mode === 'update_only'
        ? `WHEN u.id IS NULL THEN jsonb_build_object('column', 'vendor_data', 'code', 'not_found',
            'message', 'no user has this vendor_data (mode update_only)')`
        : '';
  const tagsError = `WHEN u.id IS NOT NULL AND ${tooManyTagsSql(modes)} THEN jsonb_build_object('column', 'tags',
    'code', 'invalid_tags', 'message', 'the user''s tags and the row''s together are more than 50 (tags_mode add)')`;
  return { modeError, tagsError };
}

/**
 * The CTEs `dups`, `verdicts` and `judged` over the staged rows: those of the staging table, or (`inRows`) the
 * import's in import_rows. Each row with the first row its key appeared in (`duplicate_of`), its user, its mode error
 * and whether it changes that user.
 */
function judgedSql(modes: WriteModes, inRows: boolean): string {
  const table = inRows ? 'import_rows' : 'import_staging';
  const ofImport = inRows ? 'import_id = $1 AND ' : '';
  const { modeError, tagsError } = modeErrorsSql(modes);
  return `dups AS (
    SELECT vendor_data_key, min(row_number) AS first_row FROM ${table}
    WHERE ${ofImport}vendor_data_key IS NOT NULL
    GROUP BY vendor_data_key HAVING count(*) > 1
  ),
  verdicts AS (
    SELECT s.*, d.first_row AS duplicate_of FROM ${table} s
    LEFT JOIN dups d ON d.vendor_data_key = s.vendor_data_key AND d.first_row < s.row_number
    ${inRows ? 'WHERE s.import_id = $1' : ''}
  ),
  judged AS (
    SELECT s.*, u.id AS user_id,
      CASE WHEN s.errors IS NULL AND s.duplicate_of IS NULL THEN CASE ${modeError} ${tagsError} END END AS mode_error,
      (u.id IS NOT NULL AND ${changesSql(modes)}) AS changes,
      (u.id IS NOT NULL AND ${KEEPS_FULL_NAME_SQL}) AS keeps_full_name
    FROM verdicts s
    LEFT JOIN users u ON s.errors IS NULL AND s.duplicate_of IS NULL AND u.application_id = $2
      AND u.vendor_data_key = s.vendor_data_key
  )`;
}

/**
 * A judged row's verdict (SQL over `s`: its reader's `errors` and `chunk_no`, `duplicate_of`, `mode_error`, its
 * user's `user_id`, whether it `changes` that user and `keeps_full_name`), the same for both ways of staging.
 */
const VERDICT = {
  chunkNo: 'CASE WHEN s.duplicate_of IS NULL AND s.mode_error IS NULL THEN s.chunk_no END',
  action: `CASE WHEN s.errors IS NOT NULL OR s.duplicate_of IS NOT NULL OR s.mode_error IS NOT NULL THEN 'invalid'
    WHEN s.user_id IS NULL THEN 'create' WHEN s.changes THEN 'update' ELSE 'unchanged' END`,
  errors: `CASE WHEN s.duplicate_of IS NOT NULL THEN COALESCE(s.errors, '[]'::jsonb) || jsonb_build_array(jsonb_build_object(
      'column', 'vendor_data', 'code', 'duplicate_in_file',
      'message', 'vendor_data already appears in row ' || s.duplicate_of))
    WHEN s.mode_error IS NOT NULL THEN jsonb_build_array(s.mode_error)
    ELSE s.errors END`,
  keptFields: `CASE WHEN s.mode_error IS NULL AND s.keeps_full_name THEN ARRAY['full_name'] ELSE '{}'::text[] END`,
};

/**
 * The end of a staging statement over `rows` (each staged row's row_number, chunk_no and action): import_chunks,
 * summed up from the rows (so a chunk may end up smaller, or gone: the numbers then have a gap), and the counts.
 */
function chunksAndCountsSql(rows: string): string {
  return `chunks AS (
    INSERT INTO import_chunks (import_id, chunk_no, first_row, last_row, row_count)
    SELECT $1, chunk_no, min(row_number), max(row_number), count(*)::int FROM ${rows}
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
  FROM ${rows}`;
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
    normalized jsonb,
    raw json,
    metadata_cell text
  ) ON COMMIT DROP`;

/**
 * The staging table -> import_rows, import_chunks and the counts, in one statement (an application that has users).
 * A later row whose key appeared before gets `duplicate_in_file` naming the first row (found by grouping the keys,
 * not by sorting the rows); each valid row is classified against the application's users under the import's modes
 * (merge.ts): `create_only` makes an existing user the row error `already_exists`, `update_only` a missing one
 * `not_found`, `tags_mode=add` past 50 tags `invalid_tags`; such a row is invalid and leaves its chunk.
 */
function classifyStagedSql(modes: WriteModes): string {
  return `
  WITH ${judgedSql(modes, false)},
  ins AS (
    INSERT INTO import_rows (import_id, row_number, chunk_no, vendor_data, vendor_data_key, action, errors, kept_fields,
      display_name, full_name, email, phone, country, status, tags, metadata, normalized, raw, metadata_cell)
    SELECT $1, s.row_number, ${VERDICT.chunkNo}, s.vendor_data, s.vendor_data_key, ${VERDICT.action}, ${VERDICT.errors},
      ${VERDICT.keptFields}, s.display_name, s.full_name, s.email, s.phone, s.country, s.status, s.tags, s.metadata, s.normalized, s.raw,
      s.metadata_cell
    FROM judged s
    RETURNING row_number, chunk_no, action
  ),
  ${chunksAndCountsSql('ins')}`;
}

/**
 * The classification, over the import's rows as the reader COPYd them into import_rows (each `create`, or `invalid`
 * when it broke a rule): a later row whose key appeared before gets `duplicate_in_file` naming the first row (found
 * by grouping the keys, not by sorting the rows); each valid row is judged against the application's users under
 * the import's modes (merge.ts): `create_only` makes an existing user the row error `already_exists`, `update_only`
 * a missing one `not_found`, `tags_mode=add` past 50 tags `invalid_tags`; such a row becomes invalid and leaves its
 * chunk; a row of an existing user becomes `update` or `unchanged`, with `kept_fields` when it would change a
 * verified full_name. Only the rows whose verdict is not the reader's are rewritten: a file of new users (a first
 * import) costs a read of the rows and no second write of them. $1 the import, $2 the application.
 *
 * (Measured, 100,000 rows: COPY into a temporary table and then INSERT ... SELECT into import_rows took 0.95-1.43 s
 * of Postgres, and the INSERT ran after the file was read; a COPY into import_rows runs while the file is read. At
 * 1,000,000 rows that INSERT was 7.7 s of a 26 s preview.)
 */
function classifyInPlaceSql(modes: WriteModes): string {
  return `
  WITH ${judgedSql(modes, true)}
  UPDATE import_rows r
  SET action = ${VERDICT.action}, chunk_no = ${VERDICT.chunkNo}, errors = ${VERDICT.errors}, kept_fields = ${VERDICT.keptFields}
  FROM judged s
  WHERE r.import_id = $1 AND r.row_number = s.row_number
    AND (s.user_id IS NOT NULL OR s.duplicate_of IS NOT NULL OR s.mode_error IS NOT NULL)`;
}

/** import_chunks and the counts, from the rows classified in place. */
const SUMMARIZE_SQL = `
  WITH rows AS (SELECT row_number, chunk_no, action FROM import_rows WHERE import_id = $1),
  ${chunksAndCountsSql('rows')}`;

/**
 * Reads the file into COPY: into import_rows itself (`intoRows`, each line ending in the import's id and its first
 * verdict), or into the staging table.
 */
async function copyInto(
  client: PoolClient,
  source: Readable,
  params: StageParams,
  read: { rows: RowOptions; fileName: string; intoRows: boolean; notUtf8: boolean },
) {
  const { rows, fileName, intoRows, notUtf8 } = read;
  const copy = intoRows ? `COPY import_rows (${STAGED_ROW_COLUMNS.join(', ')}) FROM STDIN` : `COPY import_staging (${STAGING_COLUMNS.join(', ')}) FROM STDIN`;
  const openSink = () => client.query(copyFrom(copy));
  return readImportFile(source, openSink, {
    ...params.read,
    importId: intoRows ? params.importId : undefined,
    fileName,
    maxRows: params.maxRows,
    chunkRows: params.chunkRows,
    maxBytes: params.maxBytes,
    onProgress: params.onProgress,
    rows,
    header: params.header,
    notUtf8,
  });
}

/** What stageOnce returns when the file must be read again as windows-1252. */
const NOT_UTF8 = Symbol('not UTF-8 after all');

/**
 * Stages the file of an import that is VALIDATING; see StageOutcome. A file taken for UTF-8 from its first bytes that
 * turns out not to be further on is windows-1252 (API.md: "else UTF-8 if the bytes are valid UTF-8, else
 * windows-1252"): its transaction is rolled back and the file read again from the start in that encoding. Detection
 * looks at a bounded prefix (SNIFF_BYTES), so this second read is the price of never holding the file in memory; it
 * is paid only by such a file.
 */
export async function stageImportFile(pool: Pool, params: StageParams): Promise<StageOutcome> {
  const outcome = await stageOnce(pool, params, false);
  if (outcome !== NOT_UTF8) return outcome;
  const again = await stageOnce(pool, params, true);
  if (again === NOT_UTF8) throw new Error('a file read as windows-1252 cannot fail as UTF-8');
  return again;
}

async function stageOnce(pool: Pool, params: StageParams, notUtf8: boolean): Promise<StageOutcome | typeof NOT_UTF8> {
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
    const current = await client.query<{ status: string; options: unknown; file_name: string }>(
      'SELECT status, options, file_name FROM imports WHERE id = $1',
      [params.importId],
    );
    if (current.rows[0]?.status !== 'VALIDATING') {
      await client.query('ROLLBACK');
      return { status: 'NOT_VALIDATING' };
    }
    const options = params.options ?? parseStoredOptions(current.rows[0].options);
    const modes = writeModes(options);
    const rowOptions: RowOptions = {
      defaultPhoneCountry: options.default_phone_country === undefined ? undefined : phoneCountry(options.default_phone_country),
      clearEmpty: modes.emptyCells === 'clear',
    };
    await client.query(`SET LOCAL work_mem = '64MB'`);
    // An application without users (the first import, a migration's day one): every row is staged as `create` and
    // few are rewritten. One with users: its rows may mostly be updates, each of which the in-place classification
    // would write twice (measured, 1,000,000 rows: an UPDATE of every row 11.2 s against an INSERT of them 3.3 s), so
    // they go through the staging table. Users created meanwhile are still classified right, only more slowly.
    const { rows: apps } = await client.query<{ empty: boolean }>('SELECT NOT EXISTS (SELECT 1 FROM users WHERE application_id = $1) AS empty', [
      params.applicationId,
    ]);
    const inPlace = apps[0].empty;
    if (!inPlace) await client.query(CREATE_STAGING);
    let read;
    try {
      read = await copyInto(client, await params.openFile(), params, { rows: rowOptions, fileName: current.rows[0].file_name, intoRows: inPlace, notUtf8 });
    } catch (err) {
      if (!(err instanceof ImportFileError)) throw err;
      await client.query('ROLLBACK');
      if (err instanceof NotUtf8AfterAllError && !notUtf8) return NOT_UTF8;
      return { status: 'REJECTED', error: { code: err.code, message: err.message }, source: err.source ?? null };
    }
    const classifyParams = [params.importId, params.applicationId];
    let rows: Record<string, number>[];
    if (inPlace) {
      await client.query(classifyInPlaceSql(modes), classifyParams);
      ({ rows } = await client.query<Record<string, number>>(SUMMARIZE_SQL, [params.importId]));
    } else {
      ({ rows } = await client.query<Record<string, number>>(classifyStagedSql(modes), classifyParams));
    }
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
    // Compare-and-set: a cancel during validation wins, and then nothing stays staged. skipped_count counts the
    // invalid rows (API.md), known from here on: the preview shows it.
    const moved = await client.query(
      `UPDATE imports SET status = 'AWAITING_CONFIRMATION', columns = $2, total_rows = $3, valid_rows = $4,
         invalid_rows = $5, skipped_count = $5, to_create = $6, to_update = $7, to_unchanged = $8, chunks_total = $9, mapping = $10,
         detected = $11
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
        JSON.stringify(read.mapping),
        JSON.stringify(read.source),
      ],
    );
    if (moved.rowCount !== 1) {
      await client.query('ROLLBACK');
      return { status: 'NOT_VALIDATING' };
    }
    if (params.saveMapping) {
      await client.query(
        `INSERT INTO import_mappings (application_id, headers_key, headers, mapping, operator_id)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (application_id, headers_key) DO UPDATE SET headers = excluded.headers, mapping = excluded.mapping,
           operator_id = excluded.operator_id, updated_at = now()`,
        [params.applicationId, headerSetKey(read.columns), read.columns, JSON.stringify(savedMappingOf(read.mapping)), params.saveMapping.operatorId],
      );
    }
    await params.beforeCommit?.(client);
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

/** A resolved mapping as it is saved: each header with its column (null: ignored). */
function savedMappingOf(mapping: readonly MappingEntry[]): Record<string, string | null> {
  return Object.fromEntries(mapping.map((entry) => [entry.header, entry.column]));
}
