import type { Pool, PoolClient } from 'pg';
import type { AppendState, AppendWriter } from '../storage';
import { CopyOutRecords, type RecordBlock } from './copy-out';
import { NdjsonRecordWriter } from './ndjson';
import { idIsFirstCell, inExportSession, keyOf, NDJSON_ID_SEPARATOR, ndjsonFields, rangeCopySql, type RangeQuery, type RowKey } from './sql';

/** Where a range stands after a checkpoint: what is durable in storage, and the last row it holds. */
export interface RangeCheckpoint {
  writer: AppendState;
  rows: number;
  lastKey?: RowKey;
}

export interface WriteRangeParams {
  pool: Pool;
  /** Opens the writer of this range (given a checkpoint, it resumes there). */
  open(resume?: AppendState): Promise<AppendWriter>;
  query: Omit<RangeQuery, 'after'>;
  /** Written first when the range starts from scratch (the first range carries the header row, and the BOM). */
  header?: string;
  /**
   * Applied to every chunk before it is written (gzip: each chunk becomes a gzip member of its own, and concatenated
   * members are one valid gzip file, so a range resumed at a checkpoint, or joined to the next, stays valid).
   * With a transform, the header is written even when empty (an empty gzip member makes an empty file valid gzip).
   */
  transform?: (chunk: Buffer) => Promise<Buffer>;
  resume?: RangeCheckpoint;
  /** Bytes between checkpoints (raised to what the storage needs). */
  checkpointBytes: number;
  onCheckpoint(checkpoint: RangeCheckpoint): Promise<void>;
  /** Called for every chunk (a liveness signal; the caller throttles its heartbeats). */
  onChunk?(): void;
  signal?: AbortSignal;
}

export interface WriteRangeResult {
  rows: number;
  bytes: number;
  /** The writer's closing state (what the storage needs to join the ranges). */
  state: AppendState;
  /** The rows the range started from (0 unless it resumed a checkpoint). */
  resumedAtRows: number;
}

/** Records are handed over in blocks of this size, a few of them queued while one is written. */
const BLOCK_BYTES = 256 * 1024;
const QUEUED_BLOCKS = 4;

/**
 * Streams one keyset range of an export into one object: Postgres formats the rows (COPY; for NDJSON the worker
 * writes the JSON of Postgres's COPY text, see ./ndjson.ts), CopyOutRecords hands them
 * over as records, the storage's append writer takes them. Every `checkpointBytes` the written bytes are made durable
 * and the checkpoint (bytes, rows, last key) handed to `onCheckpoint`; given one back as `resume`, the range goes on
 * after that key, on top of those bytes, so the object ends up with every row once. Memory holds one block and,
 * for S3, one part.
 */
export async function writeRange(params: WriteRangeParams): Promise<WriteRangeResult> {
  const writer = await params.open(params.resume?.writer);
  const resumed = writer.bytes > 0 && params.resume !== undefined;
  let rows = resumed ? params.resume!.rows : 0;
  let lastKey = resumed ? params.resume!.lastKey : undefined;
  const resumedAtRows = rows;
  const checkpointBytes = Math.max(params.checkpointBytes, writer.minCheckpointBytes);

  let client: PoolClient | undefined;
  let clientBroken = false;
  try {
    const write = params.transform
      ? async (chunk: Buffer) => writer.write(await params.transform!(chunk))
      : (chunk: Buffer) => writer.write(chunk);
    if (!resumed && params.header !== undefined && (params.header !== '' || params.transform)) {
      await write(Buffer.from(params.header, 'utf8'));
    }
    const sqlText = rangeCopySql({ ...params.query, after: lastKey });
    const ndjson = params.query.format === 'ndjson';
    client = await params.pool.connect();
    const connection = client;
    await inExportSession(connection, async () => {
      // Blocks no larger than a quarter of a checkpoint, so checkpoints come as often as asked.
      const blockBytes = Math.max(4096, Math.min(BLOCK_BYTES, Math.floor(checkpointBytes / 4)));
      const copy = connection.query(
        new CopyOutRecords(
          sqlText,
          blockBytes,
          QUEUED_BLOCKS,
          {
            idIsFirstCell: idIsFirstCell(params.query),
            ...(ndjson ? { separator: NDJSON_ID_SEPARATOR, writer: new NdjsonRecordWriter(ndjsonFields(params.query.columns)) } : {}),
          },
        ),
      );
      let pendingRows = 0;
      let lastId: string | undefined;

      const checkpoint = async () => {
        rows += pendingRows;
        pendingRows = 0;
        if (writer.pendingBytes >= checkpointBytes && lastId) {
          const state = await writer.checkpoint();
          if (state.bytes === writer.bytes) {
            // The resume point: the last written user's key (created_at never changes, so it is read back here).
            lastKey = await keyOf(params.pool, lastId);
            if (!lastKey) throw new Error(`user ${lastId} vanished during the export; the range resumes from its last checkpoint`);
            await params.onCheckpoint({ writer: state, rows, lastKey });
          }
        }
        if (params.signal?.aborted) throw params.signal.reason ?? new Error('cancelled');
      };

      try {
        for await (const item of copy) {
          const block = item as RecordBlock;
          if (params.signal?.aborted) throw params.signal.reason ?? new Error('cancelled');
          await write(block.data);
          block.release();
          pendingRows += block.rows;
          lastId = block.lastId;
          await checkpoint();
          params.onChunk?.();
        }
        await checkpoint();
      } catch (err) {
        clientBroken = true;
        copy.destroy();
        throw err;
      }
    }, { broken: () => clientBroken });
    const { bytes, state } = await writer.close();
    return { rows, bytes, state, resumedAtRows };
  } catch (err) {
    await writer.release().catch(() => undefined);
    throw err;
  } finally {
    // A connection left in the middle of a COPY cannot go back to the pool.
    client?.release(clientBroken ? true : undefined);
  }
}
