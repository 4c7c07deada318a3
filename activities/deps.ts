import type { Client } from '@temporalio/client';
import type { Config } from '../src/config';
import type { Db } from '../src/db/client';
import type { Mailer } from '../src/email/mailer';
import type { JobMetrics } from '../src/metrics/jobs';
import type { Storage } from '../src/storage';

/** What every activity may use, handed to createActivities once by the worker (no module-level singletons). */
export interface ActivityDeps {
  db: Db;
  storage: Storage;
  mailer: Mailer;
  config: Config;
  /** A Temporal client on the worker's connection: the reconciler reads and restarts workflows with it. */
  temporal: Client;
  /** Code run at points inside activities that no wrapper around an activity can reach. Production passes none. */
  hooks?: ActivityHooks;
  /**
   * The worker's job metrics (src/metrics/jobs.ts), counted where a job, a chunk or a range ends. The worker always
   * passes them; activities made without (activity tests) count nothing.
   */
  metrics?: JobMetrics;
}

/**
 * Seams inside the activities, for tests (production passes none): a test worker slows or watches the work at a point
 * in the middle of an activity, where an activity interceptor around the whole call cannot reach.
 */
export interface ActivityHooks {
  /** Runs inside a chunk's transaction after its upsert, just before the commit (writeImportChunk). */
  beforeChunkCommit?: (chunk: { importId: string; chunkNo: number }) => Promise<void>;
  /** Runs inside a chunk's undo transaction, just before its commit (undoImportChunk). */
  beforeUndoChunkCommit?: (chunk: { importId: string; chunkNo: number }) => Promise<void>;
}
