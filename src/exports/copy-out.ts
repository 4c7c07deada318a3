import { Readable } from 'node:stream';
import type { Connection, Submittable } from 'pg';

/**
 * Reads the rows of a `COPY (SELECT id, cells...) TO STDOUT WITH (FORMAT csv)` straight off the connection and
 * hands them on as the export's records, in blocks: each record without its leading id (kept when it is the first
 * cell as well) and ended by CRLF, as RFC 4180 has it, with the id of the block's last record (where a resumed range
 * goes on).
 *
 * The protocol sends exactly one CopyData message per row ("always one per row", PostgreSQL's protocol-flow
 * documentation), so a record's end is its message's end: no CSV has to be parsed here, however many quoted line
 * breaks the cells hold. The id is a UUID, never quoted, so the cells start after the first comma. This follows
 * pg-copy-streams' copy-to (which joins the messages into one byte stream, losing exactly these boundaries): it takes
 * the socket over from pg while the COPY runs and gives it back at CopyDone or an error.
 *
 * Blocks come from a small pool the consumer gives back with `release()`, so a long export allocates nothing
 * per row or per block beyond the socket's own reads.
 *
 * Given a `writer`, each row (COPY text of an NDJSON range, see ./ndjson.ts) is written by it instead of copied.
 */

const COPY_DATA = 0x64; // 'd'
const COPY_DONE = 0x63; // 'c'
const ERROR_RESPONSE = 0x45; // 'E'
const COMMA = 0x2c;
const CR = 0x0d;
const LF = 0x0a;
/** Room past the block size, so a block is cut after the row that fills it rather than before. */
const SLACK_BYTES = 64 * 1024;

export interface RecordBlock {
  /** Whole records, each ending in CRLF. */
  data: Buffer;
  rows: number;
  /** The id of the block's last user. */
  lastId: string;
  /** Gives the block's buffer back once `data` has been written. */
  release(): void;
}

/** Writes a record of its own from a row's cells (the NDJSON writer of ./ndjson.ts). */
export interface RecordWriter {
  /** The most bytes the record of a row of `rowBytes` may take. */
  maxBytes(rowBytes: number): number;
  /** Writes the record of `source[start, stop)` into `out` at `at`; returns where it ends. */
  write(source: Buffer, start: number, stop: number, out: Buffer, at: number): number;
}

/** The parts of pg's Connection this uses (as pg-copy-streams does). */
interface PgSocket {
  listeners(event: 'data'): ((chunk: Buffer) => void)[];
  removeListener(event: string, listener: (...args: never[]) => void): unknown;
  on(event: string, listener: (...args: never[]) => void): unknown;
  addListener(event: string, listener: (...args: never[]) => void): unknown;
  read(): Buffer | null;
  pause(): unknown;
  resume(): unknown;
}
interface PgConnection {
  stream: PgSocket;
  query(text: string): void;
}

export class CopyOutRecords extends Readable implements Submittable {
  /** Rows the server reported (CommandComplete). */
  rowCount = 0;
  private connection?: PgConnection;
  private pgDataHandler?: (chunk: Buffer) => void;
  private readonly onReadable = () => this.forward();
  private drained = false;
  private forwarding = false;
  private done = false;
  /** A message cut by the end of a socket read. */
  private pending: Buffer | undefined;
  private readonly free: Buffer[] = [];
  private block: Buffer | undefined;
  private length = 0;
  private rows = 0;
  private lastIdStart = -1;
  private lastIdEnd = -1;
  private lastIdBuffer: Buffer | undefined;

  private readonly separator: number;
  private readonly writer: RecordWriter | undefined;
  private readonly idIsFirstCell: boolean;

  /**
   * `options.separator`: the byte between the id and the rest (a comma; NDJSON ranges' COPY text has a tab);
   * `options.writer`: writes each record (else the row's bytes are the record, ended by CRLF);
   * `options.idIsFirstCell`: the id is the record's first cell too (the export's first column is `id`), so it is kept.
   */
  constructor(
    private readonly text: string,
    private readonly blockBytes = 256 * 1024,
    queuedBlocks = 4,
    options: { separator?: number; writer?: RecordWriter; idIsFirstCell?: boolean } = {},
  ) {
    super({ objectMode: true, highWaterMark: queuedBlocks });
    this.separator = options.separator ?? COMMA;
    this.writer = options.writer;
    this.idIsFirstCell = options.idIsFirstCell ?? false;
  }

  /** Called by pg when the query is sent (the Submittable interface). */
  submit(pgConnection: Connection): void {
    const connection = pgConnection as unknown as PgConnection;
    this.connection = connection;
    const stream = connection.stream;
    const listeners = stream.listeners('data');
    if (listeners.length !== 1) throw new Error('unexpected pg connection: not one data listener');
    this.pgDataHandler = listeners[0];
    stream.removeListener('data', this.pgDataHandler);
    stream.pause();
    stream.on('readable', this.onReadable);
    connection.query(this.text);
  }

  override _read(): void {
    this.drained = true;
    this.forward();
  }

  private forward(): void {
    if (this.forwarding || !this.drained || !this.connection || this.done) return;
    this.forwarding = true;
    const stream = this.connection.stream;
    let chunk: Buffer | null;
    while (this.drained && !this.done && (chunk = stream.read()) !== null) this.parse(chunk);
    this.forwarding = false;
  }

