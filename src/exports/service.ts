import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { and, eq, sql } from 'drizzle-orm';
import { exportParts, exportsTable } from '../../drizzle/schema';
import { isSystemActor, type Operator, type SystemActor } from '../auth/accounts';
import { can } from '../auth/permissions';
import type { Config } from '../config';
import type { Db } from '../db/client';
import { recordAuditEntry } from '../audit/queries';
import { recordExportEvent } from '../webhooks/events';
import { DomainError, invalidState } from '../errors';
import type { exportUsersWorkflow } from '../../workflows/export-users';
import { exportWorkflowId, type ExportUsersInput } from '../../workflows/export-definitions';
import { ApplicationId, JobId, JobKind, WORKFLOW_TYPES, type JobKindValue } from '../../workflows/definitions';
import { searchScopeOf } from '../users/queries';
import { columnsForRole, forbiddenColumns } from './columns';
import type { ExportRequest } from './filters';
import { linkPeriod } from './present';
import { getExport, getExportById, insertExport, setExportLink, setExportWorkflowId, type ExportRow, type ExportWithOperator } from './queries';

export interface ExportServiceDeps {
  db: Db;
  temporal: Client;
  config: Config;
}

/**
 * Starts an export: the columns (by default every one the role may export), the role check, the export row
 * (QUEUED) and its workflow `users-export-<id>`. Filter values never go into Temporal: the workflow reads them
 * from Postgres (they may hold personal data, e.g. a searched email).
 */
export async function requestExport(
  deps: ExportServiceDeps,
  operator: Operator,
  request: ExportRequest,
): Promise<ExportWithOperator> {
  const columns = request.columns ?? columnsForRole(operator.role);
  const forbidden = forbiddenColumns(operator.role, columns);
  if (forbidden.length > 0) {
    throw new DomainError(
      'forbidden',
      'column_not_permitted',
      `the role ${operator.role} may not export the personal-data columns ${forbidden.join(', ')}`,
      { columns: forbidden },
    );
  }
  const filters = request.filters ?? {};
  const row = await insertExport(deps.db, {
    applicationId: operator.applicationId,
    operatorId: operator.id,
    filters,
    columns,
    format: request.format,
    gzip: request.gzip,
    excelBom: request.excel_bom,
    // A search must not reveal personal data the role may not export (API.md): fixed now, whatever the role becomes.
    searchRestricted: searchScopeOf(operator.role) === 'restricted',
  });
  await setExportWorkflowId(deps.db, { id: row.id, workflowId: exportWorkflowId(row.id) });
  try {
    await startExportWorkflow(deps, row);
  } catch (err) {
    await recordStartFailure(deps, row, 'the export could not be started');
    throw new DomainError('unavailable', 'temporal_unavailable', `the export could not be started: ${(err as Error).message}`);
  }
  return getExport(deps.db, { applicationId: operator.applicationId, id: row.id });
}

/**
 * The export's workflow could not be started (Temporal unreachable): the export ends FAILED `workflow_start_failed`
 * in one transaction with its `export.failed` event (delivered once Temporal answers again: the reconciler
 * dispatches it) and its audit entry (API.md: every export writes one when it ends).
 */
async function recordStartFailure(deps: ExportServiceDeps, row: ExportRow, message: string): Promise<void> {
  const finishedAt = new Date();
  const ending = `start-failed:${finishedAt.toISOString()}`;
  const error = { code: 'workflow_start_failed', message };
  await deps.db.transaction(async (tx) => {
    await tx
      .update(exportsTable)
      .set({ status: 'FAILED', errorCode: error.code, errorMessage: message, finishedAt })
      .where(eq(exportsTable.id, row.id));
    await recordExportEvent(tx, { exportId: row.id, type: 'export.failed', ending });
    await recordAuditEntry(tx, {
      applicationId: row.applicationId,
      action: 'users.export',
      operatorId: row.operatorId,
      targetId: row.id,
      status: 'FAILURE',
      details: { outcome: 'FAILED', filters: row.filters, columns: row.columns, row_count: null, error },
      startedAt: row.startedAt ?? row.createdAt,
      finishedAt,
      idempotencyKey: `users-export-${row.id}:${ending}`,
    });
  });
}

