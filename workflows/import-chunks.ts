import { ActivityFailure, condition, patched, proxyActivities, setCurrentDetails, setHandler } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { describeRate, FAILURE_TYPES, LEGACY_FAILURE_TYPES, type WriteRate } from './definitions';
import {
  cancelImportSignal,
  chunkWindowSignal,
  rootMessage,
  type ImportChunkRef,
  type ImportChunksInput,
  type ImportChunksResult,
} from './import-definitions';

const { writeImportChunk } = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '10 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    maximumAttempts: 4,
    nonRetryableErrorTypes: [FAILURE_TYPES.importChunkNotFound, LEGACY_FAILURE_TYPES.importChunkNotFound],
  },
});

const { recordImportChunkFailure } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

/**
 * Writes a batch of an import's chunks (at most a hundred, so this run's history stays small) with a bounded
 * window of chunk activities. A chunk that exhausts its retries is recorded FAILED and the others go on; a cancel
 * stops new chunks from starting, and so does a pause (chunkWindowSignal) until the resume; the signal also resizes
 * the window, the chunks in flight finishing. A retry of this workflow is a new run that writes the chunks still
 * PENDING.
 */
export async function importChunksWorkflow(input: ImportChunksInput): Promise<ImportChunksResult> {
  let cancelled = false;
  let paused = input.paused ?? false;
  let concurrency = input.concurrency;
  let inFlight = 0;
  let next = 0;
  let completed = 0;
  let failed = 0;
  // The import's write rate as the last chunk's activity read it from the database (none before the first).
  let rate: WriteRate | undefined;
  const report = () =>
    setCurrentDetails(
      `${completed + failed} of ${input.chunks.length} chunks in this batch done` +
        (failed > 0 ? `, ${failed} failed` : '') +
        describeRate(rate) +
        (cancelled ? ' (cancelled: no new chunks start)' : paused ? ` (PAUSED: no new chunks start; ${inFlight} in flight)` : '') +
        `; window ${concurrency}`,
    );
  setHandler(cancelImportSignal, () => {
    cancelled = true;
  });
  setHandler(chunkWindowSignal, (window) => {
    paused = window.paused;
    concurrency = window.concurrency;
    report();
  });

  const writeOne = async (chunk: ImportChunkRef) => {
    try {
      const result = await writeImportChunk.executeWithOptions(
        { summary: `chunk ${chunk.chunkNo + 1} of ${input.chunksTotal}, rows ${chunk.firstRow}-${chunk.lastRow}` },
        [{ importId: input.importId, chunkNo: chunk.chunkNo }],
      );
      if (result.outcome === 'skipped_cancelled') cancelled = true;
      else completed++;
      if (result.rate) rate = result.rate;
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      await recordImportChunkFailure.executeWithOptions({ summary: `record chunk ${chunk.chunkNo + 1} as failed` }, [
        { importId: input.importId, chunkNo: chunk.chunkNo, message: rootMessage(err) },
      ]);
      failed++;
    }
    report();
  };

  report();
  if (patched('import-chunks-window')) {
    // A window that a pause closes and a resize changes while the batch runs: each chunk starts when a place is free.
    let failure: unknown;
    const running = new Set<Promise<void>>();
    while (next < input.chunks.length) {
      await condition(() => cancelled || failure !== undefined || (!paused && inFlight < Math.max(1, concurrency)));
      if (cancelled || failure !== undefined) break;
      const chunk = input.chunks[next++];
      inFlight++;
      const written: Promise<void> = writeOne(chunk)
        .catch((err: unknown) => {
          failure ??= err;
        })
        .finally(() => {
          inFlight--;
          running.delete(written);
          report();
        });
      running.add(written);
    }
    await Promise.all([...running]);
    if (failure !== undefined) throw failure;
    return { completed, failed, cancelled, ...(rate ? { rate } : {}) };
  }
  const lane = async () => {
    while (!cancelled && next < input.chunks.length) {
      await writeOne(input.chunks[next++]);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(input.concurrency, input.chunks.length)) }, lane));
  return { completed, failed, cancelled, ...(rate ? { rate } : {}) };
}
