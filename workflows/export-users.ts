import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  type ActivityOptions,
  type RetryPolicy,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { describeRate } from './definitions';
import { refreshWhile } from './live-progress';
import {
  exportProgressQuery,
  type ExportProgress,
  type ExportUsersInput,
  type ExportUsersResult,
} from './export-definitions';

const retry: RetryPolicy = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 12 };

const bookkeeping: ActivityOptions = { startToCloseTimeout: '2 minutes', retry };
const { startExport, finishExport, recordExportEmailFailure } = proxyActivities<Activities>(bookkeeping);

/** Range activities stream for as long as their range takes; the heartbeat says they are alive. */
const rangeOptions: ActivityOptions = {
  startToCloseTimeout: '6 hours',
  heartbeatTimeout: '30 seconds',
  retry,
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
};
const { exportRange } = proxyActivities<Activities>(rangeOptions);

const assembleOptions: ActivityOptions = { startToCloseTimeout: '2 hours', heartbeatTimeout: '1 minute', retry };
const { assembleExport } = proxyActivities<Activities>(assembleOptions);

// Read-only, for the current details: a local activity (one marker event per read), never retried for long.
const { readExportProgress } = proxyLocalActivities<Activities>({ startToCloseTimeout: '10 seconds', retry: { maximumAttempts: 2 } });

/** A few tries only: an email that cannot go out must not hold up a finished export (the link can be re-issued). */
const { sendExportEmail } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '20s', maximumAttempts: 5 },
});

/** The stable error code of a failure: an activity's ApplicationFailure type when it is one of ours. */
function describeFailure(err: unknown): { code: string; message: string } {
  let cause: unknown = err;
  while (cause && typeof cause === 'object' && 'cause' in cause && (cause as { cause?: unknown }).cause) {
    if (cause instanceof ApplicationFailure) break;
    cause = (cause as { cause?: unknown }).cause;
  }
  const failure = cause instanceof ApplicationFailure ? cause : undefined;
  const code = failure?.type && /^[a-z][a-z0-9_]*$/.test(failure.type) ? failure.type : 'export_failed';
  const message = (cause instanceof Error ? cause.message : String(cause)) || 'the export failed';
  return { code, message: message.slice(0, 500) };
}

/**
 * Runs `count` tasks, at most `concurrency` at a time, in a scope of their own: when one fails, the others are
 * cancelled and awaited before the failure goes on (so nothing still writes while the export is cleaned up).
 */
async function runBounded<T>(count: number, concurrency: number, task: (index: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  const scope = new CancellationScope();
  let next = 0;
  let firstError: unknown;
  const lanes = Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, () =>
    scope.run(async () => {
      while (next < count && firstError === undefined) {
        const index = next++;
        try {
          results[index] = await task(index);
        } catch (err) {
          if (firstError === undefined) {
            firstError = err;
            scope.cancel();
          }
          throw err;
        }
      }
    }),
  );
  await Promise.allSettled(lanes);
  if (firstError !== undefined) throw firstError;
  return results;
}

/**
 * Exports users to CSV (workflow id `users-export-<export id>`): plans keyset ranges, streams them in parallel into
 * parts (each activity resumes from its heartbeated checkpoint after a crash), assembles the file, emails the link
 * and ends with the audit entry. A failure or a cancellation is recorded (status, error, audit) before it goes on.
 */
export async function exportUsersWorkflow(input: ExportUsersInput): Promise<ExportUsersResult> {
  const { exportId } = input;
  const progress: ExportProgress = { phase: 'planning', rangesTotal: 0, rangesDone: 0, rowsWritten: 0 };
  setHandler(exportProgressQuery, () => progress);
  const show = (text: string) => setCurrentDetails(`**${progress.phase}**: ${text}`);
  show('cutting the users into ranges');

  try {
    const plan = await startExport({ exportId });
    progress.phase = 'writing';
    progress.rangesTotal = plan.parts;
    show(`0 of ${plan.parts} ranges written (about ${plan.estimatedRows} rows)`);

    const heartbeatTimeout = input.heartbeatTimeoutMs ?? rangeOptions.heartbeatTimeout;
    // The details show the rows the ranges' checkpoints hold and the rate while ranges stream, not only when one
    // ends (with a few large ranges, the first ends near the export's end).
    const refreshing = patched('export-live-progress')
      ? refreshWhile(
          () => progress.phase === 'writing',
          async () => {
            const live = await readExportProgress({ exportId });
            if (progress.phase !== 'writing') return;
            show(
              `${progress.rangesDone} of ${plan.parts} ranges written, ${live.rowsDone} rows of about ${live.rowsTotal ?? '?'}` +
                describeRate(live.rate),
            );
          },
        )
      : undefined;
    await runBounded(plan.parts, plan.concurrency, async (partNo) => {
      const result = await exportRange.executeWithOptions(
        { ...rangeOptions, heartbeatTimeout, summary: `range ${partNo + 1} of ${plan.parts}` },
        [{ exportId, partNo }],
      );
      progress.rangesDone++;
      progress.rowsWritten += result.rows;
      show(`${progress.rangesDone} of ${plan.parts} ranges written, ${progress.rowsWritten} rows${describeRate(result.rate)}`);
      return result;
    });

    progress.phase = 'assembling';
    show(`joining ${plan.parts} parts into the file`);
    await refreshing;
    const file = await assembleExport({ exportId });

    progress.phase = 'emailing';
    show(`${file.rowCount} rows, ${file.fileBytes} bytes; emailing the link`);
    let emailStatus: ExportUsersResult['emailStatus'] = 'SENT';
    try {
      // `status` is absent from the results of histories recorded before OUTBOX existed.
      emailStatus = (await sendExportEmail({ exportId, linkBaseUrl: input.linkBaseUrl })).status ?? 'SENT';
    } catch (err) {
      if (isCancellation(err)) throw err;
      log.warn('the export email could not be sent', { exportId, error: describeFailure(err).message });
      emailStatus = 'FAILED';
      await recordExportEmailFailure({ exportId });
    }

    progress.phase = 'finishing';
    await finishExport({ exportId, outcome: 'COMPLETED' });
    progress.phase = 'done';
    show(`${file.rowCount} rows, ${file.fileBytes} bytes, email ${emailStatus.toLowerCase()}`);
    return { exportId, status: 'COMPLETED', rowCount: file.rowCount, fileBytes: file.fileBytes, fileSha256: file.fileSha256, emailStatus };
  } catch (err) {
    const cancelled = isCancellation(err);
    const error = cancelled ? { code: 'cancelled', message: 'the export was cancelled' } : describeFailure(err);
    progress.phase = 'failed';
    show(`${error.code}: ${error.message}`);
    await CancellationScope.nonCancellable(() =>
      finishExport({ exportId, outcome: cancelled ? 'CANCELLED' : 'FAILED', error }),
    );
    if (cancelled) throw err;
    throw ApplicationFailure.nonRetryable(error.message, error.code);
  }
}
