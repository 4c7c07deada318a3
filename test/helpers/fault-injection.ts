import { AsyncLocalStorage } from 'node:async_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import { sql } from 'drizzle-orm';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import type { ActivityHooks } from '../../activities';
import type { FinishImportResult } from '../../activities/imports';
import type { Db } from '../../src/db/client';
import type { AppendWriter, Storage } from '../../src/storage';
import type { WorkerOptions } from '../../src/worker';

/**
 * Test faults, injected by the test workers (test/helpers/stack.ts, test/helpers/worker-child.ts) around the same
 * activities production runs: an activity interceptor, the chunk writer's beforeChunkCommit seam and a slowed storage.
 *
 * An import's own rows say what to do. A row whose vendor_data starts with
 * - `test-fault:fail-<n>`: its chunk's first n attempts throw before writing. Attempts are counted in
 *   import_chunks.attempts (outside the write's transaction), so the count survives a retry run's new activity
 *   executions and a worker restart; the tests also read it (a chunk tried and not committed is in flight);
 * - `test-fault:delay-<ms>`: its chunk holds its transaction open that long after the upsert, before the commit;
 * - `test-fault:undo-delay-<ms>`: the undo of its chunk holds its transaction open that long before the commit;
 * - `test-fault:validate-delay-<ms>`: the validation returns that long after its verdict was committed;
 * - `test-fault:finish-delay-<ms>`: a finish that ended COMPLETED_WITH_ERRORS returns that long after its commit (the
 *   import shows its final status while its run is still open).
 * The rows are imported like any other.
 *
 * Exports: `TEST_EXPORT_CHUNK_DELAY_MS` (the test worker's environment, or the stack's `env`) pauses each range
 * between two of its writes, so there is time to kill something mid-export.
 */

const MARKER = 'test-fault:';

/** The environment variable that slows export ranges (milliseconds between two writes of a range). */
export const EXPORT_DELAY_ENV = 'TEST_EXPORT_CHUNK_DELAY_MS';

/** What the worker factory takes to run with the test faults (see the module comment). */
export function faultInjection(
  db: Db,
  storage: Storage,
  env: Record<string, string | undefined>,
): Required<Pick<WorkerOptions, 'storage' | 'activityHooks' | 'activityInterceptors'>> {
  const exportDelayMs = Number(env[EXPORT_DELAY_ENV] ?? 0);
  return {
    storage: exportDelayMs > 0 ? withSlowRanges(storage, exportDelayMs) : storage,
    activityHooks: chunkHooks,
    activityInterceptors: [faultInterceptor(db)],
  };
}

/** The delay of the chunk write running in this async context (set by the interceptor, read in the transaction). */
const chunkDelay = new AsyncLocalStorage<number>();

const chunkHooks: ActivityHooks = {
  async beforeChunkCommit() {
    const delayMs = chunkDelay.getStore() ?? 0;
    if (delayMs > 0) await sleep(delayMs);
  },
  async beforeUndoChunkCommit() {
    const delayMs = chunkDelay.getStore() ?? 0;
    if (delayMs > 0) await sleep(delayMs);
  },
};

/** Counts an attempt at a chunk (outside the write's transaction, so a rolled-back attempt still counts). */
async function countChunkAttempt(db: Db, importId: string, chunkNo: number): Promise<number> {
  const result = await db.execute<{ attempts: number }>(sql`
    UPDATE import_chunks SET attempts = attempts + 1 WHERE import_id = ${importId} AND chunk_no = ${chunkNo}
    RETURNING attempts`);
  return result.rows[0]?.attempts ?? 0;
}

/** The `fail-<n>` and `delay-<ms>` markers among a chunk's rows (the largest of each). */
async function chunkFaults(db: Db, importId: string, chunkNo: number) {
  const result = await db.execute<{ key: string }>(sql`
    SELECT r.vendor_data_key AS key FROM import_chunks c
    JOIN import_rows r ON r.import_id = c.import_id AND r.row_number BETWEEN c.first_row AND c.last_row
    WHERE c.import_id = ${importId} AND c.chunk_no = ${chunkNo} AND r.chunk_no = ${chunkNo}
      AND r.vendor_data_key LIKE ${`${MARKER}%`}`);
  let failUntilAttempt = 0;
  let delayMs = 0;
  let undoDelayMs = 0;
  for (const { key } of result.rows) {
    const undoDelay = /^test-fault:undo-delay-(\d+)/.exec(key);
    if (undoDelay) undoDelayMs = Math.max(undoDelayMs, Number(undoDelay[1]));
    const fail = /^test-fault:fail-(\d+)/.exec(key);
    if (fail) failUntilAttempt = Math.max(failUntilAttempt, Number(fail[1]));
    const delay = /^test-fault:delay-(\d+)/.exec(key);
    if (delay) delayMs = Math.max(delayMs, Number(delay[1]));
  }
  return { failUntilAttempt, delayMs, undoDelayMs };
}

