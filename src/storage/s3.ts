import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import {
  StorageNotFoundError,
  type AppendState,
  type AppendWriter,
  type CompositeState,
  type SignedUrlOptions,
  type Storage,
} from './storage';

export interface S3Settings {
  bucket: string;
  endpoint?: string;
  region: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  forcePathStyle: boolean;
}

/** S3's smallest part (except the last one of an upload) and largest copied part. */
export const S3_MIN_PART_BYTES = 5 * 1024 * 1024;
const S3_MAX_COPY_PART_BYTES = 5 * 1024 * 1024 * 1024;
const COPY_CONCURRENCY = 4;

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  return (
    e?.name === 'NoSuchKey' ||
    e?.name === 'NotFound' ||
    e?.name === 'NoSuchUpload' ||
    e?.Code === 'NoSuchKey' ||
    e?.$metadata?.httpStatusCode === 404
  );
}

function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

/**
 * Objects in an S3 bucket (or an S3-compatible store at `endpoint`, path style). Large objects go up as multipart
 * uploads; links are presigned GETs (SigV4, at most 7 days).
 */
export class S3Storage implements Storage {
  readonly kind = 's3' as const;
  readonly client: S3Client;
  readonly bucket: string;
  /** The size of the parts this storage uploads (at least S3's 5 MiB). */
  readonly partBytes: number;

