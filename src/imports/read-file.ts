import { Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HEADER_LIMITS, headerTooLarge, ImportFileError, readHeader, type HeaderRules, type Layout, type MappingEntry } from './columns';
import { stagedRowLine } from './copy-text';
import { CsvRecordReader } from './csv-records';
import { NDJSON_HEADER, NdjsonKeys, NdjsonRecordReader, type NdjsonProblem } from './ndjson-records';
import type { DetectedSource, ReadOptions } from './options';
import { rawIsRebuilt } from './raw-cells';
import { invalidRow, validateRow, type RowError, type RowOptions, type StagedRow } from './rows';
import { detectDelimiter, detectTextFormat, formatOfName, isZip, openDecoder, sepLine, SNIFF_BYTES, type ChunkDecoder } from './sniff';
import { readXlsx } from './xlsx-records';

/**
 * Streams an import file into COPY text for the staging table. The first SNIFF_BYTES of the file decide what it is
 * (sniff.ts; an option given wins): xlsx (a zip), ndjson (a first line that is a JSON object), else what the file
 * name's extension says, else csv; for text, the encoding and the delimiter. Then
 * bytes -> text in that encoding -> records (CSV, NDJSON lines or xlsx rows) -> the row rules -> batched COPY lines ->
 * `sink`. For text one synchronous transform does all of it (no per-row stream or promise), and nothing is kept per
 * row (duplicates are found in SQL afterwards), so memory stays flat whatever the file's size. A file-level problem
 * fails the pipeline with an ImportFileError.
 *
 * The sink never sees that error: a stream pipeline destroys every stream with the error that broke it, and the COPY
 * sink sends the error's message to Postgres as CopyFail. A message naming a header's columns could exceed what
 * Postgres reads in that message (10,000 bytes: it then drops the connection, "protocol synchronization was lost")
 * or hold a NUL; so the sink is given a fixed message, and the file error is thrown once the pipeline has ended.
 */

export interface ReadFileOptions extends ReadOptions {
  maxRows: number;
  /** Valid rows per chunk: the valid rows are numbered into chunks in file order as they are read. */
  chunkRows: number;
  /** Called every `progressEvery` data rows with the count so far (heartbeats). */
  onProgress?: (rows: number) => void;
  progressEvery?: number;
  /**
   * IMPORT_MAX_BYTES: an xlsx may unpack to at most 10x this much cell text (1x of shared strings), and the parts it
   * reads to at most 50x this many bytes of XML.
   */
  maxBytes?: number;
  /** How headers resolve besides the built-in synonyms (the upload's mapping, the saved ones, the preset). */
  header?: HeaderRules;
  /** The import's options for the row rules (default phone country, empty cells). */
  rows?: RowOptions;
  /** The import the rows are staged for: each COPY line then ends in its id and the row's first verdict (copy-text.ts). */
  importId?: string;
  /** The uploaded file's name: its extension gives the format when neither the options nor the content do. */
  fileName?: string;
  /** An earlier read found bytes that are not UTF-8 past the first ones (NotUtf8AfterAllError): windows-1252 unless given. */
  notUtf8?: boolean;
}

export interface ReadResult {
  /** Data rows read (blank rows are not counted). */
  dataRows: number;
  columns: string[];
  /** What the file was read as: detected, or given in the options. */
  source: DetectedSource;
  /** How each header was read. */
  mapping: MappingEntry[];
}

/**
 * COPY text handed on in batches of about this many characters. A batch is built of the rows' lines and lives until
 * it is handed on: at 256 Ki characters it outlived the worker's young generation (--max-semi-space-size=8), and the
 * scavenges that copied it took 730-800 ms of three stagings of 100,000 rows, against 180-195 ms at 64 Ki (16 Ki:
 * 190-210 ms; --trace-gc, read and COPY'd in-process with the worker's flags).
 */
const BATCH_CHARS = 64 * 1024;
const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;
/** What the sink is told when the file is rejected (short, plain ASCII: it may travel to Postgres as CopyFail). */
const FILE_REJECTED = 'import file rejected';

function isBlank(record: readonly string[]): boolean {
  for (const cell of record) if (cell.trim() !== '') return false;
  return true;
}

/** `row` made invalid with one more error (a row the file's shape breaks, whatever its values). */
function withError(row: StagedRow, error: RowError): StagedRow {
  return invalidRow({ ...row, errors: row.errors === null ? [error] : [...row.errors, error] });
}