/** The `validate-delay-<ms>` or `finish-delay-<ms>` marker of an import (0 without one). */
async function markerDelay(db: Db, importId: string, kind: 'validate' | 'finish'): Promise<number> {
  const result = await db.execute<{ key: string }>(sql`
    SELECT vendor_data_key AS key FROM import_rows
    WHERE import_id = ${importId} AND vendor_data_key LIKE ${`${MARKER}${kind}-delay-%`} LIMIT 1`);
  const match = new RegExp(`^test-fault:${kind}-delay-(\\d+)`).exec(result.rows[0]?.key ?? '');
  return match ? Number(match[1]) : 0;
}

/** The activity interceptor that acts on the import markers; other activities pass through untouched. */
function faultInterceptor(db: Db): ActivityInterceptorsFactory {
  return (ctx) => ({
    inbound: {
      async execute(input, next) {
        switch (ctx.info.activityType) {
          case 'writeImportChunk': {
            const { importId, chunkNo } = input.args[0] as { importId: string; chunkNo: number };
            const attempt = await countChunkAttempt(db, importId, chunkNo);
            const faults = await chunkFaults(db, importId, chunkNo);
            if (attempt <= faults.failUntilAttempt) {
              throw new Error(`test fault: chunk ${chunkNo} fails its first ${faults.failUntilAttempt} attempts (this is attempt ${attempt})`);
            }
            return chunkDelay.run(faults.delayMs, () => next(input));
          }
          case 'undoImportChunk': {
            const { importId, chunkNo } = input.args[0] as { importId: string; chunkNo: number };
            const faults = await chunkFaults(db, importId, chunkNo);
            return chunkDelay.run(faults.undoDelayMs, () => next(input));
          }
          case 'validateImport': {
            const { importId } = input.args[0] as { importId: string };
            const verdict = await next(input);
            const delayMs = await markerDelay(db, importId, 'validate');
            if (delayMs === 0) return verdict;
            await sleep(delayMs);
            // The verdict as the import stands now (RUNNING when a confirm came in meanwhile): the activity, called
            // again on an import it has validated, reads it back and writes nothing.
            return next(input);
          }
          case 'finishImport': {
            const { importId } = input.args[0] as { importId: string };
            const result = (await next(input)) as FinishImportResult;
            if (result.status === 'COMPLETED_WITH_ERRORS') await sleep(await markerDelay(db, importId, 'finish'));
            return result;
          }
          default:
            return next(input);
        }
      },
    },
  });
}

/** A storage whose export range writers pause `delayMs` between two writes: after each block but the last (and the header). */
function withSlowRanges(storage: Storage, delayMs: number): Storage {
  return new Proxy(storage, {
    get(target, property) {
      if (property === 'openCompositeRange') {
        return async (...args: Parameters<Storage['openCompositeRange']>) => pausing(await target.openCompositeRange(...args), delayMs);
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

function pausing(writer: AppendWriter, delayMs: number): AppendWriter {
  let written = false;
  return {
    get bytes() {
      return writer.bytes;
    },
    get pendingBytes() {
      return writer.pendingBytes;
    },
    get minCheckpointBytes() {
      return writer.minCheckpointBytes;
    },
    async write(chunk) {
      if (written) {
        await sleep(delayMs);
        // As the range writer does before each block: a cancellation that came in during the pause stops it here.
        const signal = Context.current().cancellationSignal;
        if (signal.aborted) throw signal.reason ?? new Error('cancelled');
      }
      written = true;
      await writer.write(chunk);
    },
    checkpoint: () => writer.checkpoint(),
    close: () => writer.close(),
    release: () => writer.release(),
    abort: () => writer.abort(),
  };
}
