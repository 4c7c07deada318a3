import {
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  startChild,
  workflowInfo,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { FAILURE_TYPES, LEGACY_FAILURE_TYPES } from './definitions';
import { importChunksWorkflow } from './import-chunks';
import {
  cancelImportSignal,
  confirmImportSignal,
  importProgressQuery,
  retryImportSignal,
  rootMessage,
  type ImportProgress,
  type ImportUsersInput,
  type ImportUsersResult,
} from './import-definitions';

const { validateImport } = proxyActivities<Activities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', maximumInterval: '1 minute', maximumAttempts: 5, nonRetryableErrorTypes: [FAILURE_TYPES.importFileMissing, LEGACY_FAILURE_TYPES.importFileMissing] },
});

const { expireImport, listImportChunks, finishImport, failImport, markImportCancelled } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 10 },
});

const DEFAULT_CHUNKS_PER_CHILD = 100;

function shortId(id: string): string {
  return `${id.slice(0, 8)}…`;
}

/**
 * The import of a CSV file of users: validate and stage it, wait for the operator's confirm or cancel (or expire),
 * write the chunks through child workflows of at most a hundred chunks each (every run's history stays far below
 * 10,240 events even at a million rows), then record the outcome and the audit entry. In `retry` mode it writes only
 * the chunks that are PENDING again. A retry of a run replays it; the activities are idempotent.
 */
export async function importUsersWorkflow(input: ImportUsersInput): Promise<ImportUsersResult> {
  let retryRequested: string | undefined;
  setHandler(retryImportSignal, ({ requestId }) => {
    if (requestId !== input.retryRequestId) retryRequested = requestId;
  });
  const result = await importOnce(input);
  // A retry was asked for while this run was closing: the retry is this workflow's next run.
  if (retryRequested !== undefined) {
    await continueAsNew<typeof importUsersWorkflow>({ ...input, mode: 'retry', retryRequestId: retryRequested });
  }
  return result;
}

async function importOnce(input: ImportUsersInput): Promise<ImportUsersResult> {
  const { importId } = input;
  const info = workflowInfo();
  const runKey = `${info.workflowId}:${info.runId}`;
  let confirmed = false;
  let cancelled = false;
  let child: ChildWorkflowHandle<typeof importChunksWorkflow> | undefined;
  const progress: ImportProgress = { phase: 'validating', chunksTotal: 0, chunksDone: 0, chunksFailed: 0 };

  setHandler(confirmImportSignal, () => {
    confirmed = true;
  });
  setHandler(cancelImportSignal, () => {
    cancelled = true;
    child?.signal(cancelImportSignal).catch(() => undefined);
  });
  setHandler(importProgressQuery, () => progress);

  const finish = async (): Promise<ImportUsersResult> => {
    progress.phase = 'finishing';
    const result = await finishImport({ importId, runKey });
    progress.phase = 'done';
    setCurrentDetails(`Finished: ${result.status}`);
    return result;
  };

  try {
    if (input.mode === 'import') {
      setCurrentDetails('Validating the file');
      const verdict = await validateImport({ importId });
      // RUNNING: the operator confirmed between the verdict's commit and this activity's return (the signal came in).
      if (verdict.status !== 'AWAITING_CONFIRMATION' && verdict.status !== 'RUNNING') return await finish();
      progress.phase = 'awaiting_confirmation';
      progress.chunksTotal = verdict.chunksTotal;
      setCurrentDetails(
        `Awaiting confirmation: ${verdict.totalRows} rows (${verdict.toCreate} to create, ${verdict.toUpdate} to update, ` +
          `${verdict.toUnchanged} unchanged, ${verdict.invalidRows} invalid)`,
      );
      const decided = await condition(() => confirmed || cancelled, input.confirmTimeoutMs);
      if (!decided) {
        // The timer fired; a confirm may still have reached the database first (the signal is then on its way).
        const status = await expireImport({ importId });
        if (status !== 'RUNNING') return await finish();
      } else if (cancelled) {
        return await finish();
      }
    }

    progress.phase = 'writing';
    const { total: chunksTotal, pending } = await listImportChunks({ importId });
    const perChild = input.chunksPerChild ?? DEFAULT_CHUNKS_PER_CHILD;
    progress.chunksTotal = chunksTotal;
    for (let start = 0; start < pending.length && !cancelled; start += perChild) {
      const batch = pending.slice(start, start + perChild);
      const first = batch[0].chunkNo + 1;
      const last = batch[batch.length - 1].chunkNo + 1;
      setCurrentDetails(
        `Writing: ${progress.chunksDone} of ${pending.length} chunks done, ${progress.chunksFailed} failed; now chunks ${first}-${last}`,
      );
      child = await startChild(importChunksWorkflow, {
        workflowId: `${info.workflowId}-chunks-${first}-${last}`,
        args: [{ importId, chunks: batch, chunksTotal, concurrency: input.chunkConcurrency }],
        staticSummary: `import ${shortId(importId)}: chunks ${first}-${last} of ${chunksTotal}`,
        typedSearchAttributes: info.typedSearchAttributes,
      });
      if (cancelled) await child.signal(cancelImportSignal);
      const result = await child.result();
      child = undefined;
      progress.chunksDone += result.completed + result.failed;
      progress.chunksFailed += result.failed;
      if (result.cancelled) cancelled = true;
    }
    return await finish();
  } catch (err) {
    if (isCancellation(err)) {
      // Cancelled from Temporal (the Web UI, the CLI), not by the API: the database must say so too, with the
      // audit entry, or the import would stay RUNNING for good.
      await CancellationScope.nonCancellable(async () => {
        await markImportCancelled({ importId });
        await finish();
      });
      throw err;
    }
    const message = rootMessage(err);
    setCurrentDetails(`Failed: ${message}`);
    return await failImport({ importId, runKey, message });
  }
}