/** Records in, COPY text out: the header, the row rules, the chunk numbers and the row count. */
class RowSink {
  layout: Layout | undefined;
  /** The column each header was read as, when a valid row's raw may be left out (./raw-cells.ts); else null. */
  private rawColumns: (string | null)[] | null = null;
  /** The spreadsheet row of the last record: the header is row 1. */
  rowNumber = 0;
  dataRows = 0;
  private validRows = 0;
  batch = '';

  constructor(private readonly options: ReadFileOptions) {}

  get columns(): string[] {
    return this.layout?.columns ?? [];
  }

  /** An NDJSON file's keys, which stand in for its header in `mapping`. */
  ndjsonKeys: NdjsonKeys | undefined;

  get mapping(): MappingEntry[] {
    return this.ndjsonKeys?.mapping ?? this.layout?.mapping ?? [];
  }

  /**
   * A record; `rowNumber` is the spreadsheet row (default: the next one); `tagsProblem`, an invalid_tags message
   * found before the record was made (an NDJSON `tags` list with a comma in a tag).
   */
  record(record: string[], line: number, rowNumber = ++this.rowNumber, tagsProblem?: string): void {
    if (isBlank(record)) return;
    if (this.layout === undefined) {
      this.layout = readHeader(record, this.options.header);
      // The column of each header, as the reads rebuild a row's cells (columnsOfHeaders). An NDJSON file never comes
      // here (its layout is set when it is detected), so its rows keep their raw: their cells are not the file's text.
      this.rawColumns = this.layout.mapping.map((entry) => entry.column);
      return;
    }
    let row = this.countRow(record, rowNumber);
    if (tagsProblem !== undefined && !row.errors?.some((e) => e.column === 'tags')) {
      row = withError(row, { column: 'tags', code: 'invalid_tags', message: tagsProblem });
    }
    if (record.length > this.layout.width) {
      this.add(
        withError(row, {
          column: '',
          code: 'too_many_fields',
          message: `line ${line} (row ${rowNumber}) has ${record.length} fields, the header has ${this.layout.width}`,
        }),
      );
      return;
    }
    if (row.errors === null && this.rawColumns && rawIsRebuilt(record, this.rawColumns, row)) row.raw = null;
    this.add(row);
  }

  /** A blank row: counted for the row numbers, nothing else. */
  blank(): void {
    this.rowNumber++;
  }

  /** A row that cannot be read at all (an NDJSON line that is not an object): a row error with the text as raw. */
  unreadable(code: NdjsonProblem, message: string, text: string): void {
    const rowNumber = ++this.rowNumber;
    this.countRow(null, rowNumber);
    this.add(
      invalidRow({
        rowNumber,
        vendorData: null,
        vendorDataKey: null,
        errors: [{ column: code === 'invalid_tags' ? 'tags' : '', code, message }],
        normalized: null,
        raw: [text.includes('\u0000') ? text.replaceAll('\u0000', '\uFFFD') : text],
      }),
    );
  }

  private countRow(record: string[], rowNumber: number): StagedRow;
  private countRow(record: null, rowNumber: number): null;
  private countRow(record: string[] | null, rowNumber: number): StagedRow | null {
    this.dataRows++;
    if (this.dataRows > this.options.maxRows) {
      throw new ImportFileError('too_many_rows', `the file has more than ${this.options.maxRows} rows (the limit, IMPORT_MAX_ROWS)`);
    }
    return record === null ? null : validateRow(record, this.layout!, rowNumber, this.options.rows);
  }

  private add(row: StagedRow): void {
    const chunkNo = row.errors === null ? Math.floor(this.validRows++ / this.options.chunkRows) : null;
    this.batch += stagedRowLine(row, chunkNo, this.options.importId);
    if (this.options.onProgress && this.dataRows % (this.options.progressEvery ?? 10_000) === 0) {
      this.options.onProgress(this.dataRows);
    }
  }

  /** Ends the file: empty_file or no_rows when it had no header or no rows. */
  end(): void {
    if (this.layout === undefined) throw new ImportFileError('empty_file', 'the file is empty');
    if (this.dataRows === 0) throw new ImportFileError('no_rows', 'the file has a header and no rows');
  }
}

interface TextReader {
  write(text: string): void;
  end(): void;
}

/** A text file's bytes (csv or ndjson) in, COPY text out. */
class TextImportTransform extends Transform {
  private decoder!: ChunkDecoder;
  private reader!: TextReader;
  readonly rows: RowSink;
  source!: DetectedSource;
  private bytes = 0;
  /** The file's first bytes, already read to detect what it is (the stream brings the rest); read on the first write. */
  private prefix: Buffer | undefined;
  /** The file-level problem, kept while the pipeline is failed with FILE_REJECTED. */
  fileError: ImportFileError | undefined;

