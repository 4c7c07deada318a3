import type { Readable } from 'node:stream';

/**
 * Where files live: uploaded import files and export files. Local files under the data directory by default,
 * S3 (or an S3-compatible store) when S3_BUCKET is set.
 */
export interface Storage {
  readonly kind: 'local' | 's3';
  /** Stores a stream under a key, replacing what was there; resolves with the bytes written. */
  putStream(key: string, body: Readable, options?: { contentType?: string }): Promise<{ bytes: number }>;
  /** Streams a stored object; rejects with a StorageNotFoundError when there is none. */
  getStream(key: string): Promise<Readable>;
  /** Deletes an object; deleting a missing one is not an error. */
  delete(key: string): Promise<void>;
}

export class StorageNotFoundError extends Error {
  constructor(key: string) {
    super(`no stored object at ${key}`);
    this.name = 'StorageNotFoundError';
  }
}