  private parse(chunk: Buffer): void {
    let from = 0;
    if (this.pending) {
      // Finish the message the last read cut, copying only its own bytes (not the whole new read).
      let head = this.pending;
      if (head.length < 5) {
        const take = Math.min(5 - head.length, chunk.length);
        head = Buffer.concat([head, chunk.subarray(0, take)]);
        from = take;
        if (head.length < 5) {
          this.pending = head;
          return;
        }
      }
      if (head[0] !== COPY_DATA) {
        // The end of the COPY or an error: rare enough for the simple way.
        this.pending = undefined;
        this.parseFrom(Buffer.concat([head, chunk.subarray(from)]), 0);
        return;
      }
      const total = 1 + head.readUInt32BE(1);
      const need = total - head.length;
      if (chunk.length - from < need) {
        this.pending = Buffer.concat([head, chunk.subarray(from)]);
        return;
      }
      this.pending = undefined;
      this.record(Buffer.concat([head, chunk.subarray(from, from + need)]), 5, total);
      from += need;
    }
    this.parseFrom(chunk, from);
  }

  private parseFrom(buf: Buffer, from: number): void {
    let p = from;
    const end = buf.length;
    while (p + 5 <= end && !this.destroyed) {
      const code = buf[p];
      const total = 1 + buf.readUInt32BE(p + 1);
      if (code === ERROR_RESPONSE) {
        // pg reads the error and reports it through handleError.
        this.detach(buf.subarray(p));
        return;
      }
      if (p + total > end) break;
      if (code === COPY_DATA) {
        this.record(buf, p + 5, p + total);
      } else if (code === COPY_DONE) {
        this.pushBlock();
        this.done = true;
        // CommandComplete and ReadyForQuery follow: pg handles them.
        this.detach(buf.subarray(p + total));
        this.push(null);
        return;
      }
      // Anything else (CopyOutResponse, a notice, a parameter status) carries nothing for us.
      p += total;
    }
    if (p < end) this.pending = Buffer.from(buf.subarray(p));
  }

  /** One row: `id,cells...\n` from `start` to `stop` (exclusive). */
  private record(buf: Buffer, start: number, stop: number): void {
    let comma = buf.indexOf(this.separator, start);
    // A record of the id alone (the only column) has no separator.
    if (this.idIsFirstCell && (comma < 0 || comma >= stop)) comma = stop - 1;
    if (comma < 0 || comma >= stop || comma === start || buf[stop - 1] !== LF) {
      this.destroy(new Error('unexpected COPY output: a row without its id'));
      return;
    }
    const from = this.idIsFirstCell ? start : comma + 1;
    const cells = stop - 1 - from;
    const room = this.writer ? this.writer.maxBytes(cells) : cells + 2;
    if (this.block && this.length + room > this.block.length) this.pushBlock();
    if (!this.block) {
      this.block = this.free.pop() ?? Buffer.allocUnsafe(this.blockBytes + SLACK_BYTES);
      if (this.block.length < room) this.block = Buffer.allocUnsafe(room);
      this.length = 0;
    }
    if (this.writer) {
      try {
        this.length = this.writer.write(buf, from, stop - 1, this.block, this.length);
      } catch (err) {
        this.destroy(err as Error);
        return;
      }
    } else {
      buf.copy(this.block, this.length, from, stop - 1);
      this.length += cells;
      this.block[this.length++] = CR;
      this.block[this.length++] = LF;
    }
    this.rows++;
    this.lastIdBuffer = buf;
    this.lastIdStart = start;
    this.lastIdEnd = comma;
    if (this.length >= this.blockBytes) this.pushBlock();
  }

  private pushBlock(): void {
    if (!this.block || this.rows === 0) return;
    const buffer = this.block;
    const block: RecordBlock = {
      data: buffer.subarray(0, this.length),
      rows: this.rows,
      lastId: this.lastIdBuffer!.toString('latin1', this.lastIdStart, this.lastIdEnd),
      release: () => {
        if (buffer.length === this.blockBytes + SLACK_BYTES && this.free.length < 2) this.free.push(buffer);
      },
    };
    this.block = undefined;
    this.length = 0;
    this.rows = 0;
    this.lastIdBuffer = undefined;
    this.drained = this.push(block);
  }

  /** Gives the socket back to pg, with the bytes that are pg's to read. */
  private detach(rest: Buffer): void {
    const connection = this.connection;
    if (!connection || !this.pgDataHandler) return;
    const stream = connection.stream;
    stream.removeListener('readable', this.onReadable);
    stream.addListener('data', this.pgDataHandler);
    if (rest.length > 0) this.pgDataHandler(rest);
    this.pgDataHandler = undefined;
    process.nextTick(() => stream.resume());
  }

  /** pg: the query failed. */
  handleError(err: Error): void {
    this.destroy(err);
  }

  /** pg: `COPY n`. */
  handleCommandComplete(message: { text?: string }): void {
    const match = /COPY (\d+)/.exec(message?.text ?? '');
    if (match) this.rowCount = Number(match[1]);
  }

  handleReadyForQuery(): void {}
}