/**
 * Starts the export's workflow `users-export-<id>`; also what the reconciler does for an export whose workflow is
 * gone (the run picks up the stored plan and the ranges' checkpoints).
 */
export async function startExportWorkflow(
  deps: ExportServiceDeps,
  row: Pick<ExportRow, 'id' | 'applicationId' | 'columns' | 'filters'>,
): Promise<void> {
  const input: ExportUsersInput = {
    exportId: row.id,
    linkBaseUrl: deps.config.api.publicBaseUrl,
    heartbeatTimeoutMs: deps.config.exports.heartbeatTimeoutMs,
  };
  const filterNames = Object.keys(row.filters ?? {});
  await deps.temporal.workflow.start<typeof exportUsersWorkflow>(WORKFLOW_TYPES.exportUsers, {
    taskQueue: deps.config.temporal.taskQueue,
    workflowId: exportWorkflowId(row.id),
    args: [input],
    typedSearchAttributes: [
      { key: ApplicationId, value: row.applicationId },
      { key: JobId, value: row.id },
      { key: JobKind, value: 'export' satisfies JobKindValue },
    ],
    staticSummary: `export ${row.id.slice(0, 8)}…: ${row.columns.length} columns, ${
      filterNames.length > 0 ? `filtered by ${filterNames.join(', ')}` : 'every user'
    }`,
  });
}

/** The requester, an OWNER or an ADMIN may cancel an export or revoke its links (API.md's role table). */
export function assertMayControlExport(operator: Operator, row: Pick<ExportRow, 'operatorId'>, what: string): void {
  if (row.operatorId !== operator.id && !can(operator.role, 'exports.control_any')) {
    throw new DomainError('forbidden', 'forbidden', `only the operator who requested an export, an OWNER or an ADMIN may ${what}`);
  }
}

/**
 * Revokes every link of an export at once: its link generation goes up, and every token carries the old one. Once a
 * link has been handed out (the email went, or the export is COMPLETED) the link period ends too, so the export
 * shows no `download_url` until its requester asks for a new link (reissueExportLink); else the next read of the
 * export would hand out a working link at once. An export assembled whose email is still to go (`PENDING`) keeps its
 * period: that email carries a link of the new generation.
 */
export async function revokeExportLinks(deps: ExportServiceDeps, operator: Operator, exportId: string): Promise<void> {
  const row = await getExport(deps.db, { applicationId: operator.applicationId, id: exportId });
  assertMayControlExport(operator, row, 'revoke its links');
  const handedOut = sql`${exportsTable.status} = 'COMPLETED' OR ${exportsTable.emailStatus} IS DISTINCT FROM 'PENDING'`;
  await deps.db
    .update(exportsTable)
    .set({
      linkGeneration: sql`${exportsTable.linkGeneration} + 1`,
      linkIssuedAt: sql`CASE WHEN ${handedOut} THEN NULL ELSE ${exportsTable.linkIssuedAt} END`,
      linkExpiresAt: sql`CASE WHEN ${handedOut} THEN NULL ELSE ${exportsTable.linkExpiresAt} END`,
    })
    .where(eq(exportsTable.id, row.id));
}

/**
 * Cancels a QUEUED or RUNNING export: its workflow is cancelled, and records CANCELLED (after its ranges have
 * stopped) and deletes the partial file and the S3 multipart upload. Anything else is 409 invalid_state.
 */
