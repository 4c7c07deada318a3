import { escapeLiteral, type Pool, type PoolClient } from 'pg';
import type { ExportColumn } from './columns';
import type { ExportFilters } from './filters';
import { likePattern, SEARCH_FIELDS } from '../users/queries';
import type { NdjsonField, NdjsonFieldKind } from './ndjson';

/**
 * The SQL of an export. Postgres formats the CSV itself (COPY ... TO STDOUT WITH (FORMAT csv)) and the worker only
 * moves bytes: that is what keeps an export of a million rows within reach of a bare COPY, and the worker's memory
 * flat. For NDJSON Postgres prints the fields as COPY text and the worker puts them into JSON (./ndjson.ts). COPY
 * takes no bind parameters, so values are inlined as escaped literals (pg's escapeLiteral) and every identifier is a
 * constant of this file. The cell rules are those of src/exports/csv.ts (see the test there).
 */

/** A position in the export's order: a user's (created_at, id). `ts` is created_at as Postgres writes it in UTC. */
export interface RowKey {
  ts: string;
  id: string;
}

const lit = (value: string) => escapeLiteral(value);
const keyLiteral = (key: RowKey) => `(${lit(key.ts)}::timestamptz, ${lit(key.id)}::uuid)`;

/** The first characters of a formula: = + - @ tab CR (39, `'`, is tested apart). */
const FORMULA_CODES = '61, 43, 45, 64, 9, 13';
const NUMBER_REGEX = `'^[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][+-]?[0-9]+)?$'`;

/**
 * A text cell (escapeFormula of src/exports/csv.ts): empty for null or '', a leading `'` before a formula start
 * unless the value is wholly a number, and before a `'` followed by a formula start or another `'`.
 * Cheapest tests first (this runs for every text cell of every row): a value whose first byte is 'A' or above
 * cannot need one (all of = + - @ tab CR ' are below it); a phone is `+` and digits.
 */
function textCell(expr: string): string {
  return `CASE WHEN ${expr} >= 'A' COLLATE "C" THEN ${expr}
    WHEN ${expr} IS NULL OR ${expr} = '' THEN NULL
    WHEN ascii(${expr}) = 39 THEN CASE WHEN ascii(substr(${expr}, 2, 1)) IN (${FORMULA_CODES}, 39) THEN '''' || ${expr} ELSE ${expr} END
    WHEN ascii(${expr}) NOT IN (${FORMULA_CODES}) THEN ${expr}
    WHEN ${expr} ~ '^[+-][0-9]+$' THEN ${expr}
    WHEN ${expr} ~ ${NUMBER_REGEX} THEN ${expr}
    ELSE '''' || ${expr} END`;
}

