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

/**
 * For a query's select list: a row's staged values as `StagedValues` (JSON), as `staged`, only for a row whose raw was
 * left out (`alias`: import_rows' alias).
 */
export const stagedValuesSql = (alias: string): string =>
  `CASE WHEN ${alias}.raw IS NULL THEN json_build_object('vendorData', ${alias}.vendor_data, 'displayName', ${alias}.display_name, ` +
  `'fullName', ${alias}.full_name, 'email', ${alias}.email, 'phone', ${alias}.phone, 'country', ${alias}.country, ` +
  `'status', ${alias}.status, 'tags', ${alias}.tags, 'metadata', ${alias}.metadata_cell) END AS staged`;

/** A row's raw cells: as stored, or rebuilt from its staged values (stagedValuesSql) when they were left out. */
export function rawOfRow(row: { raw: string[] | null; staged: StagedValues | null }, columns: readonly (string | null)[]): string[] {
  return row.raw ?? rebuildRaw(columns, row.staged!);
}
