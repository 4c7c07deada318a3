import { createHash, type Hash } from 'node:crypto';
import { pipeline, Transform, type Readable } from 'node:stream';
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
  ListPartsCommand,
  NoSuchKey,
  NoSuchUpload,
  NotFound,
  paginateListObjectsV2,
  paginateListParts,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { firstRangeHash, forgetFirstRangeHash, hashingFirstRange } from './first-range-hash';
import { S3AppendWriter, S3CompositeRangeWriter, S3_MIN_PART_BYTES } from './s3-writers';
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

export { S3_MIN_PART_BYTES };

const CSV = 'text/csv; charset=utf-8';
/** The media type of an export object, from its name (.csv, .ndjson, .gz). */
const contentTypeOfKey = (key: string) =>
  key.endsWith('.gz') ? 'application/gzip' : key.endsWith('.ndjson') ? 'application/x-ndjson; charset=utf-8' : CSV;

/**
 * A missing key, upload or bucket. The SDK's classes where S3 models the error; any other 404 too, since S3-compatible
 * stores (and HEAD requests, which have no body to name an error) answer some of these with a bare status.
 */
function isNotFound(err: unknown): boolean {
  if (err instanceof NoSuchKey || err instanceof NotFound || err instanceof NoSuchUpload) return true;
  return err instanceof S3ServiceException && err.$metadata?.httpStatusCode === 404;
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

  /**
   * One PutObject when the stream is smaller than a part, else a multipart upload (aborted if anything fails). One part
   * in flight at a time, as before lib-storage did this: an import file's upload holds one part in memory.
   */
  async putStream(key: string, body: Readable, options: { contentType?: string } = {}): Promise<{ bytes: number }> {
    let bytes = 0;
    const counted = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        bytes += chunk.length;
        done(null, chunk);
      },
    });
    pipeline(body, counted, () => undefined);
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: key, Body: counted, ContentType: options.contentType ?? CSV },
      partSize: this.partBytes,
      queueSize: 1,
    });
    await upload.done();
    return { bytes };
  }

  async getStream(key: string): Promise<Readable> {
    return this.objectStream(key);
  }

  /** The object's bytes, from `start` on when given. */
  private async objectStream(key: string, start?: number): Promise<Readable> {
    try {
      const range = start === undefined ? undefined : `bytes=${start}-`;
      const result = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: range }));
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
    for await (const page of paginateListObjectsV2({ client: this.client }, { Bucket: this.bucket, Prefix: prefix })) {
      for (const object of page.Contents ?? []) {
        if (object.Key) await this.delete(object.Key);
      }
    }
    const uploads = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: prefix }));
    for (const upload of uploads.Uploads ?? []) {
      if (upload.Key && upload.UploadId) await this.abortUpload(upload.Key, upload.UploadId);
    }
  }

  async removeAbandonedWrites(prefix: string, startedBefore: Date): Promise<number> {
    // The SDK has no paginator for ListMultipartUploads (it pages on two markers).
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

  async openAppend(key: string, resume?: AppendState): Promise<AppendWriter> {
    if (resume?.uploadId && resume.parts && resume.parts.length > 0) {
      if (await this.uploadHasParts(key, resume.uploadId, resume.parts)) {
        return new S3AppendWriter(this, key, CSV, { ...resume, parts: [...resume.parts] });
      }
      await this.abortUpload(key, resume.uploadId).catch(() => undefined);
    }
    return new S3AppendWriter(this, key, CSV, { bytes: 0 });
  }

  /** Whether the upload still exists with these parts (same ETags): then it can be resumed. */
  private async uploadHasParts(key: string, uploadId: string, parts: NonNullable<AppendState['parts']>): Promise<boolean> {
    const stored = new Map<number, string>();
    try {
      for await (const page of paginateListParts({ client: this.client }, { Bucket: this.bucket, Key: key, UploadId: uploadId })) {
        for (const part of page.Parts ?? []) {
          if (part.PartNumber !== undefined && part.ETag) stored.set(part.PartNumber, part.ETag);
        }
        // S3 gives a NextPartNumberMarker on the last page too; the paginator would ask for one more, empty page.
        if (!page.IsTruncated) break;
      }
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
    return parts.every((part) => stored.get(part.partNumber) === part.etag);
  }

  /** The SHA-256 of an object of `size` bytes; given a hash of its first `hashed.bytes` bytes, only the rest is read. */
  private async hashOf(key: string, size: number, hashed?: { hash: Hash; bytes: number }): Promise<string> {
    const hash = hashed?.hash ?? createHash('sha256');
    // (A range starting at the object's end would be refused: 416.)
    if (!hashed || hashed.bytes < size) {
      for await (const chunk of await this.objectStream(key, hashed?.bytes)) hash.update(chunk as Buffer);
    }
    return hash.digest('hex');
  }

  async createComposite(key: string, ranges: number, scratchPrefix: string): Promise<CompositeState> {
    const upload = await this.client.send(
      new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key, ContentType: contentTypeOfKey(key) }),
    );
    // Part numbers 1..10000: each range gets a block of them, and one more is left for the very last bytes.
    const slotsPerRange = Math.floor(9_999 / Math.max(1, ranges));
    if (slotsPerRange < 2) throw new Error(`an S3 object cannot be written in ${ranges} ranges (at most 4999)`);
    return { key, ranges, scratchPrefix, uploadId: upload.UploadId!, slotsPerRange };
  }

  async openCompositeRange(composite: CompositeState, range: number, resume?: AppendState): Promise<AppendWriter> {
    const resumable = resume !== undefined && resume.bytes > 0 && (await this.rangeResumable(composite, resume));
    return hashingFirstRange(composite, range, new S3CompositeRangeWriter(this, composite, range, resumable ? resume : { bytes: 0 }));
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
      if (stored?.bytes === bytes) return { bytes, sha256: await this.hashOf(composite.key, bytes, this.firstHashed(composite, ranges)) };
      throw new Error(`the upload of ${composite.key} is gone and the object is not whole`);
    }
    const slots = composite.slotsPerRange!;
    const parts: CompletedPart[] = [];
    // Scratch pieces (a range's last bytes, the next range's first ones) waiting to go up together as one part: their
    // keys and sizes, read into one buffer of the part's size only when it goes up (the pieces are up to a part each:
    // read whole and then joined, they took up to three times that at once).
    let pending: { key: string; bytes: number }[] = [];
    let pendingBytes = 0;
    const flush = async (partNumber: number) => {
      const body = Buffer.allocUnsafe(pendingBytes);
      let filled = 0;
      for (const piece of pending) {
        const end = filled + piece.bytes;
        for await (const chunk of await this.getStream(piece.key)) {
          const data = chunk as Buffer;
          if (filled + data.length > end) throw new Error(`${piece.key} holds more than the ${piece.bytes} bytes recorded`);
          filled += data.copy(body, filled);
        }
        if (filled !== end) throw new Error(`${piece.key} holds fewer than the ${piece.bytes} bytes recorded`);
      }
      const result = await this.client.send(
        new UploadPartCommand({ Bucket: this.bucket, Key: composite.key, UploadId: composite.uploadId, PartNumber: partNumber, Body: body, ContentLength: body.length }),
      );
      parts.push({ PartNumber: partNumber, ETag: result.ETag });
      pending = [];
      pendingBytes = 0;
    };
    const take = (piece: { key: string; bytes: number } | undefined) => {
      if (!piece) return;
      pending.push(piece);
      pendingBytes += piece.bytes;
    };
    for (const [r, range] of ranges.entries()) {
      take(range.head);
      // A range's own parts are each big enough; what waits before them must go up first, as one part.
      if (pendingBytes >= S3_MIN_PART_BYTES || (pendingBytes > 0 && (range.parts?.length ?? 0) > 0)) await flush(r * slots + 1);
      for (const part of range.parts ?? []) parts.push({ PartNumber: part.partNumber, ETag: part.etag });
      take(range.tail);
    }
    if (pendingBytes > 0 || parts.length === 0) await flush(ranges.length * slots + 1);
    parts.sort((a, b) => a.PartNumber! - b.PartNumber!);
    await this.client.send(
      new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: composite.key, UploadId: composite.uploadId, MultipartUpload: { Parts: parts } }),
    );
    // The parts could not be read before the upload was complete: the hash needs one pass over the object (but for
    // the first range, when this process hashed it as it was written).
    const sha256 = await this.hashOf(composite.key, bytes, this.firstHashed(composite, ranges));
    forgetFirstRangeHash(composite);
    return { bytes, sha256 };
  }

  private firstHashed(composite: CompositeState, ranges: AppendState[]): { hash: Hash; bytes: number } | undefined {
    const hash = firstRangeHash(composite, ranges[0]);
    return hash && { hash, bytes: ranges[0].bytes };
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
    forgetFirstRangeHash(composite);
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
      ResponseContentType: options.contentType ?? CSV,
    });
    return getSignedUrl(this.client, command, { expiresIn, signingDate: options.issuedAt });
  }

  close(): void {
    this.client.destroy();
  }
}
