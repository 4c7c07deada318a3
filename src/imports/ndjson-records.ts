import { storable } from '../text';
import { rules } from '../users/fields';
import { HEADER_LIMITS, IMPORT_COLUMNS, ImportFileError, isBrokenName, resolveHeader, type HeaderRules, type ImportColumn, type MappingEntry } from './columns';

/**
 * A streaming NDJSON reader for import files: one JSON object a line (`tags` a JSON list of strings, `metadata` an
 * object; `metadata_json` as text is taken too). Each key is resolved like a CSV header (the upload's mapping, the
 * preset, the synonyms, the template's names, the ignored columns: resolveHeader), so another system's
 * `email_address` or `first_name` / `last_name` is read as it would be in a CSV; a key that resolves to nothing is
 * not read, and it is listed in the import's `mapping` as `ignored`, so the operator sees it before confirming
 * (saved mappings, kept per header set, do not apply: the keys vary from line to line). Each line becomes a record
 * in the template's column order, so the CSV row rules apply unchanged: `tags` joined with `,`, `metadata` as JSON
 * text, first and last name joined into full_name. A line that is not a JSON object, that gives one column twice
 * (`email` and `email_address`), or whose `tags` is not a list of strings is reported through `onError` (a row
 * error; the file goes on). Blank lines are skipped but counted, like blank CSV rows. A line ends with LF, CRLF or CR.
 */

export type NdjsonProblem = 'invalid_json_line' | 'invalid_tags';

/** The header an NDJSON file is read with: every template column. */
export const NDJSON_HEADER: readonly string[] = IMPORT_COLUMNS;

const POSITION = new Map<ImportColumn, number>(IMPORT_COLUMNS.map((column, i) => [column, i]));

