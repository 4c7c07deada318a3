/** The upload's optional fields (API.md "Files from other systems"), their labels, and the files this tab chose. */

export interface UploadOptions {
  preset?: string;
  mode?: string;
  empty_cells?: string;
  tags_mode?: string;
  metadata_mode?: string;
  default_phone_country?: string;
  format?: string;
  encoding?: string;
  delimiter?: string;
  sheet?: string;
  save_mapping?: boolean;
  mapping?: Record<string, string | null>;
}

type Choice = { value: string; label: string };

export const PRESET_CHOICES: Choice[] = [
  { value: '', label: 'None' },
  { value: 'auth0', label: 'Auth0' },
  { value: 'okta', label: 'Okta' },
  { value: 'clerk', label: 'Clerk' },
];
export const MODE_CHOICES: Choice[] = [
  { value: 'upsert', label: 'Upsert' },
  { value: 'create_only', label: 'Create only' },
  { value: 'update_only', label: 'Update only' },
];
export const EMPTY_CELLS_CHOICES: Choice[] = [
  { value: 'keep', label: 'Keep stored values' },
  { value: 'clear', label: 'Clear the field' },
];
export const TAGS_CHOICES: Choice[] = [
  { value: 'replace', label: 'Replace' },
  { value: 'add', label: 'Add' },
];
export const METADATA_CHOICES: Choice[] = [
  { value: 'merge', label: 'Merge' },
  { value: 'replace', label: 'Replace' },
];
export const FORMAT_CHOICES: Choice[] = [
  { value: '', label: 'Detect' },
  { value: 'csv', label: 'CSV' },
  { value: 'xlsx', label: 'Excel workbook (xlsx)' },
  { value: 'ndjson', label: 'NDJSON (one JSON object a line)' },
];
export const ENCODING_CHOICES: Choice[] = [
  { value: '', label: 'Detect' },
  { value: 'utf-8', label: 'UTF-8' },
  { value: 'utf-16le', label: 'UTF-16 little-endian' },
  { value: 'utf-16be', label: 'UTF-16 big-endian' },
  { value: 'windows-1252', label: 'Windows-1252 (Western European)' },
  { value: 'iso-8859-1', label: 'ISO-8859-1 (Latin-1)' },
];
export const DELIMITER_CHOICES: Choice[] = [
  { value: '', label: 'Detect' },
  { value: ',', label: 'comma (,)' },
  { value: ';', label: 'semicolon (;)' },
  { value: '\t', label: 'tab' },
  { value: '|', label: 'pipe (|)' },
];

/** The defaults: a field with its default value is not sent (and the upload form starts from them). */
export const OPTION_DEFAULTS = {
  preset: '',
  mode: 'upsert',
  empty_cells: 'keep',
  tags_mode: 'replace',
  metadata_mode: 'merge',
  default_phone_country: '',
  format: '',
  encoding: '',
  delimiter: '',
  sheet: '',
} satisfies Record<string, string>;

export function labelOf(choices: Choice[], value: string | null | undefined): string {
  if (value === null || value === undefined || value === '') return '—';
  return choices.find((c) => c.value === value)?.label ?? value;
}

/** The multipart body of an upload: the file and every option that differs from its default. */
export function uploadForm(file: File, options: UploadOptions): FormData {
  const form = new FormData();
  for (const [key, fallback] of Object.entries(OPTION_DEFAULTS)) {
    const raw = options[key as keyof UploadOptions];
    const value = typeof raw === 'string' ? (key === 'delimiter' ? raw : raw.trim()) : '';
    if (value !== '' && value !== fallback) form.append(key, value);
  }
  if (options.save_mapping) form.append('save_mapping', 'true');
  if (options.mapping && Object.keys(options.mapping).length > 0) form.append('mapping', JSON.stringify(options.mapping));
  form.append('file', file, file.name);
  return form;
}

/** The columns a header may be read as (a mapping's targets). */
export const MAPPING_TARGETS = [
  'vendor_data',
  'display_name',
  'full_name',
  'first_name',
  'last_name',
  'email',
  'phone',
  'country',
  'status',
  'tags',
  'metadata_json',
] as const;

export const SOURCE_LABELS: Record<string, string> = {
  mapping: 'mapping',
  saved: 'saved mapping',
  preset: 'preset',
  synonym: 'synonym',
  exact: 'same name',
  ignored: 'ignored',
};

/**
 * The files this tab uploaded, by import id, with the options they were sent with: kept in memory only (never in
 * storage), so the detail page can send the same file again with another mapping. Gone when the tab reloads.
 */
const chosenFiles = new Map<string, { file: File; options: UploadOptions }>();

export function rememberFile(importId: string, file: File, options: UploadOptions): void {
  chosenFiles.set(importId, { file, options });
}

export function chosenFile(importId: string): { file: File; options: UploadOptions } | undefined {
  return chosenFiles.get(importId);
}

/**
 * The headers of a CSV file, read in the browser: for a file rejected for its headers, whose import has no mapping.
 * Best effort (UTF-8 or UTF-16 with a byte-order mark, a `sep=` line, quotes); null when it cannot tell.
 */
export async function headersOfFile(file: File, delimiter?: string | null): Promise<string[] | null> {
  const bytes = new Uint8Array(await file.slice(0, 256 * 1024).arrayBuffer());
  if (bytes[0] === 0x50 && bytes[1] === 0x4b) return null; // a zip: xlsx
  let encoding = 'utf-8';
  if (bytes[0] === 0xff && bytes[1] === 0xfe) encoding = 'utf-16le';
  else if (bytes[0] === 0xfe && bytes[1] === 0xff) encoding = 'utf-16be';
  let text = new TextDecoder(encoding).decode(bytes).replace(/^\uFEFF/, '');
  let sep = delimiter ?? null;
  const sepLine = /^sep=(.)\r?\n/i.exec(text);
  if (sepLine) {
    sep = sep ?? sepLine[1] ?? null;
    text = text.slice(sepLine[0].length);
  }
  if (text.trimStart().startsWith('{')) return null; // ndjson: no header row
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  let i = 0;
  const firstLine = text.split(/\r\n|\n|\r/, 1)[0] ?? '';
  if (!sep) {
    const counts = [',', ';', '\t', '|'].map((d) => [d, firstLine.split(d).length] as const);
    sep = counts.reduce((a, b) => (b[1] > a[1] ? b : a))[0];
  }
  for (; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === sep) {
      cells.push(cell.trim());
      cell = '';
    } else if (ch === '\n' || ch === '\r') break;
    else cell += ch;
  }
  cells.push(cell.trim());
  return cells.length > 0 && cells.some((c) => c !== '') ? cells : null;
}
