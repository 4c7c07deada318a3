import type { Readable } from 'node:stream';

/**
 * Where files live: uploaded import files and export files. Local files under the data directory by default,
 * S3 (or an S3-compatible store) when S3_BUCKET is set. Keys are relative paths such as `exports/<app>/<id>/x.csv`.
 */
export interface Storage {
  readonly kind: 'local' | 's3';
  /** Stores a stream under a key, replacing what was there; resolves with the bytes written. */
  putStream(key: string, body: Readable, options?: { contentType?: string }): Promise<{ bytes: number }>;
  /** Streams a stored object; rejects with a StorageNotFoundError when there is none. */
  getStream(key: string): Promise<Readable>;
  /** Deletes an object; deleting a missing one is not an error. */
  delete(key: string): Promise<void>;
  /** The object's size, or undefined when there is none. */
  stat(key: string): Promise<{ bytes: number } | undefined>;
  /** Deletes every object (and unfinished upload) whose key starts with `prefix` (a "directory", ending in `/`). */
  deletePrefix(prefix: string): Promise<void>;
  /**
   * Removes what writes under `prefix` that never finished left behind (a process killed mid-upload): temporary files
   * of local storage, unfinished multipart uploads on S3, begun before `startedBefore`. Returns how many it removed.
   */
  removeAbandonedWrites(prefix: string, startedBefore: Date): Promise<number>;
  /**
   * Opens an object that is written by appending, in a way a later attempt can resume: `checkpoint()` makes what
   * was written durable and returns the state to hand back here. Given a state it can no longer resume from (the
   * object or upload is gone), it starts the object afresh: the writer's `bytes` is then 0, so the caller knows.
   */
  openAppend(key: string, resume?: AppendState): Promise<AppendWriter>;
  /**
   * A URL that downloads the object without other credentials from `issuedAt` until `expiresAt`, and fails after
   * it or when altered. The same arguments give the same URL. `baseUrl` is where the API answers (local files).
   */
  signedUrl(key: string, options: SignedUrlOptions): Promise<string>;

  /**
   * Starts an object written as `ranges` consecutive pieces by writers running in parallel, then joined by
   * completeComposite. Local files: one file per range under `scratchPrefix`, joined by concatenation. S3: one multipart
   * upload whose parts the ranges upload directly, in part numbers set aside for each; the first and last bytes of
   * each range (which may be too small for parts of their own) wait under `scratchPrefix` and are joined into parts
   * at completion. The state is JSON, kept by the caller.
   */
  createComposite(key: string, ranges: number, scratchPrefix: string): Promise<CompositeState>;
  /** A resumable writer for one range (as openAppend); its `close()` returns the state completeComposite needs. */
  openCompositeRange(composite: CompositeState, range: number, resume?: AppendState): Promise<AppendWriter>;
  /**
   * Joins the ranges (their closing states, in order) into the object; returns its size and SHA-256. Safe to call
   * again after a crash; the scratch objects are left for the caller to delete.
   */
  completeComposite(composite: CompositeState, ranges: AppendState[]): Promise<{ bytes: number; sha256: string }>;
  /** Gives a composite up: its upload and scratch objects are deleted. */
  abortComposite(composite: CompositeState): Promise<void>;
}

export interface CompositeState {
  key: string;
  ranges: number;
  scratchPrefix: string;
  /** S3: the multipart upload, and how many part numbers each range may use. */
  uploadId?: string;
  slotsPerRange?: number;
}

export interface SignedUrlOptions {
  issuedAt: Date;
  expiresAt: Date;
  /** The name a browser saves the file under. */
  fileName: string;
  baseUrl: string;
  contentType?: string;
}

/** Where an append-written object stands; JSON, so it travels in heartbeat details and the database. */
export interface AppendState {
  /** Bytes that are durable. */
  bytes: number;
  /** S3: the multipart upload and its parts so far. */
  uploadId?: string;
  parts?: { partNumber: number; etag: string; bytes: number }[];
  /** S3 composite range: its first and last bytes, kept as scratch objects until completion. */
  head?: { key: string; bytes: number };
  tail?: { key: string; bytes: number };
  /** A composite's first range, closed by a writer that hashed it on the way (./first-range-hash.ts). */
  hashedAs?: string;
}

export interface AppendWriter {
  /** Bytes written so far (durable or not). */
  readonly bytes: number;
  /** Bytes written since the last checkpoint. */
  readonly pendingBytes: number;
  /** The least a checkpoint needs to make written bytes durable (S3: the minimum part size); 0 when any will do. */
  readonly minCheckpointBytes: number;
  /** Appends `chunk`; the writer keeps no reference to it once the promise resolves (the caller may reuse it). */
  write(chunk: Buffer): Promise<void>;
  /**
   * Makes the bytes written so far durable and returns the state to resume from. With fewer than
   * minCheckpointBytes pending it returns the previous durable state instead.
   */
  checkpoint(): Promise<AppendState>;
  /** Finishes the object (or the composite's range); returns its size and final state. */
  close(): Promise<{ bytes: number; state: AppendState }>;
  /** Lets go of the writer (an attempt that failed): what was checkpointed stays, for a resume. */
  release(): Promise<void>;
  /** Gives up for good: discards what was written (file, multipart upload); the object is not created. */
  abort(): Promise<void>;
}

export class StorageNotFoundError extends Error {
  constructor(key: string) {
    super(`no stored object at ${key}`);
    this.name = 'StorageNotFoundError';
  }
}
