import {
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  startChild,
  workflowInfo,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { describeRate, FAILURE_TYPES, LEGACY_FAILURE_TYPES, type LiveProgress } from './definitions';
import { importChunksWorkflow } from './import-chunks';
import { refreshWhile } from './live-progress';
import {
  APPROVAL_FAILURES,
  approveImportUpdate,
  rejectImportUpdate,
  type ApprovalDecisionArgs,
  cancelImportSignal,
  CHUNK_CONCURRENCY_MAX,
  CHUNK_CONCURRENCY_MIN,
  chunkWindowSignal,
  confirmImportSignal,
  importProgressQuery,
  INVALID_STATE,
  pauseImportUpdate,
  resumeImportUpdate,
  retryImportSignal,
  rootMessage,
  setChunkConcurrencyUpdate,
  type ChunkWindow,
  type ImportControlResult,
  type ImportProgress,
  type ImportUsersInput,
  type ImportUsersResult,
} from './import-definitions';

const { validateImport } = proxyActivities<Activities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', maximumInterval: '1 minute', maximumAttempts: 5, nonRetryableErrorTypes: [FAILURE_TYPES.importFileMissing, LEGACY_FAILURE_TYPES.importFileMissing] },
});

const { expireImport, listImportChunks, finishImport, failImport, markImportCancelled, controlImport, decideImportApproval, expireImportApproval, autoConfirmImport } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 10 },
});

