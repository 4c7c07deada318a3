import { AsyncLocalStorage } from 'node:async_hooks';
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import type ExcelJSModule from 'exceljs';
import numfmt from 'numfmt';
import tmp from 'tmp'; // exceljs's own dependency, for its temporary files (see trackTempFiles)
import { ImportFileError } from './columns';

/**
 * A streaming xlsx reader for import files (exceljs's stream.xlsx.WorkbookReader: the zip is unpacked as it arrives,
 * rows are handed over one at a time). Each row of the chosen sheet (the first, or `sheet` by name) is passed on as
 * text, the text a person sees: a number in its cell's number format (numfmt applies Excel's format codes: `000000`
 * keeps an id's leading zeros, `0%` shows 50%), or as its plain digits when the format is General (never
 * `1.2E+10`); a date-formatted cell as `YYYY-MM-DD` (with the time when it has one), a formula as its cached result,
 * rich text as its text.
 *
 * Bounds, so a small zip cannot unpack into something huge (a zip bomb): the shared strings (which exceljs keeps in
 * memory) at most `maxSharedChars` characters, the text of every cell read at most `maxTextChars`, the rows of the
 * sheets passed over before the chosen one at most `maxRows`. Past one: `invalid_xlsx`. Not a zip, or a broken one:
 * `invalid_xlsx`. The chosen sheet's own row count is bounded by the caller (too_many_rows).
 */

export interface XlsxLimits {
  maxSharedChars: number;
  maxTextChars: number;
  maxRows: number;
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** A number as plain digits, as a spreadsheet shows it (15 significant digits, no exponent, no grouping). */
export function plainNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Number.isInteger(n) && Math.abs(n) < Number.MAX_SAFE_INTEGER) return String(n);
  return n.toLocaleString('en-US', { useGrouping: false, maximumSignificantDigits: 15 });
}

