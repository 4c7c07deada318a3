import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, PutObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import type { S3Storage } from './s3';
import type { AppendState, AppendWriter, CompositeState } from './storage';

/**
 * The two resumable S3 writers behind `openAppend` and `openCompositeRange`, and the part buffer they share.
 *
 * Why not @aws-sdk/lib-storage's Upload (which S3Storage.putStream does use): these writers checkpoint every part
 * into the activity's heartbeat and resume a multipart upload from those recorded parts after a crash, and a range of
 * a composite uploads into a block of part numbers of one shared upload; Upload can do neither. They also hold one
 * reused part buffer each, uploaded in turn: the S3 export benchmark (README, "Export") peaked at 243 MiB worker RSS
 * against a 256 MiB target, with no room for Upload's default of four parts in flight per range.
 */

/** S3's smallest part (except the last one of an upload). */
export const S3_MIN_PART_BYTES = 5 * 1024 * 1024;

/** The part being filled: one contiguous buffer, reused from part to part. */
class PartBuffer {
  private buffer: Buffer = Buffer.alloc(0);
  private filled = 0;

  constructor(private readonly partBytes: number) {}

  get bytes(): number {
    return this.filled;
  }

  /** Copies the chunk in (the caller may reuse its chunk at once). */
  append(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.filled + chunk.length > this.buffer.length) {
      // A part is cut as soon as it reaches partBytes, so it holds at most that and one more write.
      const grown = Buffer.allocUnsafe(Math.max(this.partBytes + 1024 * 1024, this.filled + chunk.length));
      this.buffer.copy(grown, 0, 0, this.filled);
      this.buffer = grown;
    }
    chunk.copy(this.buffer, this.filled);
    this.filled += chunk.length;
  }

  /** The bytes buffered, as a view (valid until the next append). */
  contents(): Buffer {
    return this.buffer.subarray(0, this.filled);
  }

  clear(): void {
    this.filled = 0;
  }

  release(): void {
    this.buffer = Buffer.alloc(0);
    this.filled = 0;
  }
}

/** Sends what `part` holds as part `partNumber` of the multipart upload, records the part in `state`, empties `part`. */
async function sendPart(storage: S3Storage, upload: { key: string; uploadId: string }, partNumber: number, part: PartBuffer, state: AppendState): Promise<void> {
  const body = part.contents();
  const result = await storage.client.send(
    new UploadPartCommand({
      Bucket: storage.bucket,
      Key: upload.key,
      UploadId: upload.uploadId,
      PartNumber: partNumber,
      Body: body,
      ContentLength: body.length,
    }),
  );
  state.parts!.push({ partNumber, etag: result.ETag!, bytes: body.length });
  state.bytes += body.length;
  part.clear();
}

/**
 * Appends to an object through a multipart upload: bytes are buffered and go up as a part at each checkpoint (at
 * least 5 MiB, as S3 wants of every part but the last). An object that never reaches a part goes up whole at close.
 */
export class S3AppendWriter implements AppendWriter {
  readonly minCheckpointBytes = S3_MIN_PART_BYTES;
  private readonly part: PartBuffer;
  private state: AppendState;

  constructor(
    private readonly storage: S3Storage,
    private readonly key: string,
    private readonly contentType: string,
    resume: AppendState,
  ) {
    this.part = new PartBuffer(storage.partBytes);
    this.state = { bytes: resume.bytes, uploadId: resume.uploadId, parts: resume.parts ?? [] };
  }

  get bytes(): number {
    return this.state.bytes + this.part.bytes;
  }

  get pendingBytes(): number {
    return this.part.bytes;
  }

  async write(chunk: Buffer): Promise<void> {
    this.part.append(chunk);
  }

  private async uploadPart(): Promise<void> {
    const client = this.storage.client;
    if (!this.state.uploadId) {
      const upload = await client.send(
        new CreateMultipartUploadCommand({ Bucket: this.storage.bucket, Key: this.key, ContentType: this.contentType }),
      );
      this.state.uploadId = upload.UploadId!;
    }
    const parts = this.state.parts!;
    const partNumber = parts.length + 1;
    if (partNumber > 10_000) throw new Error(`${this.key}: more than 10000 parts; raise EXPORT_CHECKPOINT_BYTES`);
    await sendPart(this.storage, { key: this.key, uploadId: this.state.uploadId }, partNumber, this.part, this.state);
  }

  async checkpoint(): Promise<AppendState> {
    if (this.part.bytes >= this.minCheckpointBytes) await this.uploadPart();
    return { bytes: this.state.bytes, uploadId: this.state.uploadId, parts: [...this.state.parts!] };
  }

