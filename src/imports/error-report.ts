import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { stringify } from 'csv-stringify/sync';
import type { Queryable } from '../db/client';
import { escapeFormula, RECORD_DELIMITER, unescapeFormula } from '../exports/csv';
import { cellValue } from './rows';
import { IMPORT_COLUMNS } from './columns';
import { columnsOfHeaders, readAsNdjson, shownToRestricted, type HiddenCells, type ReadHeaders } from './personal-data';
import { errorReportBatch, type ErrorReportRow } from './queries';
import { undoConflictBatch } from './undo';

/**
 * The error reports, streamed in keyset batches (bounded memory whatever their size), in file order:
 * - `errors.csv`: `row_number, vendor_data, column, code, message, raw_row`, one line per error of every invalid row
 *   and one line per row of a chunk that failed to write; `raw_row` is the row as the file had it, as one CSV line.
 * - `invalid-rows.csv`: the same rows once each, in the template's columns (read through the import's mapping), with
 *   a last column `error`: fixed in a spreadsheet, it can be uploaded again as it is.
 * For a role without exports.all_columns (`hidden`, see personal-data.ts) errors.csv's raw_row has the cells it may
 * not see blank, and invalid-rows.csv only the columns it may see.
 */

export interface ReportOptions {
  batchSize?: number;
  hidden?: HiddenCells;
}

const ERROR_REPORT_COLUMNS = ['row_number', 'vendor_data', 'column', 'code', 'message', 'raw_row'] as const;

type Cell = string | number | null;

/**
 * RFC 4180 records (CRLF), csv-stringify as the export writes them, with the export's formula rule (escapeFormula);
 * also quoted: a lone CR or LF, and text with blanks at either end (which a spreadsheet would trim).
 */
function csvLines(records: Cell[][]): string {
  const cells = records.map((record) => record.map((c) => (typeof c === 'string' ? escapeFormula(c) : c)));
  return stringify(cells, { record_delimiter: RECORD_DELIMITER, eof: true, quoted_match: [/[\r\n]/, /^\s|\s$/] });
}

/** The raw cells as one CSV line (no line break), cells as the file had them (RFC 4180 quoting only). */
function rawLine(raw: string[], hidden: HiddenCells): string {
  if (raw.length === 0) return '';
  return stringify([hidden ? raw.map((cell, i) => (hidden(i, raw.length) ? '' : cell)) : raw], { eof: false, quoted_match: /[\r\n]/ });
}

const chunkFailure = (row: ErrorReportRow) => `chunk ${row.chunk_no! + 1} failed to write: ${row.chunk_error ?? 'unknown error'}`;

/** Streams the `records(row)` of every error-report row to `out`, after `header`; stops when the client goes away. */
async function streamReport(
  db: Queryable,
  record: ReadHeaders & { id: string },
  out: Writable,
  header: readonly string[],
  records: (row: ErrorReportRow) => Cell[][],
  batchSize: number,
): Promise<void> {
  let gone = false;
  out.once('close', () => {
    gone = true;
  });
  const write = async (text: string) => {
    // A client that goes away mid-report ends it (a 'close' instead of a 'drain').
    if (!out.write(text) && !gone) await Promise.race([once(out, 'drain'), once(out, 'close')]);
  };
  await write(csvLines([[...header]]));
  const headerColumns = columnsOfHeaders(record);
  let after = 0;
  for (;;) {
    const rows = await errorReportBatch(db, { importId: record.id, afterRow: after, limit: batchSize, headerColumns });
    if (rows.length === 0) break;
    await write(csvLines(rows.flatMap(records)));
    if (gone) return;
    after = rows[rows.length - 1].row_number;
    if (rows.length < batchSize) break;
  }
}

export function writeErrorReport(
  db: Queryable,
  record: ReadHeaders & { id: string },
  out: Writable,
  { batchSize = 2000, hidden }: ReportOptions = {},
): Promise<void> {
  return streamReport(db, record, out, ERROR_REPORT_COLUMNS, (row) => {
    const raw = rawLine(row.raw, hidden);
    if (row.chunk_no !== null) return [[row.row_number, row.vendor_data, '', 'write_failed', chunkFailure(row), raw]];
    return (row.errors ?? []).map((e) => [row.row_number, row.vendor_data, e.column, e.code, e.message, raw]);
  }, batchSize);
}

/**
 * The invalid rows in the template's columns; `record` gives the import's header, how each header was read and the
 * format the file was read as. A CSV or xlsx row's cells are in the header's order (`mapping[i]` read `columns[i]`);
 * an NDJSON row's are in the template's order already (`columns` is the template's, `mapping` the keys as first
 * seen), and a line that could not be read as an object keeps its text in the `error` column.
 */
export function writeInvalidRows(
  db: Queryable,
  record: ReadHeaders & { id: string },
  out: Writable,
  { batchSize = 2000, hidden }: ReportOptions = {},
): Promise<void> {
  const ndjson = readAsNdjson(record);
  const columns = columnsOfHeaders(record);
  const at = (column: string) => columns.indexOf(column);
  // A restricted role's file has only the columns it may see.
  const template = hidden ? IMPORT_COLUMNS.filter(shownToRestricted) : IMPORT_COLUMNS;
  const positions = template.map((column) => at(column));
  const first = at('first_name');
  const last = at('last_name');
  return streamReport(db, record, out, [...template, 'error'], (row) => {
    const raw = row.raw;
    const errors = row.chunk_no !== null ? chunkFailure(row) : (row.errors ?? []).map((e) => `${e.column}: ${e.message}`).join('; ');
    // An NDJSON line that is not an object (or not one that can be read) is staged as its text alone.
    if (ndjson && raw.length !== columns.length) {
      return [[...template.map(() => ''), hidden ? errors : `${errors}; the line: ${raw.join('')}`]];
    }
    // Each cell is written as its value (csvLines escapes it again): a CSV or xlsx cell is the formula-escaped text
    // the reader undid (`'=x` is the value `=x`), and written as it was it would come back with one `'` too many.
    const cells = positions.map((p, i) => {
      if (p >= 0) return ndjson ? (raw[p] ?? '') : unescapeFormula(raw[p] ?? '');
      if (template[i] === 'full_name' && (first >= 0 || last >= 0)) {
        return [raw[first], raw[last]].map((c) => cellValue(c, !ndjson)).filter(Boolean).join(' ');
      }
      return '';
    });
    return [[...cells, errors]];
  }, batchSize);
}

/**
 * `undo-conflicts.csv`: `vendor_data, reason`, one line per user the undo left as it is (reason: changed_since,
 * session_since, deleted_since or no_before_image), in chunk order, streamed in keyset batches.
 */
export async function writeUndoConflicts(db: Queryable, importId: string, out: Writable, batchSize = 2000): Promise<void> {
  let gone = false;
  out.once('close', () => {
    gone = true;
  });
  const write = async (text: string) => {
    if (!out.write(text) && !gone) await Promise.race([once(out, 'drain'), once(out, 'close')]);
  };
  await write(csvLines([['vendor_data', 'reason']]));
  let after: { chunkNo: number; userId: string } | undefined;
  for (;;) {
    const rows = await undoConflictBatch(db, { importId, after, limit: batchSize });
    if (rows.length === 0) break;
    await write(csvLines(rows.map((r) => [r.vendor_data, r.reason])));
    if (gone) return;
    const last = rows[rows.length - 1];
    after = { chunkNo: last.chunk_no, userId: last.user_id };
    if (rows.length < batchSize) break;
  }
}