/** In the export's session, whose TimeZone is UTC (inExportSession): no AT TIME ZONE, 2-3% of a range's time. */
const isoTime = (expr: string) => `to_char(${expr}, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

const CELLS: Record<ExportColumn, string> = {
  id: 'u.id',
  vendor_data: textCell('u.vendor_data'),
  display_name: textCell('u.display_name'),
  full_name: textCell('u.full_name'),
  date_of_birth: 'u.date_of_birth',
  email: textCell('u.email'),
  phone: textCell('u.phone'),
  country: "NULLIF(u.country, '')",
  status: 'u.status',
  tags: textCell('t.tags_text'),
  metadata_json: 'u.metadata::text',
  session_count: 'u.session_count',
  approved_count: 'u.approved_count',
  declined_count: 'u.declined_count',
  in_review_count: 'u.in_review_count',
  created_at: isoTime('u.created_at'),
  updated_at: isoTime('u.updated_at'),
};

/**
 * The NDJSON fields of each column: the stored values as JSON (no formula escape: JSON is not read by a spreadsheet),
 * `tags` a list, `metadata` an object, times as the CSV writes them. Postgres prints each field as COPY text and the
 * worker writes the JSON (./ndjson.ts): `string` fields become JSON strings, `json` ones are JSON text already.
 * A date prints as JSON's would under DateStyle ISO (inExportSession) for every year the field rule admits (1900 on;
 * a BC date would differ).
 */
const JSON_FIELDS: Record<ExportColumn, [string, string, NdjsonFieldKind]> = {
  id: ['id', 'u.id', 'string'],
  vendor_data: ['vendor_data', 'u.vendor_data', 'string'],
  display_name: ['display_name', 'u.display_name', 'string'],
  full_name: ['full_name', 'u.full_name', 'string'],
  date_of_birth: ['date_of_birth', 'u.date_of_birth', 'string'],
  email: ['email', 'u.email', 'string'],
  phone: ['phone', 'u.phone', 'string'],
  country: ['country', "NULLIF(u.country, '')", 'string'],
  status: ['status', 'u.status', 'string'],
  tags: ['tags', 'array_to_json(u.tags)', 'json'],
  metadata_json: ['metadata', 'u.metadata', 'json'],
  session_count: ['session_count', 'u.session_count', 'json'],
  approved_count: ['approved_count', 'u.approved_count', 'json'],
  declined_count: ['declined_count', 'u.declined_count', 'json'],
  in_review_count: ['in_review_count', 'u.in_review_count', 'json'],
  created_at: ['created_at', isoTime('u.created_at'), 'string'],
  updated_at: ['updated_at', isoTime('u.updated_at'), 'string'],
};

/** The NDJSON field name of a column (`metadata_json` is `metadata`, an object). */
export const jsonFieldOf = (column: ExportColumn) => JSON_FIELDS[column][0];

/** The fields of an NDJSON record of these columns, in their order, as ./ndjson.ts writes them. */
export const ndjsonFields = (columns: readonly ExportColumn[]): NdjsonField[] =>
  columns.map((c) => ({ name: JSON_FIELDS[c][0], kind: JSON_FIELDS[c][2] }));

/** Between the id and the fields of an NDJSON range's rows: COPY text's delimiter (a UUID holds none). */
export const NDJSON_ID_SEPARATOR = 0x09;

/**
 * The users an incremental export holds: changed (created or updated: a new user's updated_at is its created_at)
 * after `after` (null: from the start) and at or before `until`, the snapshot time (see ./snapshot.ts).
 */
export interface ChangedWindow {
  after: string | null;
  until: string;
}

/** The WHERE condition of an export's filters, over `users u`. */
function filterCondition(applicationId: string, filters: ExportFilters, restrictedSearch = false, changed?: ChangedWindow): string {
  const parts = [`u.application_id = ${lit(applicationId)}::uuid`];
  if (changed) {
    if (changed.after) parts.push(`u.updated_at > ${lit(changed.after)}::timestamptz`);
    parts.push(`u.updated_at <= ${lit(changed.until)}::timestamptz`);
  }
  if (filters.status?.length) parts.push(`u.status IN (${filters.status.map(lit).join(', ')})`);
  if (filters.country?.length) parts.push(`u.country IN (${filters.country.map(lit).join(', ')})`);
  if (filters.tags?.length) parts.push(`u.tags && ARRAY[${filters.tags.map(lit).join(', ')}]::text[]`);
  if (filters.created_from) parts.push(`u.created_at >= ${lit(filters.created_from)}::timestamptz`);
  if (filters.created_to) parts.push(`u.created_at < ${lit(filters.created_to)}::timestamptz`);
  if (filters.search) {
    const pattern = lit(likePattern(filters.search));
    const fields = SEARCH_FIELDS[restrictedSearch ? 'restricted' : 'all'].map((f) => `u.${f}`);
    parts.push(`(${fields.map((f) => `${f} ILIKE ${pattern}`).join(' OR ')})`);
  }
  return parts.join('\n  AND ');
}

export interface RangeQuery {
  applicationId: string;
  filters: ExportFilters;
  columns: readonly ExportColumn[];
  /** Rows from this key on (inclusive). */
  from?: RowKey;
  /** Rows after this key (exclusive): where a resumed range goes on. */
  after?: RowKey;
  /** Rows before this key (exclusive). */
  to?: RowKey;
  /** Rows created at or before this time only (the export's snapshot time, ISO). */
  until: string;
  /** csv (default): the cells of the columns; ndjson: the fields of the columns as COPY text (see ./ndjson.ts). */
  format?: 'csv' | 'ndjson';
  /** The search filter covers only vendor_data and display_name (an export requested by DEVELOPER or READER). */
  restrictedSearch?: boolean;
  /** An incremental export: only the users changed in this window. */
  changed?: ChangedWindow;
}

/**
 * Whether a range's rows start with the id cell the worker reads (the first column is `id`): the id is then selected
 * once and kept, not stripped (3% of Postgres's time and 37 bytes a row on the wire, measured on every column).
 */
export const idIsFirstCell = (query: Pick<RangeQuery, 'columns'>) => query.columns[0] === 'id';

/** The columns a range selects after its leading `u.id`: all of them, or all but the first when it is that id. */
const columnsAfterId = (query: Pick<RangeQuery, 'columns'>) => (idIsFirstCell(query) ? query.columns.slice(1) : query.columns);

/**
 * The COPY of one range: each record is the user's id followed by its cells. The worker strips the id (see
 * CopyOutRecords), unless it is the first cell anyway (idIsFirstCell), and keeps the last one, with its created_at,
 * as the range's resume point.
 */
export function rangeCopySql(query: RangeQuery): string {
  const conditions = [filterCondition(query.applicationId, query.filters, query.restrictedSearch, query.changed), `u.created_at <= ${lit(query.until)}::timestamptz`];
  if (query.from) conditions.push(`(u.created_at, u.id) >= ${keyLiteral(query.from)}`);
  if (query.after) conditions.push(`(u.created_at, u.id) > ${keyLiteral(query.after)}`);
  if (query.to) conditions.push(`(u.created_at, u.id) < ${keyLiteral(query.to)}`);
  if (query.format === 'ndjson') {
    const fields = columnsAfterId(query).map((c) => JSON_FIELDS[c][1]);
    return `COPY (SELECT ${['u.id', ...fields].join(', ')}
  FROM users u
  WHERE ${conditions.join('\n  AND ')}
  ORDER BY u.created_at, u.id) TO STDOUT`;
  }
  const lateral = query.columns.includes('tags')
    ? `\n  CROSS JOIN LATERAL (SELECT array_to_string(u.tags, ',') AS tags_text) t`
    : '';
  const cells = columnsAfterId(query).map((c) => CELLS[c]);
  return `COPY (SELECT ${['u.id', ...cells].join(',\n  ')}
  FROM users u${lateral}
  WHERE ${conditions.join('\n  AND ')}
  ORDER BY u.created_at, u.id) TO STDOUT WITH (FORMAT csv)`;
}

/**
 * Runs `fn` in a read-only transaction whose settings fix how values are written: UTC times, ISO dates, UTF-8 and
 * standard strings (what rangeCopySql's literals assume).
 */
/** The key of a user, as rangeCopySql reads it back: created_at written exactly, in UTC. */
export async function keyOf(pool: Pool, id: string): Promise<RowKey | undefined> {
  const { rows } = await pool.query<{ ts: string }>(
    `SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' AS ts FROM users WHERE id = $1`,
    [id],
  );
  return rows[0] ? { ts: rows[0].ts, id } : undefined;
}