  async close(): Promise<{ bytes: number; state: AppendState }> {
    const client = this.storage.client;
    if (!this.state.uploadId) {
      const body = this.part.contents();
      await client.send(
        new PutObjectCommand({ Bucket: this.storage.bucket, Key: this.key, Body: body, ContentType: this.contentType, ContentLength: body.length }),
      );
      this.part.clear();
      this.state.bytes = body.length;
      return { bytes: body.length, state: { bytes: body.length } };
    }
    if (this.part.bytes > 0) await this.uploadPart();
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: this.storage.bucket,
        Key: this.key,
        UploadId: this.state.uploadId,
        MultipartUpload: { Parts: this.state.parts!.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
      }),
    );
    return { bytes: this.state.bytes, state: { ...this.state, parts: [...this.state.parts!] } };
  }

  async release(): Promise<void> {
    this.part.release();
  }

  async abort(): Promise<void> {
    await this.release();
    if (this.state.uploadId) await this.storage.abortUpload(this.key, this.state.uploadId);
  }
}

/**
 * One range of a composite S3 object. Its first `partBytes` (for every range but the first) and its last bytes go to
 * scratch objects, since they may be too small to stand as parts between other ranges' parts; everything between
 * goes up as parts of the shared multipart upload, numbered within the range's block. Checkpoints are durable
 * pieces: the head object, then each part.
 */
export class S3CompositeRangeWriter implements AppendWriter {
  readonly minCheckpointBytes = S3_MIN_PART_BYTES;
  private readonly part: PartBuffer;
  private readonly state: AppendState;
  private readonly firstSlot: number;

  constructor(
    private readonly storage: S3Storage,
    private readonly composite: CompositeState,
    private readonly range: number,
    resume: AppendState,
  ) {
    this.part = new PartBuffer(storage.partBytes);
    this.state = { bytes: resume.bytes, parts: [...(resume.parts ?? [])], head: resume.head };
    this.firstSlot = range * composite.slotsPerRange! + 1;
  }

  get bytes(): number {
    return this.state.bytes + this.part.bytes;
  }

  get pendingBytes(): number {
    return this.part.bytes;
  }

  /** The first range has nothing before it: its first part can go up as a part at once. */
  private get needsHead(): boolean {
    return this.range > 0 && !this.state.head;
  }

  private scratchKey(name: 'head' | 'tail'): string {
    return `${this.composite.scratchPrefix}${String(this.range).padStart(5, '0')}.${name}`;
  }

  async write(chunk: Buffer): Promise<void> {
    this.part.append(chunk);
  }

  private async putScratch(name: 'head' | 'tail'): Promise<{ key: string; bytes: number }> {
    const key = this.scratchKey(name);
    const body = this.part.contents();
    await this.storage.client.send(
      new PutObjectCommand({ Bucket: this.storage.bucket, Key: key, Body: body, ContentLength: body.length }),
    );
    this.state.bytes += body.length;
    this.part.clear();
    return { key, bytes: body.length };
  }

  private async uploadPart(): Promise<void> {
    const parts = this.state.parts!;
    // After the first range's first part, or a later range's head, come its own part numbers.
    const partNumber = this.firstSlot + (this.range > 0 ? 1 : 0) + parts.length;
    if (partNumber >= this.firstSlot + this.composite.slotsPerRange!) {
      throw new Error(`range ${this.range} of ${this.composite.key} needs more than ${this.composite.slotsPerRange} parts; raise EXPORT_CHECKPOINT_BYTES or lower EXPORT_PART_ROWS`);
    }
    await sendPart(this.storage, { key: this.composite.key, uploadId: this.composite.uploadId! }, partNumber, this.part, this.state);
  }

  async checkpoint(): Promise<AppendState> {
    if (this.part.bytes >= Math.max(this.minCheckpointBytes, this.storage.partBytes)) {
      if (this.needsHead) this.state.head = await this.putScratch('head');
      else await this.uploadPart();
    }
    return { bytes: this.state.bytes, parts: [...this.state.parts!], head: this.state.head };
  }

  async close(): Promise<{ bytes: number; state: AppendState }> {
    if (this.part.bytes > 0) {
      if (this.needsHead) this.state.head = await this.putScratch('head');
      else this.state.tail = await this.putScratch('tail');
    }
    return { bytes: this.state.bytes, state: { bytes: this.state.bytes, parts: [...this.state.parts!], head: this.state.head, tail: this.state.tail } };
  }

  async release(): Promise<void> {
    this.part.release();
  }

  async abort(): Promise<void> {
    await this.release();
  }
}
