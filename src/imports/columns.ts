import { hasUnstorable, storable } from '../text';

/**
 * The columns of an import file and the file-level rejections of API.md. Pure: no I/O.
 */

/** The template's columns, in the template's order (API.md, CSV import). */
export const IMPORT_COLUMNS = [
  'vendor_data',
  'display_name',
  'full_name',
  'email',
  'phone',
  'country',
  'status',
  'tags',
  'metadata_json',
] as const;
export type ImportColumn = (typeof IMPORT_COLUMNS)[number];

/** The export's read-only columns: accepted in an import file and ignored, so an export can be imported back. */
export const IGNORED_COLUMNS = [
  'id',
  'date_of_birth',
  'session_count',
  'approved_count',
  'declined_count',
  'in_review_count',
  'created_at',
  'updated_at',
] as const;

export const FILE_ERROR_CODES = [
  'invalid_encoding',
  'malformed_csv',
  'empty_file',
  'no_rows',
  'missing_column',
  'unknown_column',
  'duplicate_column',
  'too_many_rows',
  'header_too_large',
  'too_many_columns',
  'invalid_header',
  'unknown_sheet',
  'invalid_xlsx',
] as const;
export type FileErrorCode = (typeof FILE_ERROR_CODES)[number];

/** The file as a whole is unusable: the import is REJECTED with this code and nothing is staged. */
export class ImportFileError extends Error {
  constructor(
    readonly code: FileErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ImportFileError';
  }
}

/** Bounds of a header row: past them the file is REJECTED before its names are even looked at. */
export const HEADER_LIMITS = {
  /** Bytes of the header row (`header_too_large`). */
  maxBytes: 32 * 1024,
  /** Cells of the header row (`too_many_columns`). */
  maxColumns: 200,
  /** Names listed in an `unknown_column` or `duplicate_column` message; the rest are counted. */
  namesInMessage: 20,
  /** Characters of one name in such a message. */
  nameChars: 64,
} as const;

/** Where each known column sits in a record; `width` is the header's number of cells. */
export interface Layout {
  width: number;
  /** The header's column names, normalised (trimmed, lower case), in file order. */
  columns: string[];
  index: Partial<Record<ImportColumn, number>>;
}

const KNOWN = new Set<string>(IMPORT_COLUMNS);
const IGNORED = new Set<string>(IGNORED_COLUMNS);

/** At most `namesInMessage` names, each shortened, then how many more: a message stays small whatever the header. */
export function nameList(names: readonly string[]): string {
  const shown = names.slice(0, HEADER_LIMITS.namesInMessage).map((name) => storable(name, HEADER_LIMITS.nameChars));
  const more = names.length - shown.length;
  return more > 0 ? `${shown.join(', ')} and ${more} more` : shown.join(', ');
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/** The header row's size as the file holds it (near enough: quotes are not counted). */
export function headerBytes(cells: readonly string[]): number {
  let bytes = Math.max(0, cells.length - 1);
  for (const cell of cells) bytes += Buffer.byteLength(cell, 'utf8');
  return bytes;
}

/** Reads the header row: column names are trimmed and matched without regard to letter case. */
export function readHeader(cells: readonly string[]): Layout {
  if (headerBytes(cells) > HEADER_LIMITS.maxBytes) throw headerTooLarge();
  if (cells.length > HEADER_LIMITS.maxColumns) {
    throw new ImportFileError(
      'too_many_columns',
      `the header has ${cells.length} columns; at most ${HEADER_LIMITS.maxColumns} are read (the template has ${IMPORT_COLUMNS.length})`,
    );
  }
  const broken = cells.findIndex((cell) => CONTROL.test(cell) || hasUnstorable(cell));
  if (broken !== -1) {
    throw new ImportFileError(
      'invalid_header',
      `the header's column ${broken + 1} holds a control character (such as NUL) or a broken character; a column name is plain text`,
    );
  }
  const columns = cells.map((cell) => cell.trim().toLowerCase());
  const seen = new Set<string>();
  const duplicates = new Set<string>();
  const unknown: string[] = [];
  columns.forEach((name, i) => {
    if (seen.has(name)) duplicates.add(name);
    seen.add(name);
    if (!KNOWN.has(name) && !IGNORED.has(name)) unknown.push(name === '' ? `(column ${i + 1} has no name)` : name);
  });
  if (duplicates.size > 0) {
    throw new ImportFileError('duplicate_column', `the header names these columns more than once: ${nameList([...duplicates])}`);
  }
  if (unknown.length > 0) {
    throw new ImportFileError(
      'unknown_column',
      `unknown columns: ${nameList(unknown)} (known: ${IMPORT_COLUMNS.join(', ')}; ignored: ${IGNORED_COLUMNS.join(', ')})`,
    );
  }
  if (!seen.has('vendor_data')) throw new ImportFileError('missing_column', 'the header has no vendor_data column');
  const index: Layout['index'] = {};
  columns.forEach((name, i) => {
    if (KNOWN.has(name)) index[name as ImportColumn] = i;
  });
  return { width: columns.length, columns, index };
}

export const headerTooLarge = () =>
  new ImportFileError('header_too_large', `the header row is longer than ${HEADER_LIMITS.maxBytes} bytes`);
