import { WorkflowNotFoundError } from '@temporalio/client';
import { Context } from '@temporalio/activity';
import { recordImportAudit } from '../src/imports/audit';
import { getImport, listUndoingImports, listUnfinishedImports, markWorkflowEnded, type ImportRecord } from '../src/imports/queries';
import { recordImportEvent, webhookEventId } from '../src/webhooks/events';
import { dispatchAfterCommit } from '../src/webhooks/dispatch';
import { secondsBetween } from '../src/metrics/jobs';
import { restartImportWorkflow, restartUndoWorkflow, resendConfirm } from '../src/imports/service';
import { listUnfinishedExports } from '../src/exports/queries';
import { startExportWorkflow } from '../src/exports/service';
import { exportWorkflowId } from '../workflows/export-definitions';
import { importProgressQuery, importWorkflowId, undoImportWorkflowId } from '../workflows/import-definitions';
import { endExport } from './exports';
import type { ReconcileInput } from '../workflows/definitions';
import type { ActivityDeps } from './deps';

const BATCH = 200;

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

export interface ReconcileImportsResult {
  /** Unfinished imports looked at. */
  checked: number;
  /** Whose workflow was missing (or had closed without finishing them) and was started again. */
  restarted: string[];
  /** Whose workflow was terminated or failed from outside: now FAILED (or CANCELLED, finished), with an audit entry. */
  ended: string[];
  /** RUNNING in the database while their workflow still waited for the confirm: the confirm was sent again. */
  confirmResent: string[];
  /**
   * UNDOING for more than RECONCILE_AFTER with no running undo workflow (never started, or terminated, failed or
   * timed out from outside): the undo was started again, and it finishes what the first run left (an undo must end).
   */
  undoRestarted: string[];
  /** Could not be put right this time (e.g. Temporal did not answer for it); the next run tries again. */
  failed: { id: string; message: string }[];
}

export interface ReconcileExportsResult {
  checked: number;
  /** Whose workflow was missing (or closed without ending them) and was started again: it goes on from its checkpoints. */
  restarted: string[];
  /** Whose workflow was terminated or failed from outside: now FAILED (files deleted), with an audit entry. */
  ended: string[];
  /** Could not be put right this time; the next run tries again. */
  failed: { id: string; message: string }[];
}

/** Workflow statuses that mean "ended from outside, without finishing the job". */
const ENDED_OUTSIDE = ['TERMINATED', 'FAILED', 'TIMED_OUT', 'CANCELLED'];

const endedMessage = (kind: string, status: string) =>
  `the ${kind}'s workflow was ${status.toLowerCase().replace('_', ' ')} outside the service before it finished`;

