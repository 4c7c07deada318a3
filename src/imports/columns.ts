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

/** Where each known column sits in a record; `width` is the header's number of cells. */
export interface Layout {
  width: number;
  /** The header's column names, normalised (trimmed, lower case), in file order. */
  columns: string[];
  index: Partial<Record<ImportColumn, number>>;
}

const KNOWN = new Set<string>(IMPORT_COLUMNS);
const IGNORED = new Set<string>(IGNORED_COLUMNS);

/** Reads the header row: column names are trimmed and matched without regard to letter case. */
export function readHeader(cells: readonly string[]): Layout {
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
    throw new ImportFileError('duplicate_column', `the header names these columns more than once: ${[...duplicates].join(', ')}`);
  }
  if (unknown.length > 0) {
    throw new ImportFileError(
      'unknown_column',
      `unknown columns: ${unknown.join(', ')} (known: ${IMPORT_COLUMNS.join(', ')}; ignored: ${IGNORED_COLUMNS.join(', ')})`,
    );
  }
  if (!seen.has('vendor_data')) throw new ImportFileError('missing_column', 'the header has no vendor_data column');
  const index: Layout['index'] = {};
  columns.forEach((name, i) => {
    if (KNOWN.has(name)) index[name as ImportColumn] = i;
  });
  return { width: columns.length, columns, index };
}
