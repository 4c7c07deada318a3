import { hasUnstorable, storable } from '../text';
import { headerKey, headerSetKey, NAME_PARTS, PRESETS, SYNONYMS, type MappedColumn } from './header-mapping';
import type { DetectedSource } from './options';

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
const IGNORED_COLUMNS = [
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
  /** What the file was read as when the problem was found (readImportFile sets it): the REJECTED import shows it. */
  source?: DetectedSource;

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

/** What resolved a header (API.md's order), or `ignored`. */
export const MAPPING_SOURCES = ['mapping', 'saved', 'preset', 'synonym', 'exact', 'ignored'] as const;

/** How one header of the file was read (the import object's `mapping`). */
export interface MappingEntry {
  header: string;
  column: MappedColumn | null;
  source: (typeof MAPPING_SOURCES)[number];
}

/** What resolves the headers besides the built-in synonyms, in API.md's order: the upload's, the saved, the preset. */
export interface HeaderRules {
  mapping?: Record<string, string | null>;
  /** The application's saved mappings, by headerSetKey() of the headers they were saved for. */
  saved?: ReadonlyMap<string, Record<string, string | null>>;
  preset?: keyof typeof PRESETS;
}

/** Where each known column sits in a record; `width` is the header's number of cells. */
export interface Layout {
  width: number;
  /** The header's cells as the file has them (trimmed), in file order. */
  columns: string[];
  index: Partial<Record<ImportColumn, number>>;
  /** `first_name` / `last_name` columns, joined into full_name when the file has no full_name column. */
  nameParts?: { first?: number; last?: number };
  mapping: MappingEntry[];
  /** false: the cells are values as given, not the export's formula-escaped text (an NDJSON file); default true. */
  formulaEscaped?: boolean;
}

const KNOWN = new Set<string>(IMPORT_COLUMNS);
const IGNORED_COLUMN_SET = new Set<string>(IGNORED_COLUMNS);
const EXACT = new Map<string, ImportColumn>(IMPORT_COLUMNS.map((c) => [headerKey(c), c]));
// Also the `error` column of invalid-rows.csv, so that the fixed file can be uploaded again as it is.
const IGNORED_KEYS = new Set<string>([...IGNORED_COLUMNS, 'error'].map(headerKey));

/** At most `namesInMessage` names, each shortened, then how many more: a message stays small whatever the header. */
export function nameList(names: readonly string[]): string {
  const shown = names.slice(0, HEADER_LIMITS.namesInMessage).map((name) => storable(name, HEADER_LIMITS.nameChars));
  const more = names.length - shown.length;
  return more > 0 ? `${shown.join(', ')} and ${more} more` : shown.join(', ');
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/** Whether a column name (a header cell, an NDJSON key) holds a control character or a broken one. */
export function isBrokenName(name: string): boolean {
  return CONTROL.test(name) || hasUnstorable(name);
}

/** The header row's size as the file holds it (near enough: quotes are not counted). */
function headerBytes(cells: readonly string[]): number {
  let bytes = Math.max(0, cells.length - 1);
  for (const cell of cells) bytes += Buffer.byteLength(cell, 'utf8');
  return bytes;
}

/**
 * A template column's name as a header may spell it: letter case aside, and a space, `-` or `_` (or a run of them)
 * where the name has `_` (`Vendor Data`, `VENDOR-DATA`). Unlike headerKey(), the separators are kept: `E-mail` is not
 * the template's `email` spelled differently but its synonym `e-mail`.
 */
function templateSpelling(header: string): ImportColumn | undefined {
  const name = header.trim().toLowerCase().replace(/[\s_-]+/g, '_');
  return KNOWN.has(name) ? (name as ImportColumn) : undefined;
}

/**
 * One header (or NDJSON key) resolved in API.md's order: the upload's mapping, the saved mapping of the file's header
 * set, the preset, the synonyms, the template's own name, the ignored columns; undefined when nothing matches. The
 * template's own name is `exact` even where a synonym has the same headerKey() (`email` and the synonym `e-mail`).
 */
export function resolveHeader(header: string, rules: HeaderRules, saved?: Record<string, string | null>): MappingEntry | undefined {
  const key = headerKey(header);
  const preset = rules.preset ? PRESETS[rules.preset] : undefined;
  if (rules.mapping && Object.hasOwn(rules.mapping, header)) return { header, column: mappedColumn(rules.mapping[header]), source: 'mapping' };
  if (saved && Object.hasOwn(saved, header)) return { header, column: mappedColumn(saved[header]), source: 'saved' };
  if (preset && Object.hasOwn(preset, key)) return { header, column: preset[key], source: 'preset' };
  const spelled = templateSpelling(header);
  if (spelled !== undefined) return { header, column: spelled, source: 'exact' };
  if (Object.hasOwn(SYNONYMS, key)) return { header, column: SYNONYMS[key], source: 'synonym' };
  if (EXACT.has(key)) return { header, column: EXACT.get(key)!, source: 'exact' };
  if (IGNORED_KEYS.has(key)) return { header, column: null, source: 'ignored' };
  return undefined;
}

/**
 * Reads the header row: each header is resolved to a template column (see HeaderRules and header-mapping.ts), in
 * API.md's order; what stays unresolved is `unknown_column`, two headers on one column `duplicate_column`.
 */
export function readHeader(cells: readonly string[], rules: HeaderRules = {}): Layout {
  if (headerBytes(cells) > HEADER_LIMITS.maxBytes) throw headerTooLarge();
  if (cells.length > HEADER_LIMITS.maxColumns) {
    throw new ImportFileError(
      'too_many_columns',
      `the header has ${cells.length} columns; at most ${HEADER_LIMITS.maxColumns} are read (the template has ${IMPORT_COLUMNS.length})`,
    );
  }
  const broken = cells.findIndex(isBrokenName);
  if (broken !== -1) {
    throw new ImportFileError(
      'invalid_header',
      `the header's column ${broken + 1} holds a control character (such as NUL) or a broken character; a column name is plain text`,
    );
  }
  const columns = cells.map((cell) => cell.trim());
  const saved = rules.saved?.get(headerSetKey(columns));
  const mapping: MappingEntry[] = [];
  const unknown: string[] = [];
  columns.forEach((header, i) => {
    const entry = resolveHeader(header, rules, saved);
    if (entry) mapping.push(entry);
    else unknown.push(header === '' ? `(column ${i + 1} has no name)` : header);
  });
  if (unknown.length > 0) {
    throw new ImportFileError(
      'unknown_column',
      `unknown columns: ${nameList(unknown)} (known: ${IMPORT_COLUMNS.join(', ')}; ignored: ${IGNORED_COLUMNS.join(', ')}; ` +
        'or give a mapping, a preset, or use a synonym such as external_id, email_address, phone_number, first_name)',
    );
  }
  const byColumn = new Map<string, string[]>();
  for (const entry of mapping) {
    if (entry.column) byColumn.set(entry.column, [...(byColumn.get(entry.column) ?? []), entry.header]);
  }
  const hasFullName = byColumn.has('full_name');
  const duplicates = [...byColumn.entries()].filter(([, headers]) => headers.length > 1);
  if (hasFullName && (byColumn.has('first_name') || byColumn.has('last_name'))) {
    duplicates.push(['full_name', [...byColumn.get('full_name')!, ...(byColumn.get('first_name') ?? []), ...(byColumn.get('last_name') ?? [])]]);
  }
  if (duplicates.length > 0) {
    throw new ImportFileError(
      'duplicate_column',
      `the header names these columns more than once: ${nameList(duplicates.map(([column, headers]) => `${column} (${headers.join(' / ')})`))}`,
    );
  }
  if (!byColumn.has('vendor_data')) throw new ImportFileError('missing_column', 'the header has no vendor_data column (nor a header mapped to it)');
  const index: Layout['index'] = {};
  const nameParts: NonNullable<Layout['nameParts']> = {};
  mapping.forEach((entry, i) => {
    if (entry.column === 'first_name') nameParts.first = i;
    else if (entry.column === 'last_name') nameParts.last = i;
    else if (entry.column) index[entry.column] = i;
  });
  const joinsName = nameParts.first !== undefined || nameParts.last !== undefined;
  return { width: columns.length, columns, index, mapping, ...(joinsName ? { nameParts } : {}) };
}

/** A mapping's target as a column (validated at upload: see checkMappingTargets), null to ignore the header. */
function mappedColumn(target: string | null | undefined): MappedColumn | null {
  if (target === null || target === undefined) return null;
  return (IGNORED_COLUMN_SET.has(target) ? null : target) as MappedColumn | null;
}

/** The targets a mapping may name: the template's columns, first_name / last_name, the ignored columns, or null. */
export function checkMappingTargets(mapping: Record<string, string | null>): string[] {
  return Object.values(mapping).filter(
    (target): target is string => target !== null && !KNOWN.has(target) && !IGNORED_COLUMN_SET.has(target) && !(NAME_PARTS as readonly string[]).includes(target),
  );
}

export const headerTooLarge = () =>
  new ImportFileError('header_too_large', `the header row is longer than ${HEADER_LIMITS.maxBytes} bytes`);