  constructor(
    private readonly options: ReadFileOptions,
    prefix: Buffer,
  ) {
    super({ readableObjectMode: false, writableObjectMode: false });
    this.rows = new RowSink(options);
    this.prefix = prefix;
  }

  /** Detects what the prefix is and reads it, on the first write (or the flush): its errors fail the pipeline. */
  private writePrefix(): void {
    if (this.prefix === undefined) return;
    const prefix = this.prefix;
    this.prefix = undefined;
    const options = this.options;
    const { decoder, text } = openDecoder(prefix, options.encoding, options.notUtf8);
    this.decoder = decoder;
    this.bytes = prefix.length;
    const format = options.format === 'ndjson' || options.format === 'csv' ? options.format : textFormat(text, options.fileName);
    if (format === 'ndjson') {
      // The template's columns are the header, as if it were row 1: the first line is row 2, like a CSV's first row.
      // JSON values are not formula-escaped (API.md: the export writes NDJSON values as stored): read as given.
      this.rows.layout = { ...readHeader(NDJSON_HEADER), formulaEscaped: false };
      this.rows.rowNumber = 1;
      this.rows.ndjsonKeys = new NdjsonKeys(options.header);
      this.reader = new NdjsonRecordReader(
        this.rows.ndjsonKeys,
        (record, line, tagsProblem) => this.rows.record(record, line, undefined, tagsProblem),
        (code, message, raw) => this.rows.unreadable(code, message, raw),
        () => this.rows.blank(),
      );
      this.source = { format, encoding: decoder.encoding, delimiter: null, sheet: null };
      this.reader.write(text);
      return;
    }
    let start = 0;
    let delimiter = options.delimiter;
    const sep = sepLine(text);
    if (sep !== undefined) {
      delimiter ??= sep.delimiter;
      start = sep.rest;
    }
    delimiter ??= detectDelimiter(start === 0 ? text : text.slice(start));
    this.reader = new CsvRecordReader((record, line) => this.rows.record(record, line), delimiter, sep ? 2 : 1);
    this.source = { format: 'csv', encoding: decoder.encoding, delimiter, sheet: null };
    this.reader.write(start === 0 ? text : text.slice(start));
    this.checkHeader();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null, data?: string) => void): void {
    try {
      this.writePrefix();
      const text = this.decoder.write(chunk);
      this.bytes += chunk.length;
      this.reader.write(text);
      this.checkHeader();
      this.pushBatch(BATCH_CHARS);
      callback();
    } catch (err) {
      this.fail(err, callback);
    }
  }

  /** A header still unfinished past the limit: refused before the rest of it is held in memory. */
  private checkHeader(): void {
    if (this.rows.layout === undefined && this.bytes > HEADER_LIMITS.maxBytes) throw headerTooLarge();
  }

  private fail(err: unknown, callback: (err?: Error | null) => void): void {
    if (err instanceof ImportFileError) {
      this.fileError = err;
      callback(new Error(FILE_REJECTED));
      return;
    }
    callback(err as Error);
  }

  override _flush(callback: (err?: Error | null) => void): void {
    try {
      this.writePrefix();
      this.reader.write(this.decoder.end());
      this.reader.end();
      this.rows.end();
      this.pushBatch(1);
      callback();
    } catch (err) {
      this.fail(err, callback);
    }
  }

  private pushBatch(minChars: number): void {
    if (this.rows.batch.length >= minChars) {
      this.push(this.rows.batch);
      this.rows.batch = '';
    }
  }
}

/** A text file's format when none is given: ndjson when its first line is a JSON object, else the file name's, else csv. */
function textFormat(text: string, fileName: string | undefined): 'csv' | 'ndjson' {
  return detectTextFormat(text) === 'ndjson' || formatOfName(fileName) === 'ndjson' ? 'ndjson' : 'csv';
}

/**
 * The format of a file when none is given, as far as its first bytes tell before it is read: xlsx for a zip, or for
 * a file named `.xlsx` whose first line is not a JSON object; undefined: a text file (see textFormat).
 */
