import { Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HEADER_LIMITS, headerTooLarge, ImportFileError, readHeader, type HeaderRules, type Layout, type MappingEntry } from './columns';
import { stagedRowLine } from './copy-text';
import { CsvRecordReader } from './csv-records';
import { validateRow, type RowOptions } from './rows';

/**
 * Streams an import file into COPY text for the staging table: bytes -> strict UTF-8 -> CSV records -> the row rules
 * -> batched COPY lines -> `sink`. One synchronous transform does all of it (no per-row stream or promise), and
 * nothing is kept per row (duplicates are found in SQL afterwards), so memory stays flat whatever the file's size.
 * A file-level problem fails the pipeline with an ImportFileError.
 *
 * The sink never sees that error: a stream pipeline destroys every stream with the error that broke it, and the COPY
 * sink sends the error's message to Postgres as CopyFail. A message naming a header's columns could exceed what
 * Postgres reads in that message (10,000 bytes: it then drops the connection, "protocol synchronization was lost")
 * or hold a NUL; so the sink is given a fixed message, and the file error is thrown once the pipeline has ended.
 */

export interface ReadOptions {
  maxRows: number;
  /** Valid rows per chunk: the valid rows are numbered into chunks in file order as they are read. */
  chunkRows: number;
  /** Called every `progressEvery` data rows with the count so far (heartbeats). */
  onProgress?: (rows: number) => void;
  progressEvery?: number;
  /** How headers resolve besides the built-in synonyms (the upload's mapping, the saved ones, the preset). */
  header?: HeaderRules;
  /** The import's options for the row rules (default phone country, empty cells). */
  rows?: RowOptions;
}

export interface ReadResult {
  /** Data rows read (blank rows are not counted). */
  dataRows: number;
  columns: string[];
  /** How each header was read. */
  mapping: MappingEntry[];
}

const BATCH_CHARS = 256 * 1024;
/** What the sink is told when the file is rejected (short, plain ASCII: it may travel to Postgres as CopyFail). */
const FILE_REJECTED = 'import file rejected';

function isBlank(record: readonly string[]): boolean {
  for (const cell of record) if (cell.trim() !== '') return false;
  return true;
}

/** The file's bytes in, COPY text out. */
class ImportFileTransform extends Transform {
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  private readonly reader: CsvRecordReader;
  private bytes = 0;
  private layout: Layout | undefined;
  private rowNumber = 0;
  dataRows = 0;
  private validRows = 0;
  private batch = '';
  /** The file-level problem, kept while the pipeline is failed with FILE_REJECTED. */
  fileError: ImportFileError | undefined;

  constructor(private readonly options: ReadOptions) {
    super({ readableObjectMode: false, writableObjectMode: false });
    this.reader = new CsvRecordReader((record, line) => this.onRecord(record, line));
  }

  get columns(): string[] {
    return this.layout?.columns ?? [];
  }

  get mapping(): MappingEntry[] {
    return this.layout?.mapping ?? [];
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null, data?: string) => void): void {
    try {
      let text: string;
      try {
        text = this.decoder.decode(chunk, { stream: true });
      } catch {
        throw new ImportFileError(
          'invalid_encoding',
          `the file is not UTF-8: an invalid byte sequence within bytes ${this.bytes}-${this.bytes + chunk.length - 1}`,
        );
      }
      this.bytes += chunk.length;
      this.reader.write(text);
      // A header still unfinished past the limit: refused before the rest of it is held in memory.
      if (this.layout === undefined && this.bytes > HEADER_LIMITS.maxBytes) throw headerTooLarge();
      this.pushBatch(BATCH_CHARS);
      callback();
    } catch (err) {
      this.fail(err, callback);
    }
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
      let rest: string;
      try {
        rest = this.decoder.decode();
      } catch {
        throw new ImportFileError('invalid_encoding', 'the file is not UTF-8: it ends inside a multi-byte character');
      }
      this.reader.write(rest);
      this.reader.end();
      if (this.layout === undefined) throw new ImportFileError('empty_file', 'the file is empty');
      if (this.dataRows === 0) throw new ImportFileError('no_rows', 'the file has a header and no rows');
      this.pushBatch(1);
      callback();
    } catch (err) {
      this.fail(err, callback);
    }
  }

  private onRecord(record: string[], line: number): void {
    this.rowNumber++;
    if (isBlank(record)) return;
    if (this.layout === undefined) {
      this.layout = readHeader(record, this.options.header);
      return;
    }
    if (record.length !== this.layout.width) {
      throw new ImportFileError(
        'malformed_csv',
        `line ${line} (row ${this.rowNumber}) has ${record.length} fields, the header has ${this.layout.width}`,
      );
    }
    this.dataRows++;
    if (this.dataRows > this.options.maxRows) {
      throw new ImportFileError('too_many_rows', `the file has more than ${this.options.maxRows} rows (the limit, IMPORT_MAX_ROWS)`);
    }
    const row = validateRow(record, this.layout, this.rowNumber, this.options.rows);
    const chunkNo = row.errors === null ? Math.floor(this.validRows++ / this.options.chunkRows) : null;
    this.batch += stagedRowLine(row, chunkNo);
    if (this.options.onProgress && this.dataRows % (this.options.progressEvery ?? 10_000) === 0) {
      this.options.onProgress(this.dataRows);
    }
  }

  private pushBatch(minChars: number): void {
    if (this.batch.length >= minChars) {
      this.push(this.batch);
      this.batch = '';
    }
  }
}

/** Reads `source` (the stored file) and writes COPY lines of the staging table to `sink`. */
export async function readImportFile(source: Readable, sink: Writable, options: ReadOptions): Promise<ReadResult> {
  const transform = new ImportFileTransform(options);
  try {
    await pipeline(source, transform, sink);
  } catch (err) {
    throw transform.fileError ?? err;
  }
  options.onProgress?.(transform.dataRows);
  return { dataRows: transform.dataRows, columns: transform.columns, mapping: transform.mapping };
}
