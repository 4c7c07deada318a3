import { rules, splitTagsCell, vendorDataKey, type PhoneCountry, type RowErrorCode, type RuleResult } from '../users/fields';
import { hasUnstorable, storable, unstorableReason } from '../text';
import type { ImportColumn, Layout } from './columns';
import { unescapeFormula } from '../exports/csv';

/**
 * One data row of an import file, checked with the user field rules of src/users/fields.ts (the same rules as the
 * public API). Pure and synchronous: it runs once per row of files of up to a million rows.
 */

export interface RowError {
  column: string;
  code: RowErrorCode;
  message: string;
}

/** A value the rules rewrote into its stored form (see RuleResult.normalized): the cell's trimmed text, and the value. */
interface Normalized {
  field: string;
  from: string;
  to: string;
}

/** What the import's options change in the row rules. */
export interface RowOptions {
  /** `default_phone_country`: national phone numbers are read as this country's. */
  defaultPhoneCountry?: PhoneCountry;
  /** `empty_cells=clear`: an empty cell of a present column clears the field (see StagedRow). */
  clearEmpty?: boolean;
}

/**
 * A row ready for staging. A value is null when the row does not give that field ("leave it as it is"). With
 * `empty_cells=clear`, an empty cell of an optional field is staged as "clear it": '' for a text field, an empty
 * list for tags, JSON `null` for metadata (no rule ever yields these otherwise: values are trimmed and non-empty).
 */
export interface StagedRow {
  rowNumber: number;
  /** Trimmed, as given; for display only when the row is invalid (then possibly shortened). */
  vendorData: string | null;
  /** The normalised key; null unless vendor_data itself is valid. Duplicates are found in SQL on this key. */
  vendorDataKey: string | null;
  errors: RowError[] | null;
  displayName: string | null;
  fullName: string | null;
  email: string | null;
  phone: string | null;
  country: string | null;
  status: string | null;
  tags: string[] | null;
  /**
   * The metadata_json cell's text (trimmed, the formula escape undone) when it is a valid JSON object; `'null'` for
   * "clear it". The cell's text, not a re-serialisation: ./raw-cells.ts compares it with the cell.
   */
  metadata: string | null;
  /** The values the rules normalised; null when none. */
  normalized: Normalized[] | null;
  /**
   * The cells as they were in the file, for the preview (Postgres text cannot hold NUL: it becomes U+FFFD); null when
   * they are exactly the staged values' text and are rebuilt from them when read (./raw-cells.ts).
   */
  raw: readonly string[] | null;
}

const DISPLAY_MAX_CHARS = 300;

/**
 * A cell's value: the export's formula escape undone (a first `'` before `= + - @`, tab, CR or `'`: unescapeFormula
 * of src/exports/csv.ts, the exact inverse of the export's escapeFormula), then trimmed. `escaped: false` for a file
 * whose values are not escaped (NDJSON: JSON is not read by a spreadsheet, and the export writes it as stored).
 */
export function cellValue(raw: string | undefined, escaped = true): string {
  if (raw === undefined || raw === '') return '';
  return (escaped ? unescapeFormula(raw) : raw).trim();
}

function rawCells(record: readonly string[]): readonly string[] {
  if (!record.some((cell) => cell.includes('\u0000'))) return record;
  return record.map((cell) => (cell.includes('\u0000') ? cell.replaceAll('\u0000', '\uFFFD') : cell));
}

function shorten(value: string): string {
  return storable(value, DISPLAY_MAX_CHARS + 1);
}

type Rule<T> = (value: string) => RuleResult<T>;

// Read once: the rules are looked up for every cell of up to a million rows.
const { vendorData: vendorDataRule, displayName: displayNameRule, fullName: fullNameRule, email: emailRule } = rules;
const { phone: phoneRule, country: countryRule, status: statusRule, metadataJson: metadataJsonRule } = rules;
const tagsRule: Rule<string[]> = (value) => rules.tags(splitTagsCell(value));

/**
 * Applies a rule to a given (non-empty) value; records the problem and returns null when it breaks the rule; a value
 * the rule normalised is noted in `notes` (when given).
 */
function check<T>(errors: RowError[], column: ImportColumn, value: string, rule: Rule<T>, notes?: Normalized[]): T | null {
  if (value === '') return null;
  if (hasUnstorable(value)) {
    errors.push({ column, code: 'invalid_characters', message: `${column} contains ${unstorableReason(value)}, which cannot be stored` });
    return null;
  }
  const result = rule(value);
  if (!result.ok) {
    errors.push({ column, code: result.error.code, message: result.error.message });
    return null;
  }
  if (result.normalized && notes) notes.push({ field: column, from: value, to: String(result.value) });
  return result.value;
}