function binaryFormat(prefix: Buffer, options: ReadFileOptions): 'xlsx' | undefined {
  if (isZip(prefix)) return 'xlsx';
  if (formatOfName(options.fileName) !== 'xlsx') return undefined;
  try {
    return detectTextFormat(openDecoder(prefix, options.encoding, options.notUtf8).text) === 'ndjson' ? undefined : 'xlsx';
  } catch {
    // Not text in any encoding (invalid_encoding): nothing says it is not the workbook its name says.
    return 'xlsx';
  }
}

/** The first `bytes` of `source` (or all of it), and a stream of the rest (with or without that prefix). */
async function peek(source: Readable, bytes: number) {
  const it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  const parts: Buffer[] = [];
  let size = 0;
  let ended = false;
  while (size < bytes) {
    const next = await it.next();
    if (next.done) {
      ended = true;
      break;
    }
    const part = typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
    parts.push(part);
    size += part.length;
  }
  const prefix = parts.length === 1 ? parts[0] : Buffer.concat(parts);
  async function* rest(withPrefix: boolean) {
    if (withPrefix && prefix.length > 0) yield prefix;
    if (ended) return;
    try {
      for (;;) {
        const next = await it.next();
        if (next.done) return;
        yield next.value;
      }
    } finally {
      await it.return?.();
    }
  }
  return { prefix, rest: (withPrefix: boolean) => Readable.from(rest(withPrefix), { objectMode: false }) };
}

/** A file error, with what the file was read as when it was found (undefined: not known yet). */
function withSource(err: unknown, source: DetectedSource | undefined): unknown {
  if (err instanceof ImportFileError && source !== undefined) err.source ??= source;
  return err;
}

/**
 * Reads `source` (the stored file) and writes COPY lines of the staging table to the stream `openSink` returns.
 * The sink is opened in the same tick as the pipeline that listens to it: a COPY stream emits 'error' by itself
 * when its connection is lost (even before the first byte), and an error nobody hears ends the process.
 */
export async function readImportFile(source: Readable, openSink: () => Writable, options: ReadFileOptions): Promise<ReadResult> {
  const { prefix, rest } = await peek(source, SNIFF_BYTES);
  const format = options.format ?? binaryFormat(prefix, options);
  if (format === 'xlsx') return readXlsxFile(prefix, rest(true), openSink, options);
  const transform = new TextImportTransform(options, prefix);
  try {
    await pipeline(rest(false), transform, openSink());
  } catch (err) {
    throw withSource(transform.fileError ?? err, transform.source);
  }
  options.onProgress?.(transform.rows.dataRows);
  return { dataRows: transform.rows.dataRows, columns: transform.rows.columns, source: transform.source, mapping: transform.rows.mapping };
}

async function readXlsxFile(prefix: Buffer, input: Readable, openSink: () => Writable, options: ReadFileOptions): Promise<ReadResult> {
  const rows = new RowSink(options);
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const found = { sheet: '' };
  let fileError: ImportFileError | undefined;
  async function* copyText() {
    if (!isZip(prefix)) {
      // Without the option, only the name (.xlsx) made it a workbook: say how to read it as text.
      const hint = options.format === undefined ? '; its name says xlsx: if it is text, give format=csv or format=ndjson' : '';
      throw new ImportFileError('invalid_xlsx', `the file is not an xlsx workbook (not a zip archive)${hint}`);
    }
    const limits = { maxSharedChars: maxBytes, maxTextChars: 10 * maxBytes, maxUnpackedBytes: 50 * maxBytes };
    for await (const batch of readXlsx(input, options.sheet, limits, found)) {
      for (const [record, rowNumber] of batch) rows.record(record, rowNumber, rowNumber);
      if (rows.batch.length >= BATCH_CHARS) {
        yield rows.batch;
        rows.batch = '';
      }
    }
    rows.end();
    if (rows.batch.length > 0) yield rows.batch;
  }
  const guarded = async function* () {
    try {
      yield* copyText();
    } catch (err) {
      if (err instanceof ImportFileError) {
        fileError = err;
        throw new Error(FILE_REJECTED);
      }
      throw err;
    }
  };
  try {
    await pipeline(Readable.from(guarded(), { objectMode: false }), openSink());
  } catch (err) {
    input.destroy();
    throw withSource(fileError ?? err, { format: 'xlsx', encoding: null, delimiter: null, sheet: found.sheet || null });
  }
  options.onProgress?.(rows.dataRows);
  return {
    dataRows: rows.dataRows,
    columns: rows.columns,
    source: { format: 'xlsx', encoding: null, delimiter: null, sheet: found.sheet },
    mapping: rows.mapping,
  };
}
