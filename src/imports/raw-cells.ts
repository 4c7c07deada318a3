import type { StagedRow } from './rows';

/**
 * A staged row's `raw` (its cells as the file had them) is left out, NULL in import_rows, when the row is valid as
 * read, has as many cells as the header, and every cell is exactly the text of the value staged for its column: the
 * common row of a clean CSV or xlsx file (no spaces around a value, no alpha-2 country, no formula escape, nothing in
 * an ignored column). NDJSON rows always keep theirs. Such a row's cells are rebuilt from its staged values when it
 * is read (the preview's `raw`, errors.csv's `raw_row`, invalid-rows.csv); a row the classification makes invalid
 * afterwards (a duplicate, a mode's error) keeps its values, so it is rebuilt the same way. (Rows staged before raw
 * existed were given an empty list by the migration that gave NULL this meaning.) Writing the cells a second time as
 * JSON was a fifth of staging a 100,000-row file (the benchmark's; read and COPY'd into import_rows in-process, best
 * of 15 alternating runs: 987 ms with every raw against 783 ms; the worker's CPU to read it 1,217 against 942 ms; the
 * COPY text 36.2 against 22.9 MB).
 *
 * The write decides with `rawIsRebuilt`, the reads rebuild with `rebuildRaw`: the same `stagedCellText`, so a cell
 * is left out only when it reads back exactly. metadata is stored as jsonb, which does not keep the text, so a row
 * without its raw keeps its metadata cell in `metadata_cell`.
 */

/**
 * A staged row's values, as import_rows holds them (null: not given); `metadata` is the metadata_json cell's text (a
 * StagedRow's, import_rows' `metadata_cell`).
 */
export type StagedValues = Pick<StagedRow, 'vendorData' | 'displayName' | 'fullName' | 'email' | 'phone' | 'country' | 'status' | 'tags' | 'metadata'>;

/** The text of the value staged for `column` (the template column a header was read as; null: ignored). */
export function stagedCellText(column: string | null, values: StagedValues): string {
  switch (column) {
    case 'vendor_data':
      return values.vendorData ?? '';
    case 'display_name':
      return values.displayName ?? '';
    case 'full_name':
      return values.fullName ?? '';
    case 'email':
      return values.email ?? '';
    case 'phone':
      return values.phone ?? '';
    case 'country':
      return values.country ?? '';
    case 'status':
      return values.status ?? '';
    case 'tags':
      return values.tags === null ? '' : values.tags.join(',');
    case 'metadata_json':
      return values.metadata ?? '';
    default:
      // An ignored header, or one read as a part of full_name (first_name, last_name): its cell is left out only when empty.
      return '';
  }
}

/** Whether `record` is exactly what rebuildRaw gives back for these values; `columns`: the column of each header. */
export function rawIsRebuilt(record: readonly string[], columns: readonly (string | null)[], values: StagedValues): boolean {
  if (record.length !== columns.length) return false;
  for (let i = 0; i < record.length; i++) {
    if (record[i] !== stagedCellText(columns[i], values)) return false;
  }
  return true;
}

/** The cells of a row whose raw was left out; `columns`: the column each header was read as (columnsOfHeaders). */
export function rebuildRaw(columns: readonly (string | null)[], values: StagedValues): string[] {
  return columns.map((column) => stagedCellText(column, values));
}

/** import_rows' columns that rebuildRaw reads, for a query's select list (`alias`: import_rows' alias). */
export const stagedValuesSql = (alias: string): string =>
  ['vendor_data', 'display_name', 'full_name', 'email', 'phone', 'country', 'status', 'tags', 'metadata_cell']
    .map((column) => `${alias}.${column} AS sv_${column}`)
    .join(', ');

export type StagedValuesColumns = {
  sv_vendor_data: string | null;
  sv_display_name: string | null;
  sv_full_name: string | null;
  sv_email: string | null;
  sv_phone: string | null;
  sv_country: string | null;
  sv_status: string | null;
  sv_tags: string[] | null;
  sv_metadata_cell: string | null;
};

/** A row's raw cells: as stored, or rebuilt from its staged values when they were left out. */
export function rawOfRow(row: { raw: string[] | null } & StagedValuesColumns, columns: readonly (string | null)[]): string[] {
  if (row.raw !== null) return row.raw;
  return rebuildRaw(columns, {
    vendorData: row.sv_vendor_data,
    displayName: row.sv_display_name,
    fullName: row.sv_full_name,
    email: row.sv_email,
    phone: row.sv_phone,
    country: row.sv_country,
    status: row.sv_status,
    tags: row.sv_tags,
    metadata: row.sv_metadata_cell,
  });
}
