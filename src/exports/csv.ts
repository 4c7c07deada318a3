import { stringify } from 'csv-stringify/sync';
import type { UserRow } from '../users/queries';
import type { ExportColumn } from './columns';

/**
 * The export file's cell rules (API.md, "The file"), written twice on purpose: here in TypeScript with csv-stringify
 * (the reference, used for the header and by the tests), and in src/exports/sql.ts as the SQL that Postgres
 * evaluates while it streams the rows with COPY. test/exports-csv-format.test.ts checks that both write the same
 * bytes for the same users.
 */

export const RECORD_DELIMITER = '\r\n';

/** Characters that make a spreadsheet read a cell as a formula when they come first. */
const FORMULA_START = new Set(['=', '+', '-', '@', '\t', '\r']);
/** A value that is wholly a number (an E.164 phone is one too): written as it is, a spreadsheet shows a number. */
const NUMBER_PATTERN = /^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$/;

/** `= + - @`, tab, CR (a formula start) or `'`: what, after a leading `'`, makes that `'` an escape. */
export function isEscapedAfterQuote(code: number): boolean {
  return code === 61 || code === 43 || code === 45 || code === 64 || code === 9 || code === 13 || code === 39;
}

/**
 * API.md's formula escape of a text cell: a leading `'` before a value that begins with `= + - @`, a tab or a CR
 * (unless it is wholly a number, an E.164 phone included), and before a value that begins with `'` followed by one of
 * those or another `'` (so that the import, which drops such a first `'`, gives the value back). unescapeFormula is
 * its exact inverse: unescapeFormula(escapeFormula(s)) === s for every string.
 */
export function escapeFormula(value: string): string {
  if (value.length === 0) return value;
  if (FORMULA_START.has(value[0])) return NUMBER_PATTERN.test(value) ? value : `'${value}`;
  if (value.length > 1 && value.charCodeAt(0) === 39 && isEscapedAfterQuote(value.charCodeAt(1))) return `'${value}`;
  return value;
}

/** The import's reading of a cell (before trimming): a first `'` followed by `= + - @`, tab, CR or `'` is dropped. */
export function unescapeFormula(cell: string): string {
  return cell.length > 1 && cell.charCodeAt(0) === 39 && isEscapedAfterQuote(cell.charCodeAt(1)) ? cell.slice(1) : cell;
}

const iso = (d: Date) => d.toISOString();
const text = (v: string | null) => (v === null || v === '' ? null : escapeFormula(v));

/** The cell of one column for one user, before CSV quoting; null is an empty cell. */
function cellOf(column: ExportColumn, user: UserRow): string | null {
  switch (column) {
    case 'id':
      return user.id;
    case 'vendor_data':
      return text(user.vendorData);
    case 'display_name':
      return text(user.displayName);
    case 'full_name':
      return text(user.fullName);
    case 'date_of_birth':
      return user.dateOfBirth;
    case 'email':
      return text(user.email);
    case 'phone':
      return text(user.phone);
    case 'country':
      return user.country || null;
    case 'status':
      return user.status;
    case 'tags':
      return text(user.tags.join(','));
    case 'metadata_json':
      return jsonbText(user.metadata);
    case 'session_count':
      return String(user.sessionCount);
    case 'approved_count':
      return String(user.approvedCount);
    case 'declined_count':
      return String(user.declinedCount);
    case 'in_review_count':
      return String(user.inReviewCount);
    case 'created_at':
      return iso(user.createdAt);
    case 'updated_at':
      return iso(user.updatedAt);
  }
}

/** One CSV record (RFC 4180: quoted only where needed, CRLF at the end). */
export function csvRecord(cells: readonly (string | null)[]): string {
  // csv-stringify quotes a field holding the record delimiter (CRLF) but not a lone CR or LF: quote those too.
  return stringify([cells.map((c) => c ?? '')], { record_delimiter: RECORD_DELIMITER, eof: true, quoted_match: /[\r\n]/ });
}

/** The header row of an export. */
export function csvHeader(columns: readonly ExportColumn[]): string {
  return csvRecord(columns);
}

/** A user's row of an export, as the reference formatter writes it. */
export function csvRow(columns: readonly ExportColumn[], user: UserRow): string {
  return csvRecord(columns.map((c) => cellOf(c, user)));
}

/**
 * JSON text as Postgres writes a jsonb value: keys sorted by length then bytes, `": "` and `", "` as separators.
 * (The export writes metadata as Postgres stores it; any JSON parser reads both forms alike.)
 */
export function jsonbText(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(jsonbText).join(', ')}]`;
  const keys = Object.keys(value).sort((a, b) => {
    const la = Buffer.byteLength(a);
    const lb = Buffer.byteLength(b);
    return la !== lb ? la - lb : Buffer.compare(Buffer.from(a), Buffer.from(b));
  });
  return `{${keys.map((k) => `${JSON.stringify(k)}: ${jsonbText((value as Record<string, unknown>)[k])}`).join(', ')}}`;
}