  constructor(settings: S3Settings, options: { partBytes?: number } = {}) {
    this.bucket = settings.bucket;
    this.partBytes = Math.max(S3_MIN_PART_BYTES, options.partBytes ?? S3_MIN_PART_BYTES);
    this.client = new S3Client({
      region: settings.region,
      endpoint: settings.endpoint,
      forcePathStyle: settings.forcePathStyle,
      credentials:
        settings.accessKeyId && settings.secretAccessKey
          ? { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey }
          : undefined,
      // Checksums only where S3 requires them: S3-compatible stores differ in the trailers they accept, and
      // SigV4 already signs each payload's SHA-256.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  /** Creates the bucket unless it exists (development and tests; production buckets are provisioned). */
  async ensureBucket(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }));
    }
  }

  async putStream(key: string, body: Readable, options: { contentType?: string } = {}): Promise<{ bytes: number }> {
    const writer = await this.openAppend(key, undefined, options.contentType);
    try {
      for await (const chunk of body) {
        await writer.write(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
        if (writer.pendingBytes >= this.partBytes) await writer.checkpoint();
      }
      const { bytes } = await writer.close();
      return { bytes };
    } catch (err) {
      await writer.abort().catch(() => undefined);
      throw err;
    }
  }

  async getStream(key: string): Promise<Readable> {
    try {
      const result = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return result.Body as Readable;
    } catch (err) {
      if (isNotFound(err)) throw new StorageNotFoundError(key);
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  async stat(key: string): Promise<{ bytes: number } | undefined> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { bytes: head.ContentLength ?? 0 };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async deletePrefix(prefix: string): Promise<void> {
    if (!prefix.endsWith('/')) throw new Error(`a prefix to delete ends with "/": ${prefix}`);
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key) await this.delete(object.Key);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    const uploads = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: prefix }));
    for (const upload of uploads.Uploads ?? []) {
      if (upload.Key && upload.UploadId) await this.abortUpload(upload.Key, upload.UploadId);
    }
  }

  async removeAbandonedWrites(prefix: string, startedBefore: Date): Promise<number> {
    let removed = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const page = await this.client.send(
        new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }),
      );
      for (const upload of page.Uploads ?? []) {
        if (upload.Key && upload.UploadId && upload.Initiated && upload.Initiated < startedBefore) {
          await this.abortUpload(upload.Key, upload.UploadId);
          removed++;
        }
      }
      if (!page.IsTruncated) return removed;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  }

  async abortUpload(key: string, uploadId: string): Promise<void> {
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  async openAppend(key: string, resume?: AppendState, contentType = 'text/csv; charset=utf-8'): Promise<AppendWriter> {
    if (resume?.uploadId && resume.parts && resume.parts.length > 0) {
      if (await this.uploadHasParts(key, resume.uploadId, resume.parts)) {
        return new S3AppendWriter(this, key, contentType, { ...resume, parts: [...resume.parts] });
      }
      await this.abortUpload(key, resume.uploadId).catch(() => undefined);
    }
    return new S3AppendWriter(this, key, contentType, { bytes: 0 });
  }

  /** Whether the upload still exists with these parts (same ETags): then it can be resumed. */
  private async uploadHasParts(key: string, uploadId: string, parts: NonNullable<AppendState['parts']>): Promise<boolean> {
    const stored = new Map<number, string>();
    let marker: string | undefined;
    try {
      for (;;) {
        const page = await this.client.send(
          new ListPartsCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, PartNumberMarker: marker }),
        );
        for (const part of page.Parts ?? []) {
          if (part.PartNumber !== undefined && part.ETag) stored.set(part.PartNumber, part.ETag);
        }
        if (!page.IsTruncated || !page.NextPartNumberMarker) break;
        marker = page.NextPartNumberMarker;
      }
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
    return parts.every((part) => stored.get(part.partNumber) === part.etag);
  }

  async concat(target: string, sources: string[], options: { contentType?: string } = {}): Promise<{ bytes: number; sha256: string }> {
    const contentType = options.contentType ?? 'text/csv; charset=utf-8';
    const sizes = await Promise.all(
      sources.map(async (source) => {
        const info = await this.stat(source);
        if (!info) throw new StorageNotFoundError(source);
        return info.bytes;
      }),
    );
    const copyable =
      sources.length > 0 &&
      sizes.every((size, i) => size > 0 && size <= S3_MAX_COPY_PART_BYTES && (i === sizes.length - 1 || size >= S3_MIN_PART_BYTES));
    if (!copyable) return this.concatThroughHere(target, sources, contentType);

    // Server-side: one copied part per source, while the SHA-256 is computed from a read of the sources.
    const upload = await this.client.send(
      new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: target, ContentType: contentType }),
    );
    const uploadId = upload.UploadId!;
    try {
      const parts: CompletedPart[] = new Array(sources.length);
      let next = 0;
      const copyWorker = async () => {
        while (next < sources.length) {
          const index = next++;
          const result = await this.client.send(
            new UploadPartCopyCommand({
              Bucket: this.bucket,
              Key: target,
              UploadId: uploadId,
              PartNumber: index + 1,
              CopySource: copySource(this.bucket, sources[index]),
            }),
          );
          parts[index] = { PartNumber: index + 1, ETag: result.CopyPartResult?.ETag };
        }
      };
      const [sha256] = await Promise.all([
        this.hashOf(sources),
        ...Array.from({ length: Math.min(COPY_CONCURRENCY, sources.length) }, copyWorker),
      ]);
      await this.client.send(
        new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: target, UploadId: uploadId, MultipartUpload: { Parts: parts } }),
      );
      return { bytes: sizes.reduce((a, b) => a + b, 0), sha256 };
    } catch (err) {
      await this.abortUpload(target, uploadId).catch(() => undefined);
      throw err;
    }
  }

  /** Concatenation through this process: for sources too small to be parts of their own. */
  private async concatThroughHere(target: string, sources: string[], contentType: string) {
    const hash = createHash('sha256');
    const writer = await this.openAppend(target, undefined, contentType);
    try {
      for (const source of sources) {
        for await (const chunk of await this.getStream(source)) {
          hash.update(chunk as Buffer);
          await writer.write(chunk as Buffer);
          if (writer.pendingBytes >= this.partBytes) await writer.checkpoint();
        }
      }
      const { bytes } = await writer.close();
      return { bytes, sha256: hash.digest('hex') };
    } catch (err) {
      await writer.abort().catch(() => undefined);
      throw err;
    }
  }

  private async hashOf(keys: string[]): Promise<string> {
    const hash = createHash('sha256');
    for (const key of keys) {
      for await (const chunk of await this.getStream(key)) hash.update(chunk as Buffer);
    }
    return hash.digest('hex');
  }

  async createComposite(key: string, ranges: number, scratchPrefix: string): Promise<CompositeState> {
    const upload = await this.client.send(
      new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key, ContentType: 'text/csv; charset=utf-8' }),
    );
    // Part numbers 1..10000: each range gets a block of them, and one more is left for the very last bytes.
    const slotsPerRange = Math.floor(9_999 / Math.max(1, ranges));
    if (slotsPerRange < 2) throw new Error(`an S3 object cannot be written in ${ranges} ranges (at most 4999)`);
    return { key, ranges, scratchPrefix, uploadId: upload.UploadId!, slotsPerRange };
  }

  async openCompositeRange(composite: CompositeState, range: number, resume?: AppendState): Promise<AppendWriter> {
    if (resume && resume.bytes > 0 && (await this.rangeResumable(composite, resume))) {
      return new S3CompositeRangeWriter(this, composite, range, resume);
    }
    return new S3CompositeRangeWriter(this, composite, range, { bytes: 0 });
  }

  /** Whether the range's durable pieces are all still there (parts in the upload, head object). */
  private async rangeResumable(composite: CompositeState, state: AppendState): Promise<boolean> {
    if (state.head && !(await this.stat(state.head.key))) return false;
    if (!state.parts || state.parts.length === 0) return true;
    return this.uploadHasParts(composite.key, composite.uploadId!, state.parts);
  }

  async completeComposite(composite: CompositeState, ranges: AppendState[]): Promise<{ bytes: number; sha256: string }> {
    const bytes = ranges.reduce((sum, r) => sum + r.bytes, 0);
    const stored = await this.stat(composite.key);
    const alive = await this.uploadExists(composite.key, composite.uploadId!);
    if (!alive) {
      // Completed by an earlier attempt that did not get to record it.
      if (stored?.bytes === bytes) return { bytes, sha256: await this.hashOf([composite.key]) };
      throw new Error(`the upload of ${composite.key} is gone and the object is not whole`);
    }
    const slots = composite.slotsPerRange!;
    const parts: CompletedPart[] = [];
    // Scratch pieces (a range's last bytes, the next range's first ones) waiting to go up together as one part.
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = async (partNumber: number) => {
      const body = Buffer.concat(pending, pendingBytes);
      const result = await this.client.send(
        new UploadPartCommand({ Bucket: this.bucket, Key: composite.key, UploadId: composite.uploadId, PartNumber: partNumber, Body: body, ContentLength: body.length }),
      );
      parts.push({ PartNumber: partNumber, ETag: result.ETag });
      pending = [];
      pendingBytes = 0;
    };
    const take = async (piece: { key: string } | undefined) => {
      if (!piece) return;
      const chunks: Buffer[] = [];
      for await (const chunk of await this.getStream(piece.key)) chunks.push(chunk as Buffer);
      const data = Buffer.concat(chunks);
      pending.push(data);
      pendingBytes += data.length;
    };
    for (const [r, range] of ranges.entries()) {
      await take(range.head);
      // A range's own parts are each big enough; what waits before them must go up first, as one part.
      if (pendingBytes >= S3_MIN_PART_BYTES || (pendingBytes > 0 && (range.parts?.length ?? 0) > 0)) await flush(r * slots + 1);
      for (const part of range.parts ?? []) parts.push({ PartNumber: part.partNumber, ETag: part.etag });
      await take(range.tail);
    }
    if (pendingBytes > 0 || parts.length === 0) await flush(ranges.length * slots + 1);
    parts.sort((a, b) => a.PartNumber! - b.PartNumber!);
    await this.client.send(
      new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: composite.key, UploadId: composite.uploadId, MultipartUpload: { Parts: parts } }),
    );
    // The parts could not be read before the upload was complete: the hash needs one pass over the object.
    return { bytes, sha256: await this.hashOf([composite.key]) };
  }

  private async uploadExists(key: string, uploadId: string): Promise<boolean> {
    try {
      await this.client.send(new ListPartsCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, MaxParts: 1 }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async abortComposite(composite: CompositeState): Promise<void> {
    if (composite.uploadId) await this.abortUpload(composite.key, composite.uploadId);
    await this.deletePrefix(composite.scratchPrefix);
  }

  async signedUrl(key: string, options: SignedUrlOptions): Promise<string> {
    const expiresIn = Math.round((options.expiresAt.getTime() - options.issuedAt.getTime()) / 1000);
    if (expiresIn < 1 || expiresIn > 604_800) throw new Error(`a presigned link lasts 1 second to 7 days, not ${expiresIn} s`);
    const command = new GetObjectCommand({
      Bucket: this.bucket,
      Key: key,
      ResponseContentDisposition: `attachment; filename="${options.fileName.replace(/["\\]/g, '_')}"`,
      ResponseContentType: options.contentType ?? 'text/csv; charset=utf-8',
    });
    return getSignedUrl(this.client, command, { expiresIn, signingDate: options.issuedAt });
  }

  close(): void {
    this.client.destroy();
  }
}

/**
 * Appends to an object through a multipart upload: bytes are buffered and go up as a part at each checkpoint (at
 * least 5 MiB, as S3 wants of every part but the last). An object that never reaches a part goes up whole at close.
 */
class S3AppendWriter implements AppendWriter {
  readonly minCheckpointBytes = S3_MIN_PART_BYTES;
  /** The part being filled: one contiguous buffer, reused from part to part. */
  private part: Buffer = Buffer.alloc(0);
  private bufferedBytes = 0;
  private state: AppendState;

  constructor(
    private readonly storage: S3Storage,
    private readonly key: string,
    private readonly contentType: string,
    resume: AppendState,
  ) {
    this.state = { bytes: resume.bytes, uploadId: resume.uploadId, parts: resume.parts ?? [] };
  }

  get bytes(): number {
    return this.state.bytes + this.bufferedBytes;
  }

  get pendingBytes(): number {
    return this.bufferedBytes;
  }

  /** Copies the chunk into the part buffer (the caller may reuse its chunk at once). */
  async write(chunk: Buffer): Promise<void> {
    if (chunk.length === 0) return;
    if (this.bufferedBytes + chunk.length > this.part.length) {
      // A part is cut as soon as it reaches partBytes, so it holds at most that and one more write.
      const grown = Buffer.allocUnsafe(Math.max(this.storage.partBytes + 1024 * 1024, this.bufferedBytes + chunk.length));
      this.part.copy(grown, 0, 0, this.bufferedBytes);
      this.part = grown;
    }
    chunk.copy(this.part, this.bufferedBytes);
    this.bufferedBytes += chunk.length;
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
    const body = this.part.subarray(0, this.bufferedBytes);
    const result = await client.send(
      new UploadPartCommand({
        Bucket: this.storage.bucket,
        Key: this.key,
        UploadId: this.state.uploadId,
        PartNumber: partNumber,
        Body: body,
        ContentLength: body.length,
      }),
    );
    parts.push({ partNumber, etag: result.ETag!, bytes: body.length });
    this.state.bytes += body.length;
    this.bufferedBytes = 0;
  }

  async checkpoint(): Promise<AppendState> {
    if (this.bufferedBytes >= this.minCheckpointBytes) await this.uploadPart();
    return { bytes: this.state.bytes, uploadId: this.state.uploadId, parts: [...this.state.parts!] };
  }

  async close(): Promise<{ bytes: number; state: AppendState }> {
    const client = this.storage.client;
    if (!this.state.uploadId) {
      const body = this.part.subarray(0, this.bufferedBytes);
      await client.send(
        new PutObjectCommand({ Bucket: this.storage.bucket, Key: this.key, Body: body, ContentType: this.contentType, ContentLength: body.length }),
      );
      this.bufferedBytes = 0;
      this.state.bytes = body.length;
      return { bytes: body.length, state: { bytes: body.length } };
    }
    if (this.bufferedBytes > 0) await this.uploadPart();
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
    this.part = Buffer.alloc(0);
    this.bufferedBytes = 0;
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
class S3CompositeRangeWriter implements AppendWriter {
  readonly minCheckpointBytes = S3_MIN_PART_BYTES;
  private part: Buffer = Buffer.alloc(0);
  private bufferedBytes = 0;
  private readonly state: AppendState;
  private readonly firstSlot: number;

  constructor(
    private readonly storage: S3Storage,
    private readonly composite: CompositeState,
    private readonly range: number,
    resume: AppendState,
  ) {
    this.state = { bytes: resume.bytes, parts: [...(resume.parts ?? [])], head: resume.head };
    this.firstSlot = range * composite.slotsPerRange! + 1;
  }

  get bytes(): number {
    return this.state.bytes + this.bufferedBytes;
  }

  get pendingBytes(): number {
    return this.bufferedBytes;
  }

  /** The first range has nothing before it: its first part can go up as a part at once. */
  private get needsHead(): boolean {
    return this.range > 0 && !this.state.head;
  }

  private scratchKey(name: 'head' | 'tail'): string {
    return `${this.composite.scratchPrefix}${String(this.range).padStart(5, '0')}.${name}`;
  }

  async write(chunk: Buffer): Promise<void> {
    if (chunk.length === 0) return;
    if (this.bufferedBytes + chunk.length > this.part.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.storage.partBytes + 1024 * 1024, this.bufferedBytes + chunk.length));
      this.part.copy(grown, 0, 0, this.bufferedBytes);
      this.part = grown;
    }
    chunk.copy(this.part, this.bufferedBytes);
    this.bufferedBytes += chunk.length;
  }

  private async putScratch(name: 'head' | 'tail'): Promise<{ key: string; bytes: number }> {
    const key = this.scratchKey(name);
    const body = this.part.subarray(0, this.bufferedBytes);
    await this.storage.client.send(
      new PutObjectCommand({ Bucket: this.storage.bucket, Key: key, Body: body, ContentLength: body.length }),
    );
    this.state.bytes += body.length;
    this.bufferedBytes = 0;
    return { key, bytes: body.length };
  }

  private async uploadPart(): Promise<void> {
    const parts = this.state.parts!;
    // After the first range's first part, or a later range's head, come its own part numbers.
    const partNumber = this.firstSlot + (this.range > 0 ? 1 : 0) + parts.length;
    if (partNumber >= this.firstSlot + this.composite.slotsPerRange!) {
      throw new Error(`range ${this.range} of ${this.composite.key} needs more than ${this.composite.slotsPerRange} parts; raise EXPORT_CHECKPOINT_BYTES or lower EXPORT_PART_ROWS`);
    }
    const body = this.part.subarray(0, this.bufferedBytes);
    const result = await this.storage.client.send(
      new UploadPartCommand({
        Bucket: this.storage.bucket,
        Key: this.composite.key,
        UploadId: this.composite.uploadId,
        PartNumber: partNumber,
        Body: body,
        ContentLength: body.length,
      }),
    );
    parts.push({ partNumber, etag: result.ETag!, bytes: body.length });
    this.state.bytes += body.length;
    this.bufferedBytes = 0;
  }

  async checkpoint(): Promise<AppendState> {
    if (this.bufferedBytes >= Math.max(this.minCheckpointBytes, this.storage.partBytes)) {
      if (this.needsHead) this.state.head = await this.putScratch('head');
      else await this.uploadPart();
    }
    return { bytes: this.state.bytes, parts: [...this.state.parts!], head: this.state.head };
  }

  async close(): Promise<{ bytes: number; state: AppendState }> {
    if (this.bufferedBytes > 0) {
      if (this.needsHead) this.state.head = await this.putScratch('head');
      else this.state.tail = await this.putScratch('tail');
    }
    return { bytes: this.state.bytes, state: { bytes: this.state.bytes, parts: [...this.state.parts!], head: this.state.head, tail: this.state.tail } };
  }

  async release(): Promise<void> {
    this.part = Buffer.alloc(0);
    this.bufferedBytes = 0;
  }

  async abort(): Promise<void> {
    await this.release();
  }
}