/** With empty_cells=clear: the fields an empty cell clears, and how "clear" is staged. */
const CLEARABLE = [
  ['display_name', 'displayName', ''],
  ['full_name', 'fullName', ''],
  ['email', 'email', ''],
  ['phone', 'phone', ''],
  ['country', 'country', ''],
  ['tags', 'tags', []],
  ['metadata_json', 'metadata', 'null'],
] as const;

function cellOf(record: readonly string[], layout: Layout, column: ImportColumn): string {
  const i = layout.index[column];
  if (i !== undefined) return cellValue(record[i], layout.formulaEscaped !== false);
  if (column === 'full_name' && layout.nameParts) return joinedName(record, layout.nameParts, layout.formulaEscaped !== false);
  return '';
}

/** First and last name (either may be missing or empty) as one full_name, joined with one space. */
function joinedName(record: readonly string[], parts: NonNullable<Layout['nameParts']>, escaped: boolean): string {
  const first = parts.first === undefined ? '' : cellValue(record[parts.first], escaped);
  const last = parts.last === undefined ? '' : cellValue(record[parts.last], escaped);
  return first && last ? `${first} ${last}` : first || last;
}

/** Checks one data row; `rowNumber` is the spreadsheet row (the header is row 1). */
export function validateRow(record: readonly string[], layout: Layout, rowNumber: number, options: RowOptions = {}): StagedRow {
  const errors: RowError[] = [];
  const notes: Normalized[] = [];
  const rawVendorData = cellOf(record, layout, 'vendor_data');
  let vendorData: string | null = null;
  if (rawVendorData === '') {
    errors.push({ column: 'vendor_data', code: 'required', message: 'vendor_data is required' });
  } else {
    vendorData = check(errors, 'vendor_data', rawVendorData, vendorDataRule);
  }
  const displayName = check(errors, 'display_name', cellOf(record, layout, 'display_name'), displayNameRule);
  const fullName = check(errors, 'full_name', cellOf(record, layout, 'full_name'), fullNameRule);
  const email = check(errors, 'email', cellOf(record, layout, 'email'), emailRule);
  const phoneCountry = options.defaultPhoneCountry;
  const phone = check(errors, 'phone', cellOf(record, layout, 'phone'), phoneCountry ? (v) => phoneRule(v, phoneCountry) : phoneRule, notes);
  const country = check(errors, 'country', cellOf(record, layout, 'country'), countryRule, notes);
  const status = check(errors, 'status', cellOf(record, layout, 'status'), statusRule, notes);
  const tags = check(errors, 'tags', cellOf(record, layout, 'tags'), tagsRule);
  const metadataObject = check(errors, 'metadata_json', cellOf(record, layout, 'metadata_json'), metadataJsonRule);
  // The rule refused what jsonb cannot hold (NUL, lone surrogates, deep nesting); the cell's text is stored as given.
  const metadata = metadataObject === null ? null : cellOf(record, layout, 'metadata_json');

  const key = vendorData === null ? null : vendorDataKey(vendorData);
  if (errors.length > 0) {
    return invalidRow({
      rowNumber,
      vendorData: rawVendorData === '' ? null : shorten(rawVendorData),
      vendorDataKey: key,
      errors,
      normalized: notes.length > 0 ? notes : null,
      raw: rawCells(record),
    });
  }
  const raw = rawCells(record);
  const row: StagedRow = {
    rowNumber,
    vendorData,
    vendorDataKey: key,
    errors: null,
    displayName,
    fullName,
    email,
    phone,
    country,
    status,
    tags,
    metadata,
    normalized: notes.length > 0 ? notes : null,
    raw,
  };
  if (options.clearEmpty) {
    for (const [column, field, cleared] of CLEARABLE) {
      if (row[field] === null && layout.index[column] !== undefined && cellOf(record, layout, column) === '') {
        (row as unknown as Record<string, unknown>)[field] = cleared;
      }
    }
  }
  return row;
}

/** An invalid row: its errors, what identifies it and its raw cells; no value is staged (nothing of it is written). */
export function invalidRow(
  row: Pick<StagedRow, 'rowNumber' | 'vendorData' | 'vendorDataKey' | 'normalized' | 'raw'> & { errors: RowError[] },
): StagedRow {
  return { ...row, displayName: null, fullName: null, email: null, phone: null, country: null, status: null, tags: null, metadata: null };
}
