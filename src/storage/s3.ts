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
import { StorageNotFoundError, type AppendState, type AppendWriter, type SignedUrlOptions, type Storage } from './storage';

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
    this.partBytes = Math.max(S3_MIN_PART_BYTES, options.partBytes ?? 8 * 1024 * 1024);
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
      return await writer.close();
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
      const grown = Buffer.allocUnsafe(Math.max(this.storage.partBytes + 2 * 1024 * 1024, (this.bufferedBytes + chunk.length) * 2));
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

  async close(): Promise<{ bytes: number }> {
    const client = this.storage.client;
    if (!this.state.uploadId) {
      const body = this.part.subarray(0, this.bufferedBytes);
      await client.send(
        new PutObjectCommand({ Bucket: this.storage.bucket, Key: this.key, Body: body, ContentType: this.contentType, ContentLength: body.length }),
      );
      this.bufferedBytes = 0;
      this.state.bytes = body.length;
      return { bytes: body.length };
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
    return { bytes: this.state.bytes };
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