function isoDate(d: Date): string {
  const date = `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  const h = d.getUTCHours();
  const m = d.getUTCMinutes();
  const s = d.getUTCSeconds();
  return h === 0 && m === 0 && s === 0 ? date : `${date} ${pad(h)}:${pad(m)}:${pad(s)}`;
}

/** A number as its cell's format shows it; General (or no format, or one numfmt cannot read) as plain digits. */
function formattedNumber(n: number, numFmt: string | undefined): string {
  if (!numFmt || numFmt === 'General' || numfmt.isTextFormat(numFmt)) return plainNumber(n);
  try {
    return numfmt.format(numFmt, n);
  } catch {
    return plainNumber(n);
  }
}

/** A cell's value as text; `numFmt` is the cell's number format, applied to a number (or a formula's number). */
export function cellText(value: unknown, numFmt?: string): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return formattedNumber(value, numFmt);
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? '' : isoDate(value);
  if (typeof value === 'object') {
    const v = value as Record<string, unknown>;
    if (Array.isArray(v.richText)) return (v.richText as { text?: string }[]).map((r) => r.text ?? '').join('');
    if ('formula' in v || 'sharedFormula' in v) return cellText(v.result, numFmt);
    if ('hyperlink' in v) return cellText(v.text);
    if (typeof v.error === 'string') return v.error;
    if ('text' in v) return cellText(v.text);
  }
  return String(value);
}

function sharedLength(text: unknown): number {
  if (typeof text === 'string') return text.length;
  if (text && typeof text === 'object' && Array.isArray((text as { richText?: unknown[] }).richText)) {
    let n = 0;
    for (const r of (text as { richText: { text?: string }[] }).richText) n += r.text?.length ?? 0;
    return n;
  }
  return 0;
}

interface RowLike {
  number: number;
  values: unknown[] | Record<string, unknown>;
  getCell(column: number): { numFmt?: string };
}

/** What WorkbookReader.parse() yields (its types declare only the worksheet readers). */
type WorkbookEvent =
  | { eventType: 'shared-strings'; value: { index: number; text: unknown } }
  | { eventType: 'worksheet'; value: AsyncIterable<RowLike> & { id: string | number; name?: string } }
  | { eventType: 'hyperlinks'; value: unknown };

/**
 * The temporary files exceljs writes during one read. A worksheet that comes before the shared strings in the zip (as
 * streaming writers and Excel itself order them) is copied to a `tmp` file and read after the zip has ended; exceljs
 * deletes that file only once the sheet has been read to its end, so a read that stops early (the chosen sheet done,
 * a limit passed, a broken file) would leave every other one behind until the worker exits. exceljs creates them
 * with `tmp.file`; that call is wrapped once, and records what it creates for the read in progress (an
 * AsyncLocalStorage: reads of several imports run at once in a worker), which readXlsx deletes when it ends.
 *
 * The wrapper also asks `tmp` to close the file's descriptor at once (discardDescriptor): exceljs opens its own
 * streams on the path and never uses that descriptor, which tmp closes only in the clean-up exceljs skips for a
 * sheet it did not read to its end. Without it every read that stopped early left one descriptor open for the
 * worker's lifetime (measured: 36 open before 300 reads of a small workbook stopped by too_many_rows, 337 after).
 */
const tempFilesOfRead = new AsyncLocalStorage<Set<string>>();
/**
 * The reads in progress, and the temporary files of reads that ended while others ran. A read closed by a stream
 * pipeline ends without its consumer waiting for it, so its clean-up can run while another read is unpacking, and
 * AsyncLocalStorage cannot promise that every file exceljs creates from a stream callback was recorded under the
 * right read. Files are deleted only when no read is in progress: none is taken from a read that may still use it,
 * and every one is gone once the worker's reads pause.
 */
let readsInProgress = 0;
const tempFilesToDelete = new Set<string>();
/**
 * Every temporary file a read has recorded and not yet deleted (see guardTempFileStreams), with tmp's clean-up for
 * it: called once the file is deleted, it drops the file from the list tmp keeps to remove at exit.
 */
const trackedTempFiles = new Map<string, () => void>();
type TmpFileCallback = (err: Error | null, path: string, fd: number, cleanup: () => void) => void;
let tmpFileWrapped = false;
function trackTempFiles(): void {
  if (tmpFileWrapped) return;
  tmpFileWrapped = true;
  const original = tmp.file as unknown as (...args: unknown[]) => void;
  (tmp as unknown as { file: (...args: unknown[]) => void }).file = (...args: unknown[]) => {
    const files = tempFilesOfRead.getStore();
    const callback = args[args.length - 1];
    if (files === undefined || typeof callback !== 'function') return original(...args);
    const recorded: TmpFileCallback = (err, path, fd, cleanup) => {
      if (!err) {
        files.add(path);
        trackedTempFiles.set(path, cleanup);
      }
      (callback as TmpFileCallback)(err, path, fd, cleanup);
    };
    const given = args.length > 1 && typeof args[0] === 'object' && args[0] !== null ? args[0] : {};
    return original({ ...given, discardDescriptor: true }, recorded);
  };
  guardTempFileStreams();
}

/**
 * exceljs opens a stream on each waiting sheet's temporary file (fs.createReadStream) before it parses it. When the
 * parse fails at once, nothing listens to that stream, and the read's clean-up deleting the file made its open fail
 * with an 'error' event no one handled: an uncaught exception, the end of the worker. (It happened when exceljs
 * missed the workbook.xml entry, see holdEarlyZipEnd, and may happen on any failure of exceljs's own; staging then
 * reads the file again, see stageImportFile.) A stream on one of the reads' temporary files gets a listener that
 * drops its error; whoever reads the stream still gets it.
 */
function guardTempFileStreams(): void {
  const original = fs.createReadStream;
  (fs as { createReadStream: typeof fs.createReadStream }).createReadStream = function createReadStream(
    this: unknown,
    ...args: Parameters<typeof fs.createReadStream>
  ) {
    const stream = original.apply(this, args);
    if (typeof args[0] === 'string' && trackedTempFiles.has(args[0])) stream.on('error', () => undefined);
    return stream;
  } as typeof fs.createReadStream;
}

/**
 * unzipper's Parse, the zip reader exceljs pipes its input into, emits 'end' as soon as its writable side has
 * finished, even while entries it has parsed still wait on its readable side, which exceljs pauses while it handles
 * an entry (copying a sheet that comes before the shared strings to a temporary file). exceljs then stops at that
 * 'end' and never sees the entries still waiting; xl/workbook.xml, which exceljs's own writer puts last, is one of
 * them, and the read fails with `Cannot read properties of undefined (reading 'sheets')` (exceljs#3064 open
 * upstream, unzipper#234). Seen with the 'end' logged: 8 entries still waiting, the stream paused. A small workbook
 * read in a loop failed that way 5 to 16 times in 2,000 reads, and once in 300 in a jest run beside another suite;
 * with the 'end' held back, none in 6,000 reads (7- and 1,000-byte chunks), nor in three jest runs of 300.
 *
 * The zip stream exceljs pipes `input` into gets its 'end' held back while entries wait, and given once they have
 * all been read; the end of the stream itself (Parse's push(null) at the zip's last record) is untouched.
 */
export function holdEarlyZipEnd(input: Readable): void {
  const pipe = input.pipe.bind(input);
  input.pipe = (<T extends NodeJS.WritableStream>(destination: T, options?: { end?: boolean }): T => {
    const zip = destination as unknown as Readable;
    const emit = zip.emit.bind(zip);
    let held = false;
    const release = () => {
      if (zip.readableLength > 0) return;
      zip.off('data', release);
      if (!zip.readableEnded) emit('end');
    };
    zip.emit = ((event: string | symbol, ...args: unknown[]) => {
      if (event !== 'end' || zip.readableLength === 0) return emit(event, ...args);
      if (!held) {
        held = true;
        // A paused stream stays paused: a 'data' listener resumes only a stream that was never paused.
        zip.on('data', release);
      }
      return true;
    }) as typeof zip.emit;
    return pipe(destination, options);
  }) as typeof input.pipe;
}

/**
 * exceljs, loaded by the first xlsx read rather than with the worker: it is 14 MiB of the worker's RSS (measured:
 * required after @temporalio/worker, +13.8 MiB RSS, +6.7 MiB heap), which a worker that only reads CSV, or only
 * exports, never needs; the export's memory target (256 MiB on S3) was missed by less than that.
 */
let excelJS: Promise<typeof ExcelJSModule> | undefined;
function loadExcelJS(): Promise<typeof ExcelJSModule> {
  excelJS ??= import('exceljs').then((m) => m.default);
  return excelJS;
}

/**
 * Reads the workbook from `input`, yielding each row of the chosen sheet with its spreadsheet row number (rows that
 * hold nothing are not in the file). The sheet's name is put in `found.sheet`.
 */
export async function* readXlsx(
  input: Readable,
  sheet: string | undefined,
  limits: XlsxLimits,
  found: { sheet: string },
): AsyncGenerator<[string[], number]> {
  trackTempFiles();
  const tempFiles = new Set<string>();
  const ExcelJS = await loadExcelJS();
  holdEarlyZipEnd(input);
  const reader = new ExcelJS.stream.xlsx.WorkbookReader(input, {
    sharedStrings: 'cache',
    hyperlinks: 'ignore',
    styles: 'cache',
    worksheets: 'emit',
    entries: 'ignore',
  });
  const events = reader.parse() as unknown as AsyncGenerator<WorkbookEvent>;
  const seen: string[] = [];
  let sharedChars = 0;
  let textChars = 0;
  let skippedRows = 0;
  const tooBig = (what: string) =>
    new ImportFileError('invalid_xlsx', `the workbook unpacks to more than ${what} (the limit; is it a zip bomb?)`);
  readsInProgress++;
  try {
    // Each step of exceljs's parse runs in this read's store (what it awaits resumes in it too), for tmp.file to see.
    const nextEvent = () => tempFilesOfRead.run(tempFiles, () => events.next());
    for (let step = await nextEvent(); !step.done; step = await nextEvent()) {
      const event = step.value;
      if (event.eventType === 'shared-strings') {
        sharedChars += sharedLength(event.value.text);
        if (sharedChars > limits.maxSharedChars) throw tooBig(`${limits.maxSharedChars} characters of shared strings`);
        continue;
      }
      if (event.eventType !== 'worksheet') continue;
      const value = event.value;
      const name = value.name ?? `sheet${value.id}`;
      seen.push(name);
      const chosen = sheet === undefined ? seen.length === 1 : name === sheet;
      for await (const row of value) {
        if (!chosen) {
          if (++skippedRows > limits.maxRows) throw tooBig(`${limits.maxRows} rows before the sheet read`);
          continue;
        }
        const values = Array.isArray(row.values) ? row.values : [];
        const record: string[] = new Array<string>(Math.max(0, values.length - 1));
        for (let i = 1; i < values.length; i++) {
          const value = values[i];
          // The format is looked up only where it can matter (a number, or a formula's result).
          const text = (value !== null && typeof value === 'object') || typeof value === 'number' ? cellText(value, row.getCell(i).numFmt) : cellText(value);
          textChars += text.length;
          record[i - 1] = text;
        }
        if (textChars > limits.maxTextChars) throw tooBig(`${limits.maxTextChars} characters of cell text`);
        yield [record, row.number];
      }
      if (chosen) {
        found.sheet = name;
        return;
      }
    }
  } catch (err) {
    if (err instanceof ImportFileError) throw err;
    // exceljs's own exception: a broken file, or a failure of exceljs's own (see guardTempFileStreams), which a second read escapes.
    throw new ImportFileError('invalid_xlsx', `the file is not a readable xlsx workbook: ${String((err as Error)?.message ?? err).slice(0, 300)}`, true);
  } finally {
    input.destroy();
    await events.return(undefined).catch(() => undefined);
    readsInProgress--;
    for (const file of tempFiles) tempFilesToDelete.add(file);
    if (readsInProgress === 0) {
      for (const file of tempFilesToDelete) {
        fs.rmSync(file, { force: true });
        trackedTempFiles.get(file)?.();
        trackedTempFiles.delete(file);
      }
      tempFilesToDelete.clear();
    }
  }
  if (seen.length === 0) throw new ImportFileError('invalid_xlsx', 'the workbook has no worksheet');
  throw new ImportFileError('unknown_sheet', `the workbook has no sheet named ${JSON.stringify(sheet)}; its sheets: ${seen.join(', ')}`);
}