// Read-only, for the current details: a local activity (one marker event per read), never retried for long.
const { readImportProgress } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '10 seconds',
  retry: { maximumAttempts: 2 },
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

  let approvalRequested = false;
  let approval: 'APPROVED' | 'REJECTED' | undefined;
  setHandler(confirmImportSignal, (args) => {
    confirmed = true;
    if (args?.approval) approvalRequested = true;
  });
  setHandler(cancelImportSignal, () => {
    cancelled = true;
    child?.signal(cancelImportSignal).catch(() => undefined);
  });
  setHandler(importProgressQuery, () => ({ ...progress, paused: window.paused, chunkConcurrency: window.concurrency }));

  // Pause, resume and the window's size (Updates, one at a time): the database moves first (an activity's
  // compare-and-set), then the window of the running batch; a batch started later takes the window as it is then.
  const window: ChunkWindow = { paused: input.paused ?? false, concurrency: input.chunkConcurrency };
  let controls: Promise<unknown> = Promise.resolve();
  const serially = <T>(fn: () => Promise<T>): Promise<T> => {
    const done = controls.then(fn);
    controls = done.catch(() => undefined);
    return done;
  };
  const applyWindow = async (change: Partial<ChunkWindow>, action: 'pause' | 'resume' | 'resize'): Promise<ImportControlResult> => {
    const { status, applied } = await controlImport({ importId, action, chunkConcurrency: change.concurrency });
    if (!applied) throw ApplicationFailure.create({ type: INVALID_STATE, message: `the import is ${status}`, nonRetryable: true });
    Object.assign(window, change);
    reportWindow();
    // A child that has just finished takes no signal; the next batch starts with the window as it is.
    await child?.signal(chunkWindowSignal, { ...window }).catch(() => undefined);
    return { status, paused: window.paused, chunkConcurrency: window.concurrency };
  };
  const writing = () => {
    if (progress.phase !== 'writing') {
      throw ApplicationFailure.create({ type: INVALID_STATE, message: `the import is not writing (${progress.phase})`, nonRetryable: true });
    }
  };
  const notInState = (message: string) => ApplicationFailure.create({ type: INVALID_STATE, message, nonRetryable: true });
  setHandler(pauseImportUpdate, () => serially(() => applyWindow({ paused: true }, 'pause')), {
    validator: () => {
      writing();
      if (window.paused) throw notInState('the import is paused already');
    },
  });
  setHandler(resumeImportUpdate, () => serially(() => applyWindow({ paused: false }, 'resume')), {
    validator: () => {
      writing();
      if (!window.paused) throw notInState('the import is not paused');
    },
  });
  setHandler(
    setChunkConcurrencyUpdate,
    ({ chunkConcurrency }) => serially(() => applyWindow({ concurrency: chunkConcurrency }, 'resize')),
    {
      validator: ({ chunkConcurrency }) => {
        writing();
        if (!Number.isInteger(chunkConcurrency) || chunkConcurrency < CHUNK_CONCURRENCY_MIN || chunkConcurrency > CHUNK_CONCURRENCY_MAX) {
          throw ApplicationFailure.create({ type: 'invalid_field', message: `chunk_concurrency must be ${CHUNK_CONCURRENCY_MIN} to ${CHUNK_CONCURRENCY_MAX}` });
        }
      },
    },
  );
  const decide = (decision: 'APPROVED' | 'REJECTED') => ({ operatorId }: ApprovalDecisionArgs) =>
    serially(async () => {
      const outcome = await decideImportApproval({ importId, decision, operatorId });
      if (outcome.refused) throw ApplicationFailure.create({ type: outcome.refused, message: outcome.message ?? outcome.refused, nonRetryable: true });
      if (!outcome.applied) throw notInState(`the import is ${outcome.status}`);
      approval = decision;
      return { status: outcome.status };
    });
  const approvalValidator = ({ operatorId, fileSha256 }: ApprovalDecisionArgs) => {
    if (!approvalRequested || approval !== undefined || cancelled) throw notInState('the import is not awaiting approval');
    if (input.operatorId !== undefined && operatorId === input.operatorId) {
      throw ApplicationFailure.create({
        type: APPROVAL_FAILURES.approverIsRequester,
        message: 'the operator who started an import cannot approve or reject it; another operator must',
        nonRetryable: true,
      });
    }
    if (fileSha256 !== undefined && input.fileSha256 !== undefined && fileSha256 !== input.fileSha256) {
      throw ApplicationFailure.create({
        type: APPROVAL_FAILURES.fileChanged,
        message: `the file's SHA-256 is ${input.fileSha256}, not ${fileSha256}: the decision was about another file`,
        nonRetryable: true,
      });
    }
  };
  setHandler(approveImportUpdate, decide('APPROVED'), { validator: approvalValidator });
  setHandler(rejectImportUpdate, decide('REJECTED'), { validator: approvalValidator });
  // The rows written as the database last said (refreshWhile, while the chunks run): ahead of chunksDone, which
  // moves only when a batch of up to a hundred chunks ends.
  let live: LiveProgress | undefined;
  const reportWindow = () => {
    if (progress.phase !== 'writing') return;
    setCurrentDetails(
      `${window.paused ? 'PAUSED (no new chunk starts)' : 'Writing'}: ${progress.chunksDone} of ${progress.chunksTotal} chunks done, ` +
        `${progress.chunksFailed} failed` +
        (live ? `; ${live.rowsDone} of ${live.rowsTotal ?? '?'} rows written` : '') +
        `; window ${window.concurrency}${describeRate(progress.rate)}`,
    );
  };

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
      let autoConfirmed = false;
      if (input.autoConfirm && verdict.status === 'AWAITING_CONFIRMATION' && !confirmed && !cancelled && patched('import-auto-confirm')) {
        // auto_confirm (public API): confirm as the API's confirm does (the approval policy applies), not wait.
        setCurrentDetails(`Confirming by itself (auto_confirm): ${verdict.totalRows} rows (${verdict.invalidRows} invalid)`);
        const status = await autoConfirmImport({ importId });
        if (status === 'AWAITING_APPROVAL') approvalRequested = true;
        else if (status !== 'RUNNING') return await finish();
        confirmed = true;
        autoConfirmed = true;
      } else {
        setCurrentDetails(
          `Awaiting confirmation: ${verdict.totalRows} rows (${verdict.toCreate} to create, ${verdict.toUpdate} to update, ` +
            `${verdict.toUnchanged} unchanged, ${verdict.invalidRows} invalid)`,
        );
      }
      const decided = autoConfirmed || (await condition(() => confirmed || cancelled, input.confirmTimeoutMs));
      if (!decided) {
        // The timer fired; a confirm may still have reached the database first (the signal is then on its way).
        const status = await expireImport({ importId });
        if (status === 'AWAITING_APPROVAL') approvalRequested = true;
        else if (status !== 'RUNNING') return await finish();
      } else if (cancelled) {
        return await finish();
      }
      if (approvalRequested && patched('import-approval')) {
        // The application's policy wants a second operator: wait for the approve or reject Update, or expire.
        progress.phase = 'awaiting_approval';
        setCurrentDetails(`Awaiting approval by a second operator: ${verdict.toCreate} to create, ${verdict.toUpdate} to update`);
        const answered = await condition(() => approval !== undefined || cancelled, input.confirmTimeoutMs);
        if (!answered) {
          const status = await expireImportApproval({ importId });
          if (status !== 'RUNNING') return await finish();
        } else if (cancelled || approval === 'REJECTED') {
          return await finish();
        }
      }
    }

    progress.phase = 'writing';
    const { total: chunksTotal, pending } = await listImportChunks({ importId });
    const perChild = input.chunksPerChild ?? DEFAULT_CHUNKS_PER_CHILD;
    progress.chunksTotal = chunksTotal;
    // The details show the database's progress and rate while a batch runs, not only when it ends (minutes apart).
    const refreshing = patched('import-live-progress')
      ? refreshWhile(
          () => progress.phase === 'writing' && !cancelled,
          async () => {
            live = await readImportProgress({ importId });
            progress.rate = live.rate;
            reportWindow();
          },
          () => window.paused,
        )
      : undefined;
    for (let start = 0; start < pending.length && !cancelled; start += perChild) {
      const batch = pending.slice(start, start + perChild);
      const first = batch[0].chunkNo + 1;
      const last = batch[batch.length - 1].chunkNo + 1;
      setCurrentDetails(
        `Writing: ${progress.chunksDone} of ${pending.length} chunks done, ${progress.chunksFailed} failed; now chunks ${first}-${last}` +
          describeRate(progress.rate),
      );
      // Paused between two batches: the next starts once resumed (or cancelled).
      if (window.paused) await condition(() => !window.paused || cancelled);
      if (cancelled) break;
      const sent: ChunkWindow = { ...window };
      child = await startChild(importChunksWorkflow, {
        workflowId: `${info.workflowId}-chunks-${first}-${last}`,
        args: [{ importId, chunks: batch, chunksTotal, concurrency: sent.concurrency, ...(sent.paused ? { paused: true } : {}) }],
        staticSummary: `import ${shortId(importId)}: chunks ${first}-${last} of ${chunksTotal}`,
        typedSearchAttributes: info.typedSearchAttributes,
      });
      if (cancelled) await child.signal(cancelImportSignal);
      // A control that came while the child was being started.
      else if (sent.paused !== window.paused || sent.concurrency !== window.concurrency) await child.signal(chunkWindowSignal, { ...window });
      const result = await child.result();
      child = undefined;
      progress.chunksDone += result.completed + result.failed;
      progress.chunksFailed += result.failed;
      if (result.rate) progress.rate = result.rate;
      if (result.cancelled) cancelled = true;
    }
    const finished = await finish();
    await refreshing;
    return finished;
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