/** How Temporal says a workflow is; `undefined` when there is no such workflow. */
async function workflowState(deps: Pick<ActivityDeps, 'temporal'>, workflowId: string) {
  try {
    const description = await deps.temporal.workflow.getHandle(workflowId).describe();
    return { status: description.status.name, runId: description.runId };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

export function createReconcileActivities(deps: ActivityDeps) {
  const { db, config } = deps;
  const service = { db, temporal: deps.temporal, config, storage: deps.storage };

  async function reconcileOne(record: ImportRecord, staleBefore: Date, result: ReconcileImportsResult): Promise<void> {
    const state = await workflowState(deps, importWorkflowId(record.id));
    if (state?.status === 'RUNNING') {
      if (record.status !== 'RUNNING' || !record.confirmedAt || record.confirmedAt >= staleBefore) return;
      const progress = await deps.temporal.workflow.getHandle(importWorkflowId(record.id)).query(importProgressQuery);
      if (progress.phase === 'awaiting_confirmation') {
        await resendConfirm(service, record.id);
        result.confirmResent.push(record.id);
      }
      return;
    }
    if (state && ENDED_OUTSIDE.includes(state.status)) {
      const endingKey = `${importWorkflowId(record.id)}:${state.runId}:ended`;
      const { ended, audited } = await db.transaction(async (tx) => {
        const changed = await markWorkflowEnded(tx, { importId: record.id, error: { code: 'workflow_ended', message: endedMessage('import', state.status) } });
        if (!changed) return { ended: false, audited: false };
        const wrote = await recordImportAudit(tx, record.id, endingKey);
        const row = await getImport(tx, { id: record.id });
        if (row.status === 'FAILED') await recordImportEvent(tx, { importId: record.id, type: 'import.failed', ending: endingKey });
        return { ended: true, audited: wrote };
      });
      if (ended) {
        await dispatchAfterCommit(deps, [webhookEventId('import.failed', record.id, endingKey)]);
        result.ended.push(record.id);
      }
      if (audited && deps.metrics) {
        const row = await getImport(db, { id: record.id });
        deps.metrics.jobFinished('import', row.status, secondsBetween(row.createdAt, row.finishedAt));
      }
      return;
    }
    // No workflow (the API died between writing the import and starting it), or one that closed normally without
    // finishing the import: start it again; it carries the import on from where the database says it is.
    await restartImportWorkflow(service, record);
    result.restarted.push(record.id);
  }

  /** An UNDOING import whose undo workflow is not running gets it back (whatever ended the last run). */
  async function reconcileUndo(record: ImportRecord, result: ReconcileImportsResult): Promise<void> {
    const state = await workflowState(deps, undoImportWorkflowId(record.id));
    if (state?.status === 'RUNNING') return;
    await restartUndoWorkflow(service, record);
    result.undoRestarted.push(record.id);
  }

  return {
    /**
     * Finds the imports whose workflow is gone or out of step with the database and puts them right (see
     * ReconcileImportsResult). Only imports created (an undo: asked for) more than RECONCILE_AFTER ago are looked at,
     * so one the API is starting right now is left alone. Re-running it is harmless: each step checks the database and Temporal first.
     */
    async reconcileImports(input: ReconcileInput = {}): Promise<ReconcileImportsResult> {
      const staleBefore = new Date(Date.now() - config.reconcile.afterMs);
      const result: ReconcileImportsResult = { checked: 0, restarted: [], ended: [], confirmResent: [], undoRestarted: [], failed: [] };
      const records = await listUnfinishedImports(db, { createdBefore: staleBefore, limit: BATCH, applicationId: input.applicationId });
      for (const record of records) {
        // One import that cannot be put right now (its workflow does not answer a query, say) must not hold up the rest.
        await reconcileOne(record, staleBefore, result).catch((err: unknown) => result.failed.push({ id: record.id, message: messageOf(err) }));
        result.checked++;
        Context.current().heartbeat(result.checked);
      }
      const undoing = await listUndoingImports(db, { requestedBefore: staleBefore, limit: BATCH, applicationId: input.applicationId });
      for (const record of undoing) {
        await reconcileUndo(record, result).catch((err: unknown) => result.failed.push({ id: record.id, message: messageOf(err) }));
        result.checked++;
        Context.current().heartbeat(result.checked);
      }
      return result;
    },

    /**
     * Exports QUEUED or RUNNING for more than RECONCILE_AFTER whose workflow is gone are started again (the run goes
     * on from the stored plan and checkpoints); those whose workflow was terminated or failed from outside end FAILED
     * with `workflow_ended`, their partial files deleted and an audit entry. Re-running it is harmless.
     */
    async reconcileExports(input: ReconcileInput = {}): Promise<ReconcileExportsResult> {
      const staleBefore = new Date(Date.now() - config.reconcile.afterMs);
      const result: ReconcileExportsResult = { checked: 0, restarted: [], ended: [], failed: [] };
      const rows = await listUnfinishedExports(db, { createdBefore: staleBefore, limit: BATCH, applicationId: input.applicationId });
      const reconcileExport = async (row: (typeof rows)[number]) => {
        const state = await workflowState(deps, exportWorkflowId(row.id));
        if (state && ENDED_OUTSIDE.includes(state.status)) {
          const ending = { exportId: row.id, outcome: 'FAILED' as const, error: { code: 'workflow_ended', message: endedMessage('export', state.status) } };
          const { status } = await endExport(deps, ending, `${exportWorkflowId(row.id)}:${state.runId}:ended`);
          if (status === 'FAILED') result.ended.push(row.id);
        } else if (state?.status !== 'RUNNING') {
          await startExportWorkflow(service, row);
          result.restarted.push(row.id);
        }
      };
      for (const row of rows) {
        await reconcileExport(row).catch((err: unknown) => result.failed.push({ id: row.id, message: messageOf(err) }));
        result.checked++;
        Context.current().heartbeat(result.checked);
      }
      return result;
    },

    /**
     * Deletes what interrupted uploads left in storage: temporary files of local storage and unfinished S3 multipart
     * uploads older than RECONCILE_AFTER (an upload in progress is younger). Re-running it is harmless.
     */
    async removeAbandonedUploads(): Promise<{ removed: number }> {
      return { removed: await deps.storage.removeAbandonedWrites('imports/', new Date(Date.now() - config.reconcile.afterMs)) };
    },
  };
}
