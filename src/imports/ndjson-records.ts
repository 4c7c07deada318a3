import { IMPORT_COLUMNS } from './columns';

/**
 * A streaming NDJSON reader for import files: one JSON object a line with the template's field names (`tags` a JSON
 * list of strings, `metadata` an object; `metadata_json` as text is taken too). Each line becomes a record in the
 * template's column order, so the CSV row rules apply unchanged: `tags` joined with `,`, `metadata` as JSON text.
 * A line that is not a JSON object, or whose `tags` is not a list of strings, is reported through `onError` (a row
 * error; the file goes on). Blank lines are skipped but counted, like blank CSV rows. Keys outside the template are
 * not read.
 */

export type NdjsonProblem = 'invalid_json_line' | 'invalid_tags';

/** The header an NDJSON file is read with: every template column. */
export const NDJSON_HEADER: readonly string[] = IMPORT_COLUMNS;

const SCALAR_COLUMNS = ['vendor_data', 'display_name', 'full_name', 'email', 'phone', 'country', 'status'] as const;

function scalarText(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

export class NdjsonRecordReader {
  private carried = '';
  private line = 0;

  constructor(
    private readonly onRecord: (record: string[], line: number) => void,
    private readonly onError: (code: NdjsonProblem, message: string, text: string, line: number) => void,
    /** Called for a blank line (it is counted as a row, like a blank CSV row). */
    private readonly onBlank: () => void,
  ) {}

  write(text: string): void {
    let start = 0;
    for (;;) {
      const end = text.indexOf('\n', start);
      if (end === -1) break;
      const piece = text.slice(start, end);
      this.lineDone(this.carried === '' ? piece : this.carried + piece);
      this.carried = '';
      start = end + 1;
    }
    if (start < text.length) this.carried += text.slice(start);
  }

  end(): void {
    if (this.carried !== '') this.lineDone(this.carried);
    this.carried = '';
  }

  private lineDone(raw: string): void {
    this.line++;
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (text.trim() === '') {
      this.onBlank();
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      this.onError('invalid_json_line', `line ${this.line} is not JSON (${(err as Error).message.slice(0, 200)})`, text, this.line);
      return;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      const kind = value === null ? 'null' : Array.isArray(value) ? 'a list' : typeof value;
      this.onError('invalid_json_line', `line ${this.line} is ${kind}, not a JSON object`, text, this.line);
      return;
    }
    const o = value as Record<string, unknown>;
    const record: string[] = SCALAR_COLUMNS.map((column) => scalarText(o[column]));
    const tags = o.tags;
    if (tags === undefined || tags === null) record.push('');
    else if (Array.isArray(tags) && tags.every((t) => typeof t === 'string')) record.push(tags.join(','));
    else if (typeof tags === 'string') record.push(tags);
    else {
      this.onError('invalid_tags', `line ${this.line}: tags must be a list of strings`, text, this.line);
      return;
    }
    const metadata = o.metadata !== undefined ? o.metadata : o.metadata_json;
    if (metadata === undefined || metadata === null) record.push('');
    else record.push(typeof metadata === 'string' && o.metadata === undefined ? metadata : JSON.stringify(metadata));
    this.onRecord(record, this.line);
  }
}