export async function inExportSession<T>(client: PoolClient, fn: () => Promise<T>, options: { broken?: () => boolean } = {}): Promise<T> {
  await client.query(
    "BEGIN READ ONLY; SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL client_encoding = 'UTF8'; SET LOCAL standard_conforming_strings = on",
  );
  try {
    const result = await fn();
    await client.query('COMMIT');
    return result;
  } catch (err) {
    // A connection left inside a COPY answers nothing more: the caller destroys it instead.
    if (!options.broken?.()) await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/**
 * Plans an export by sampling: about `sampleRows` rows of the users table (TABLESAMPLE SYSTEM, all of it when it is
 * small) give an estimate of the matching rows and the keys that cut them into ranges of about `rowsPerRange`.
 * The cuts need not be exact: every range is read by key, so a skewed sample only makes ranges uneven.
 */
export async function planRanges(
  client: PoolClient,
  params: {
    applicationId: string;
    filters: ExportFilters;
    restrictedSearch?: boolean;
    changed?: ChangedWindow;
    until: string;
    rowsPerRange: number;
    maxRanges: number;
    sampleRows?: number;
  },
): Promise<{ estimatedRows: number; cuts: RowKey[] }> {
  const { rows: stats } = await client.query<{ reltuples: number }>(
    `SELECT reltuples::float8 AS reltuples FROM pg_class WHERE oid = 'users'::regclass`,
  );
  let tableRows = Number(stats[0]?.reltuples ?? -1);
  if (tableRows < 0) {
    // Never analysed yet: count once (the sample size below depends on it).
    const { rows: counted } = await client.query<{ n: string }>('SELECT count(*) AS n FROM users');
    tableRows = Number(counted[0].n);
  }
  const sampleRows = params.sampleRows ?? 50_000;
  // Small tables are read whole (exact cuts, cheaply); large ones sampled down to about sampleRows rows.
  const percent = tableRows > 4 * sampleRows ? Math.max(0.01, (100 * sampleRows) / tableRows) : 100;
  const where = `${filterCondition(params.applicationId, params.filters, params.restrictedSearch, params.changed)}\n  AND u.created_at <= ${lit(params.until)}::timestamptz`;
  const sample = percent >= 100 ? 'users u' : `users u TABLESAMPLE SYSTEM (${percent.toFixed(4)}) REPEATABLE (42)`;
  const { rows: counted } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${sample} WHERE ${where}`);
  const sampled = Number(counted[0].n);
  const estimatedRows = percent >= 100 ? sampled : Math.round((sampled * 100) / percent);
  const ranges = Math.min(params.maxRanges, Math.max(1, Math.ceil(estimatedRows / params.rowsPerRange)));
  if (ranges <= 1 || sampled < ranges) return { estimatedRows, cuts: [] };
  const positions = Array.from({ length: ranges - 1 }, (_, i) => Math.floor(((i + 1) * sampled) / ranges) + 1);
  const { rows: cuts } = await client.query<{ ts: string; id: string }>(
    `SELECT ts, id FROM (
       SELECT u.created_at::text AS ts, u.id::text AS id, row_number() OVER (ORDER BY u.created_at, u.id) AS n
       FROM ${sample} WHERE ${where}) s
     WHERE n IN (${positions.join(', ')}) ORDER BY n`,
  );
  return { estimatedRows, cuts: cuts.map((c) => ({ ts: c.ts, id: c.id })) };
}
