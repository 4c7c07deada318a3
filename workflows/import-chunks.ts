import { ActivityFailure, proxyActivities, setCurrentDetails, setHandler } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { FAILURE_TYPES, LEGACY_FAILURE_TYPES } from './definitions';
import {
  cancelImportSignal,
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
 * stops new chunks from starting. A retry of this workflow is a new run that writes the chunks still PENDING.
 */
export async function importChunksWorkflow(input: ImportChunksInput): Promise<ImportChunksResult> {
  let cancelled = false;
  setHandler(cancelImportSignal, () => {
    cancelled = true;
  });
  let next = 0;
  let completed = 0;
  let failed = 0;
  const report = () =>
    setCurrentDetails(
      `${completed + failed} of ${input.chunks.length} chunks in this batch done` +
        (failed > 0 ? `, ${failed} failed` : '') +
        (cancelled ? ' (cancelled: no new chunks start)' : ''),
    );

  const writeOne = async (chunk: ImportChunkRef) => {
    try {
      const result = await writeImportChunk.executeWithOptions(
        { summary: `chunk ${chunk.chunkNo + 1} of ${input.chunksTotal}, rows ${chunk.firstRow}-${chunk.lastRow}` },
        [{ importId: input.importId, chunkNo: chunk.chunkNo }],
      );
      if (result.outcome === 'skipped_cancelled') cancelled = true;
      else completed++;
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      await recordImportChunkFailure.executeWithOptions({ summary: `record chunk ${chunk.chunkNo + 1} as failed` }, [
        { importId: input.importId, chunkNo: chunk.chunkNo, message: rootMessage(err) },
      ]);
      failed++;
    }
    report();
  };

  const lane = async () => {
    while (!cancelled && next < input.chunks.length) {
      await writeOne(input.chunks[next++]);
    }
  };
  report();
  await Promise.all(Array.from({ length: Math.max(1, Math.min(input.concurrency, input.chunks.length)) }, lane));
  return { completed, failed, cancelled };
}
