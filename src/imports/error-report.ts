import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { Queryable } from '../db/client';
import { errorReportBatch } from './queries';

/**
 * The error report: `row_number, vendor_data, column, code, message`, one line per error of every invalid row and
 * one line per row of a chunk that failed to write, in file order. Streamed in keyset batches, so a report of any
 * size passes in bounded memory.
 */

export const ERROR_REPORT_COLUMNS = ['row_number', 'vendor_data', 'column', 'code', 'message'] as const;

/** An RFC 4180 cell; text a spreadsheet would run as a formula gets a leading `'` (as the export does). */
export function csvCell(value: string | number | null): string {
  if (value === null) return '';
  if (typeof value === 'number') return String(value);
  const text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) || /^\s|\s$/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

const line = (cells: (string | number | null)[]) => `${cells.map(csvCell).join(',')}\r\n`;

export async function writeErrorReport(db: Queryable, importId: string, out: Writable, batchSize = 2000): Promise<void> {
  let gone = false;
  out.once('close', () => {
    gone = true;
  });
  const write = async (text: string) => {
    // A client that goes away mid-report ends it (a 'close' instead of a 'drain').
    if (!out.write(text) && !gone) await Promise.race([once(out, 'drain'), once(out, 'close')]);
  };
  await write(line([...ERROR_REPORT_COLUMNS]));
  let after = 0;
  for (;;) {
    const rows = await errorReportBatch(db, importId, after, batchSize);
    if (rows.length === 0) break;
    let text = '';
    for (const row of rows) {
      if (row.chunk_no !== null) {
        text += line([row.row_number, row.vendor_data, '', 'write_failed', `chunk ${row.chunk_no + 1} failed to write: ${row.chunk_error ?? 'unknown error'}`]);
      } else {
        for (const error of row.errors ?? []) text += line([row.row_number, row.vendor_data, error.column, error.code, error.message]);
      }
    }
    await write(text);
    if (gone) return;
    after = rows[rows.length - 1].row_number;
    if (rows.length < batchSize) break;
  }
}