export async function cancelExport(deps: ExportServiceDeps, operator: Operator, exportId: string): Promise<ExportWithOperator> {
  const row = await getExport(deps.db, { applicationId: operator.applicationId, id: exportId });
  assertMayControlExport(operator, row, 'cancel it');
  if (row.status !== 'QUEUED' && row.status !== 'RUNNING') throw invalidState(`the export is ${row.status}; only a QUEUED or RUNNING export can be cancelled`);
  try {
    await deps.temporal.workflow.getHandle(row.workflowId ?? exportWorkflowId(row.id)).cancel();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw invalidState('the export has no running workflow; it is being ended');
    throw new DomainError('unavailable', 'temporal_unavailable', `the export could not be cancelled: ${(err as Error).message}`);
  }
  return row;
}

/**
 * Retries a FAILED export: it goes back to RUNNING (QUEUED if it was never planned) and a new run of its workflow
 * goes on from the stored plan: completed ranges are kept as they are, the others resume from their checkpoints.
 * The CLI retries as the SystemActor: any application's export, no role check.
 */
export async function retryExport(deps: ExportServiceDeps, actor: Operator | SystemActor, exportId: string): Promise<ExportWithOperator> {
  const byCli = isSystemActor(actor);
  const row = byCli ? await getExportById(deps.db, exportId) : await getExport(deps.db, { applicationId: actor.applicationId, id: exportId });
  if (!byCli) assertMayControlExport(actor, row, 'retry it');
  if (row.status !== 'FAILED') throw invalidState(`the export is ${row.status}; only a FAILED export can be retried`);
  const resumed = await deps.db
    .update(exportsTable)
    .set({
      status: row.upload ? 'RUNNING' : 'QUEUED',
      errorCode: null,
      errorMessage: null,
      finishedAt: null,
      // The write rate is measured from the retry on, over the rows written after it.
      rateSince: sql`now()`,
      rateBaseRows: row.upload ? (row.rowsWritten ?? 0) : 0,
    })
    .where(and(eq(exportsTable.id, row.id), eq(exportsTable.status, 'FAILED')))
    .returning({ id: exportsTable.id });
  if (resumed.length === 0) throw invalidState('the export is no longer FAILED');
  // Nothing left to resume from (never planned, or retention deleted the ranges): the new run plans afresh.
  if (!row.upload) await deps.db.delete(exportParts).where(eq(exportParts.exportId, row.id));
  try {
    await startExportWorkflow(deps, row);
  } catch (err) {
    await recordStartFailure(deps, row, 'the retry could not be started');
    throw new DomainError('unavailable', 'temporal_unavailable', `the export could not be retried: ${(err as Error).message}`);
  }
  return getExport(deps.db, { applicationId: row.applicationId, id: row.id });
}

/** A fresh link period for the operator who requested the export, while its file is kept. */
export async function reissueExportLink(deps: ExportServiceDeps, operator: Operator, exportId: string): Promise<ExportWithOperator> {
  const row = await getExport(deps.db, { applicationId: operator.applicationId, id: exportId });
  if (row.operatorId !== operator.id) {
    throw new DomainError('forbidden', 'forbidden', 'only the operator who requested an export may get its link');
  }
  if (row.status === 'EXPIRED') throw invalidState('the export file was deleted under retention; request a new export');
  if (row.status !== 'COMPLETED' || !row.storageKey) throw invalidState(`the export is ${row.status}; a link exists once it is COMPLETED`);
  const period = linkPeriod(deps.config.exports.linkTtlSeconds);
  const { issuedAt } = period;
  // Fresh even within the second of the link before it (a link's expiry counts whole seconds, and the link is the
  // same for the same expiry): then it expires a second after that one.
  const before = row.linkExpiresAt?.getTime() ?? 0;
  const expiresAt = period.expiresAt.getTime() > before ? period.expiresAt : new Date(before + 1000);
  // Only for the links' generation read above: a revocation in between must not be undone by this new period.
  if (!(await setExportLink(deps.db, { id: row.id, generation: row.linkGeneration, issuedAt, expiresAt }))) {
    throw new DomainError('conflict', 'invalid_state', "the export's links were revoked meanwhile; ask for a new link again");
  }
  return { ...row, linkIssuedAt: issuedAt, linkExpiresAt: expiresAt };
}
