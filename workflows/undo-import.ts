import { condition, continueAsNew, proxyActivities, setCurrentDetails, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { UndoImportInput, UndoImportResult } from './import-definitions';

// Each chunk's undo is one transaction, idempotent: retried until it commits (the undo must finish).
const { undoImportChunk } = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

const { listImportUndoChunks, finishImportUndo } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

const DEFAULT_CHUNKS_PER_RUN = 200;
const LIST_BATCH = 100;

/**
 * The undo of an import (API.md "Controlling imports"): the chunks with images still to undo, a window of
 * `concurrency` chunk activities at a time, each putting back its updated users, deleting its created ones and
 * marking the users changed since as conflicts; then UNDONE with the audit entry. After `chunksPerRun` chunks (or
 * when Temporal suggests it) it continues as new from where it is, so the history stays small. A retry of any step
 * finds its work done in the database (each image's outcome is set with its user's change) and does the rest.
 */
export async function undoImportWorkflow(input: UndoImportInput): Promise<UndoImportResult> {
  const perRun = input.chunksPerRun ?? DEFAULT_CHUNKS_PER_RUN;
  let after = input.afterChunkNo ?? -1;
  let done = 0;
  let inFlight = 0;
  const report = () => setCurrentDetails(`undo: ${done} chunk(s) undone in this run, ${inFlight} in flight (after chunk ${after + 1})`);
  report();
  for (;;) {
    const chunks = await listImportUndoChunks({ importId: input.importId, afterChunkNo: after, limit: LIST_BATCH });
    if (chunks.length === 0) break;
    const running = new Set<Promise<void>>();
    for (const chunkNo of chunks) {
      await condition(() => inFlight < Math.max(1, input.concurrency));
      inFlight++;
      const one: Promise<void> = undoImportChunk
        .executeWithOptions({ summary: `undo chunk ${chunkNo + 1}` }, [{ importId: input.importId, chunkNo }])
        .then(() => {
          done++;
        })
        .finally(() => {
          inFlight--;
          running.delete(one);
          report();
        });
      running.add(one);
    }
    await Promise.all([...running]);
    after = chunks[chunks.length - 1];
    if (done >= perRun || workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof undoImportWorkflow>({ ...input, afterChunkNo: after });
    }
  }
  return finishImportUndo({ importId: input.importId });
}