function scalarText(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/** The keys of an NDJSON file, each resolved once, in the order they were first seen (the import's `mapping`). */
export class NdjsonKeys {
  private readonly resolved = new Map<string, MappingEntry>();
  /** The characters of the distinct keys, bounded as a CSV header's bytes are (they all go into `mapping`). */
  private keyChars = 0;

  constructor(private readonly rules: HeaderRules = {}) {}

  get mapping(): MappingEntry[] {
    return [...this.resolved.values()];
  }

  resolve(key: string): MappingEntry {
    let entry = this.resolved.get(key);
    if (entry === undefined) {
      if (this.resolved.size >= HEADER_LIMITS.maxColumns) {
        throw new ImportFileError(
          'too_many_columns',
          `the file's objects use more than ${HEADER_LIMITS.maxColumns} different keys (the template has ${IMPORT_COLUMNS.length})`,
        );
      }
      // The same bounds as a CSV header's: the names are stored in the import's mapping and shown in messages.
      if (isBrokenName(key)) {
        throw new ImportFileError('invalid_header', 'a key of the file holds a control character (such as NUL) or a broken character; a key is plain text');
      }
      this.keyChars += key.length;
      if (this.keyChars > HEADER_LIMITS.maxBytes) {
        throw new ImportFileError('header_too_large', `the file's keys together are longer than ${HEADER_LIMITS.maxBytes} characters`);
      }
      entry = resolveHeader(key, this.rules) ?? { header: key, column: null, source: 'ignored' };
      this.resolved.set(key, entry);
    }
    return entry;
  }
}

export class NdjsonRecordReader {
  private carried = '';
  private line = 0;
  /** The last text written ended in CR: an LF starting the next is the rest of that CRLF, not a blank line. */
  private afterCr = false;
  /** A line's end: LF, CRLF or CR alone (JSON holds neither raw inside a string, so each ends a line). */
  private readonly lineEnd = /[\r\n]/g;

  constructor(
    private readonly keys: NdjsonKeys,
    /** `tagsProblem`: the invalid_tags message of a `tags` list the field rule refuses before it is joined. */
    private readonly onRecord: (record: string[], line: number, tagsProblem?: string) => void,
    private readonly onError: (code: NdjsonProblem, message: string, text: string, line: number) => void,
    /** Called for a blank line (it is counted as a row, like a blank CSV row). */
    private readonly onBlank: () => void,
  ) {}

  write(text: string): void {
    if (text === '') return;
    let start = 0;
    if (this.afterCr && text.charCodeAt(0) === 10) start = 1;
    this.afterCr = false;
    this.lineEnd.lastIndex = start;
    for (let m = this.lineEnd.exec(text); m !== null; m = this.lineEnd.exec(text)) {
      const end = m.index;
      const piece = text.slice(start, end);
      this.lineDone(this.carried === '' ? piece : this.carried + piece);
      this.carried = '';
      start = end + 1;
      if (text.charCodeAt(end) === 13) {
        if (end + 1 === text.length) this.afterCr = true;
        else if (text.charCodeAt(end + 1) === 10) start = end + 2;
      }
      this.lineEnd.lastIndex = start;
    }
    if (start < text.length) this.carried += text.slice(start);
  }

  end(): void {
    if (this.carried !== '') this.lineDone(this.carried);
    this.carried = '';
    this.afterCr = false;
  }

  private lineDone(text: string): void {
    this.line++;
    if (text.trim() === '') {
      this.onBlank();
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      // V8's message quotes a piece of the line (`Unexpected token 'a', "{"email":"a"... is not valid JSON`): cut, so
      // that the message holds none of the row's values (a role without personal data sees the messages).
      const reason = (err as Error).message.replace(/, (\.\.\.)?".*$/s, '').slice(0, 200);
      this.onError('invalid_json_line', `line ${this.line} is not JSON (${reason})`, text, this.line);
      return;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      const kind = value === null ? 'null' : Array.isArray(value) ? 'a list' : typeof value;
      this.onError('invalid_json_line', `line ${this.line} is ${kind}, not a JSON object`, text, this.line);
      return;
    }
    const record: string[] = new Array<string>(IMPORT_COLUMNS.length).fill('');
    const from = new Map<string, string>();
    let first: unknown;
    let last: unknown;
    let tagsProblem: string | undefined;
    for (const [key, field] of Object.entries(value as Record<string, unknown>)) {
      const column = this.keys.resolve(key).column;
      if (column === null) continue;
      const earlier = from.get(column);
      if (earlier !== undefined) {
        this.onError('invalid_json_line', `line ${this.line} gives ${column} twice (${storable(earlier, HEADER_LIMITS.nameChars)}, ${storable(key, HEADER_LIMITS.nameChars)})`, text, this.line);
        return;
      }
      from.set(column, key);
      if (column === 'first_name') first = field;
      else if (column === 'last_name') last = field;
      else if (column === 'tags') {
        if (field === undefined || field === null) continue;
        if (Array.isArray(field) && field.every((t) => typeof t === 'string')) {
          record[POSITION.get('tags')!] = field.join(',');
          // Joined, a tag holding a comma would be read as two: the field rule refuses it (a row error, the row's
          // other problems listed with it).
          if (field.some((t) => t.includes(','))) {
            const checked = rules.tags(field);
            if (!checked.ok) tagsProblem = checked.error.message;
          }
        }
        else if (typeof field === 'string') record[POSITION.get('tags')!] = field;
        else {
          this.onError('invalid_tags', `line ${this.line}: tags must be a list of strings`, text, this.line);
          return;
        }
      } else if (column === 'metadata_json') {
        // An object (`metadata`) as its JSON text; a string (`metadata_json`) is that text already.
        if (field !== undefined && field !== null) record[POSITION.get('metadata_json')!] = typeof field === 'string' ? field : JSON.stringify(field);
      } else record[POSITION.get(column)!] = scalarText(field);
    }
    if (first !== undefined || last !== undefined) {
      if (from.has('full_name')) {
        this.onError('invalid_json_line', `line ${this.line} gives full_name twice (${storable(from.get('full_name')!, HEADER_LIMITS.nameChars)}, and first and last name)`, text, this.line);
        return;
      }
      record[POSITION.get('full_name')!] = [scalarText(first).trim(), scalarText(last).trim()].filter((part) => part !== '').join(' ');
    }
    this.onRecord(record, this.line, tagsProblem);
  }
}
