import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy } from '@temporalio/common';
import { createHash, randomUUID } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import type { Config } from '../config';
import type { Db } from '../db/client';
import { DomainError, invalidState } from '../errors';
import type { Operator, SystemActor } from '../auth/accounts';
import type { Storage } from '../storage';
import { ApplicationId, JobId, JobKind, WORKFLOW_TYPES, type JobKindValue } from '../../workflows/definitions';
import {
  cancelImportSignal,
  confirmImportSignal,
  APPROVAL_FAILURES,
  approveImportUpdate,
  rejectImportUpdate,
  importWorkflowId,
  INVALID_STATE,
  pauseImportUpdate,
  resumeImportUpdate,
  retryImportSignal,
  setChunkConcurrencyUpdate,
  type ConfirmImportArgs,
  type ImportUsersInput,
  undoImportWorkflowId,
  type UndoImportInput,
} from '../../workflows/import-definitions';
import type { undoImportWorkflow } from '../../workflows/undo-import';
import { markUndoing, unmarkUndoing } from './undo';
import type { ImportStatus } from '../../drizzle/schema';
import type { importUsersWorkflow } from '../../workflows/import-users';
import {
  applyConfirm,
  checkActiveImports,
  getImport,
  insertImport,
  markCancelled,
  markRetrying,
  markStartFailed,
  reserveActiveImport,
  undoRetrying,
  type ImportRecord,
} from './queries';
import { presentImport, type ImportObject } from './present';
import { dispatchAfterCommit } from '../webhooks/dispatch';
import { recordImportEvent, webhookEventId } from '../webhooks/events';
import { recordImportAudit } from './audit';
import { checkMappingTargets } from './columns';
import { importOptionsSchema, type ImportOptions } from './options';

/**
 * What the API and the CLI do with imports. The database holds the truth about an import's status: each action here
 * moves it with a compare-and-set and then tells the workflow (start, signal), so a poll of the import never waits on
 * Temporal and two actions never both win.
 */

export interface ImportServiceDeps {
  db: Db;
  temporal: Client;
  config: Config;
  storage: Storage;
}

const temporalUnavailable = (err: unknown) =>
  new DomainError(
    'unavailable',
    'temporal_unavailable',
    `the workflow service did not answer; try again (${err instanceof Error ? err.message : String(err)})`,
  );

const fileTooLarge = (maxBytes: number) =>
  new DomainError('too_large', 'file_too_large', `the file is larger than ${maxBytes} bytes (IMPORT_MAX_BYTES)`);

/** Passes an upload through while computing its SHA-256, its size and its line count; fails past `maxBytes`. */
class UploadDigest extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  lines = 0;

  constructor(private readonly maxBytes: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) {
      callback(fileTooLarge(this.maxBytes));
      return;
    }
    this.hash.update(chunk);
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) this.lines++;
    callback(null, chunk);
  }
}

interface StoredUpload {
  sha256: string;
  bytes: number;
  lines: number;
}

/**
 * Streams an upload into storage under `key`, hashing it on the way. Past `maxBytes` it fails with 413
 * file_too_large and the partial object is deleted. The source is always read to its end (the request drains).
 */
async function storeUpload(storage: Storage, key: string, source: Readable, maxBytes: number): Promise<StoredUpload> {
  const digest = new UploadDigest(maxBytes);
  digest.on('error', () => {
    source.unpipe(digest);
    source.resume();
  });
  // pipe() does not pass a source's error on (an interrupted upload): fail the digest, so the storage gives up.
  source.once('error', (err) => digest.destroy(err));
  source.pipe(digest);
  try {
    await storage.putStream(key, digest, { contentType: 'text/csv' });
  } catch (err) {
    await storage.delete(key).catch(() => undefined);
    throw err;
  }
  return { sha256: digest.hash.digest('hex'), bytes: digest.bytes, lines: digest.lines };
}

function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${bytes} B`;
}

const shortId = (id: string) => `${id.slice(0, 8)}…`;

/**
 * Starts the import's workflow run. A retry is a signalWithStart: when the run that recorded the failed chunks has
 * closed, a new run starts in `retry` mode; when it is still closing, it receives the signal and continues as new in
 * `retry` mode itself. Either way the API answers at once and never waits for a run to end.
 */
async function startWorkflow(
  deps: ImportServiceDeps,
  record: ImportRecord,
  mode: ImportUsersInput['mode'],
  summary: string,
  options: { confirmed?: boolean } = {},
) {
  const workflowId = importWorkflowId(record.id);
  const retryRequestId = mode === 'retry' ? randomUUID() : undefined;
  const input: ImportUsersInput = {
    importId: record.id,
    applicationId: record.applicationId,
    mode,
    confirmTimeoutMs: deps.config.imports.confirmTimeoutMs,
    chunkConcurrency: record.chunkConcurrency ?? deps.config.imports.chunkConcurrency,
    ...(retryRequestId ? { retryRequestId } : {}),
    ...(record.status === 'PAUSED' ? { paused: true } : {}),
    operatorId: record.operatorId ?? undefined,
    fileSha256: record.fileSha256,
    ...(record.autoConfirm ? { autoConfirm: true } : {}),
  };
  const startOptions = {
    taskQueue: deps.config.temporal.taskQueue,
    workflowId,
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    args: [input] as [ImportUsersInput],
    staticSummary: summary,
    typedSearchAttributes: [
      { key: ApplicationId, value: record.applicationId },
      { key: JobId, value: record.id },
      { key: JobKind, value: 'import' satisfies JobKindValue },
    ],
  };
  if (retryRequestId) {
    await deps.temporal.workflow.signalWithStart<typeof importUsersWorkflow, [{ requestId: string }]>(WORKFLOW_TYPES.importUsers, {
      ...startOptions,
      signal: retryImportSignal,
      signalArgs: [{ requestId: retryRequestId }],
    });
    return;
  }
  if (options.confirmed) {
    await deps.temporal.workflow.signalWithStart<typeof importUsersWorkflow, [ConfirmImportArgs?]>(WORKFLOW_TYPES.importUsers, {
      ...startOptions,
      signal: confirmImportSignal,
      signalArgs: [],
    });
    return;
  }
  await deps.temporal.workflow.start<typeof importUsersWorkflow>(WORKFLOW_TYPES.importUsers, startOptions);
}

/**
 * Starts again the workflow of an unfinished import whose workflow is gone (the API died between writing the import
 * and starting it, or the run closed without finishing the import): it validates a VALIDATING file, waits for the
 * operator of one AWAITING_CONFIRMATION, finishes a CANCELLED one, and writes the pending chunks of a RUNNING one
 * (which it is told is confirmed). Used by the reconciler.
 */
export async function restartImportWorkflow(deps: ImportServiceDeps, record: ImportRecord): Promise<void> {
  await startWorkflow(deps, record, 'import', `import ${shortId(record.id)} (restarted): file ${record.fileName}`, {
    confirmed: record.status === 'RUNNING' || record.status === 'PAUSED',
  });
}

/** Tells the running workflow of an import that it was confirmed (again: the first signal may have been lost). */
export async function resendConfirm(deps: ImportServiceDeps, importId: string): Promise<void> {
  await signalWorkflow(deps, importId, confirmImportSignal);
}

async function signalWorkflow(deps: ImportServiceDeps, importId: string, signal: typeof confirmImportSignal | typeof cancelImportSignal): Promise<void> {
  await deps.temporal.workflow.getHandle(importWorkflowId(importId)).signal(signal);
}

async function present(deps: ImportServiceDeps, id: string): Promise<ImportObject> {
  return presentImport(await getImport(deps.db, { id }));
}

/** An upload stored as received, before its import exists (the options may follow the file in the body). */
export interface ImportUpload extends StoredUpload {
  id: string;
  storageKey: string;
  fileName: string;
}

/** Stores the uploaded file (with its SHA-256 and size). A file over IMPORT_MAX_BYTES leaves nothing behind. */
export async function storeImportUpload(
  deps: ImportServiceDeps,
  params: { applicationId: string; fileName: string; file: Readable },
): Promise<ImportUpload> {
  const id = randomUUID();
  const storageKey = `imports/${params.applicationId}/${id}.csv`;
  // An early refusal, so that a file is not stored for nothing; startImport counts again under the lock.
  try {
    await checkActiveImports(deps.db, { applicationId: params.applicationId, limit: deps.config.imports.activePerApplication });
  } catch (err) {
    params.file.resume();
    throw err;
  }
  const stored = await storeUpload(deps.storage, storageKey, params.file, deps.config.imports.maxBytes);
  return { ...stored, id, storageKey, fileName: params.fileName };
}

/**
 * Reads the upload's option fields (API.md "Files from other systems"): 400 invalid_field naming each bad one, with
 * the stored file deleted, so that nothing is stored.
 */
export async function parseUploadOptions(deps: ImportServiceDeps, upload: ImportUpload, fields: Record<string, string>): Promise<ImportOptions> {
  return (await parseUploadFields(deps, upload, fields, { autoConfirm: false })).options;
}

/**
 * parseUploadOptions, and with `autoConfirm: true` (the public API) the field `auto_confirm` (`true` or `false`)
 * beside the options; elsewhere `auto_confirm` is an unknown field.
 */
export async function parseUploadFields(
  deps: ImportServiceDeps,
  upload: ImportUpload,
  given: Record<string, string>,
  allow: { autoConfirm: boolean },
): Promise<{ options: ImportOptions; autoConfirm: boolean }> {
  const problems: { field: string; code: string; message: string }[] = [];
  // An option sent empty is not given (an HTML form or a script sends its empty fields; the lists' empty query
  // parameters are read the same way). Blanks are a value (a bad one, or the tab delimiter); a field that is no
  // option stays refused.
  const isEmptyOption = (key: string, value: string) => Object.hasOwn(importOptionsSchema.shape, key) && value === '';
  const fields = Object.fromEntries(Object.entries(given).filter(([key, value]) => !isEmptyOption(key, value)));
  let autoConfirm = false;
  if (allow.autoConfirm && 'auto_confirm' in fields) {
    const value = fields.auto_confirm.trim().toLowerCase();
    delete fields.auto_confirm;
    if (value === 'true') autoConfirm = true;
    else if (value !== 'false' && value !== '') {
      problems.push({ field: 'auto_confirm', code: 'invalid_option', message: 'auto_confirm must be true or false' });
    }
  }
  const parsed = importOptionsSchema.safeParse(fields);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) problems.push({ field: key, code: 'unknown_field', message: `${key} is not an upload option` });
      } else {
        problems.push({ field: String(issue.path[0] ?? 'options'), code: 'invalid_option', message: issue.message });
      }
    }
  } else if (parsed.data.mapping) {
    const unknown = checkMappingTargets(parsed.data.mapping);
    if (unknown.length > 0) {
      problems.push({
        field: 'mapping',
        code: 'unknown_column',
        message: `the mapping names columns that do not exist: ${unknown.join(', ')} (template columns, first_name, last_name or null)`,
      });
    }
  }
  if (problems.length === 0 && parsed.success) return { options: parsed.data, autoConfirm };
  await deps.storage.delete(upload.storageKey).catch(() => undefined);
  throw new DomainError('invalid', 'invalid_field', `bad upload options: ${problems.map((p) => p.field).join(', ')}`, problems);
}

/**
 * Who starts an import: an operator of the console, or an application's API key (public API), known by its first
 * 12 characters (API_KEY_PREFIX_LENGTH in src/auth/tokens.ts).
 */
export type ImportActor = { applicationId: string } & ({ operator: Operator; apiKeyPrefix?: never } | { operator?: never; apiKeyPrefix: string });

/**
 * Writes the import row of a stored upload (VALIDATING, with its options) and starts the workflow `users-import-<id>`.
 * `autoConfirm` (public API): the workflow confirms it itself once validated.
 */
export async function startImport(
  deps: ImportServiceDeps,
  params: { actor: ImportActor; upload: ImportUpload; options?: ImportOptions; autoConfirm?: boolean },
): Promise<ImportObject> {
  const { actor } = params;
  const { upload } = params;
  const { id, storageKey, sha256, bytes, lines } = upload;
  const stored = { bytes, lines };
  try {
    await deps.db.transaction(async (tx) => {
      await reserveActiveImport(tx, { applicationId: actor.applicationId, limit: deps.config.imports.activePerApplication });
      await insertImport(tx, {
        id,
        applicationId: actor.applicationId,
        operatorId: actor.operator?.id ?? null,
        apiKeyPrefix: actor.apiKeyPrefix ?? null,
        autoConfirm: params.autoConfirm ?? false,
        fileName: upload.fileName,
        fileSha256: sha256,
        fileBytes: bytes,
        storageKey,
        workflowId: importWorkflowId(id),
        options: params.options ?? {},
        chunkConcurrency: deps.config.imports.chunkConcurrency,
        undoRecorded: deps.config.imports.undoDays > 0,
      });
    });
  } catch (err) {
    await deps.storage.delete(storageKey).catch(() => undefined);
    throw err;
  }
  const record = await getImport(deps.db, { id });
  const rows = Math.max(0, stored.lines - 1);
  try {
    await startWorkflow(deps, record, 'import', `import ${shortId(id)}: ~${rows} rows, file ${upload.fileName} (${formatBytes(stored.bytes)})`);
  } catch (err) {
    await deps.db.transaction(async (tx) => {
      await markStartFailed(tx, { importId: id, message: err instanceof Error ? err.message : String(err) });
      if ((await getImport(tx, { id })).status !== 'FAILED') return;
      // Delivered once Temporal answers again (the reconciler dispatches it).
      await recordImportEvent(tx, { importId: id, type: 'import.failed', ending: 'workflow_not_started' });
      // Its ending, like any other (API.md: every import writes an entry when it ends).
      await recordImportAudit(tx, id, `users-import-${id}:workflow_not_started`);
    });
    throw temporalUnavailable(err);
  }
  return present(deps, id);
}

/**
 * AWAITING_CONFIRMATION -> RUNNING, then the workflow starts writing. 409 invalid_state otherwise. The confirm is
 * recorded in the database first; a signal that fails (Temporal unreachable, or the answer lost although the signal
 * arrived) is not undone but sent again by the reconciler, so the import never ends up both confirmed and not.
 */
export async function confirmImport(deps: ImportServiceDeps, params: { id: string; applicationId: string }): Promise<ImportObject> {
  const record = await getImport(deps.db, params);
  // The application's approval policy: an import over it waits for a second operator (AWAITING_APPROVAL), with its
  // webhook event recorded in the same transaction.
  const approval = await deps.db.transaction(async (tx) => {
    const moved = await applyConfirm(tx, record, { activeLimit: deps.config.imports.activePerApplication });
    if (moved !== 'AWAITING_APPROVAL') return false;
    await recordImportEvent(tx, { importId: record.id, type: 'import.awaiting_approval' });
    return true;
  });
  await deps.temporal.workflow
    .getHandle(importWorkflowId(record.id))
    .signal(confirmImportSignal, ...(approval ? [{ approval: true }] : []))
    .catch(() => undefined);
  if (approval) await dispatchAfterCommit(deps, [webhookEventId('import.awaiting_approval', record.id)]);
  return present(deps, record.id);
}

/**
 * VALIDATING / AWAITING_CONFIRMATION / AWAITING_APPROVAL / RUNNING / PAUSED -> CANCELLED, then the workflow stops: no new chunk starts, rows
 * already written stay written. 409 invalid_state in any other status.
 */
export async function cancelImport(deps: ImportServiceDeps, params: { id: string; applicationId: string }): Promise<ImportObject> {
  const record = await getImport(deps.db, params);
  const status = await markCancelled(deps.db, record.id);
  if (!status) {
    throw new DomainError('conflict', 'invalid_state', `the import is ${record.status}; it can be cancelled only while validating, awaiting confirmation or running`);
  }
  // Best effort: a workflow that misses the signal still stops, since every step reads the status first.
  await signalWorkflow(deps, record.id, cancelImportSignal).catch(() => undefined);
  return present(deps, record.id);
}

/**
 * Retries the failed chunks of an import COMPLETED_WITH_ERRORS: they go back to PENDING, the import to RUNNING,
 * and a new run of the import's workflow writes exactly those. 409 nothing_to_retry / invalid_state otherwise.
 * `applicationId` is omitted by the CLI (on-call works across applications).
 */
export async function retryImport(deps: ImportServiceDeps, params: { id: string; applicationId?: string }): Promise<ImportObject> {
  const record = await getImport(deps.db, params);
  const chunks = await deps.db.transaction(async (tx) => {
    const count = await markRetrying(tx, record.id);
    await reserveActiveImport(tx, { applicationId: record.applicationId, limit: deps.config.imports.activePerApplication, excludeId: record.id });
    return count;
  });
  try {
    await startWorkflow(deps, record, 'retry', `import ${shortId(record.id)} retry: ${chunks} failed chunk(s), file ${record.fileName}`);
  } catch (err) {
    await deps.db.transaction((tx) => undoRetrying(tx, { importId: record.id, message: err instanceof Error ? err.message : String(err) }));
    throw temporalUnavailable(err);
  }
  return present(deps, record.id);
}

/**
 * Sends a control Update to the import's workflow and answers the import as the database has it afterwards. 409
 * invalid_state when the import is not in one of `allowed`, when its workflow refuses the update (it is not writing,
 * or the status moved meanwhile) or when no run of it is open.
 */
async function controlImport(
  deps: ImportServiceDeps,
  params: { id: string; applicationId?: string },
  allowed: ImportStatus[],
  what: string,
  send: (handle: ReturnType<Client['workflow']['getHandle']>) => Promise<unknown>,
): Promise<ImportObject> {
  const record = await getImport(deps.db, params);
  if (!allowed.includes(record.status)) {
    throw invalidState(`the import is ${record.status}; it can be ${what} only while ${allowed.join(' or ')}`);
  }
  try {
    await send(deps.temporal.workflow.getHandle(importWorkflowId(record.id)));
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      const cause = err.cause as { type?: string; message?: string } | undefined;
      if (cause?.type === 'invalid_field') throw new DomainError('invalid', 'invalid_field', cause.message ?? 'invalid field');
      throw invalidState(`the import cannot be ${what} now: ${cause?.message ?? err.message}${cause?.type && cause.type !== INVALID_STATE ? ` (${cause.type})` : ''}`);
    }
    if (err instanceof WorkflowNotFoundError) throw invalidState(`the import cannot be ${what}: its workflow is not running`);
    throw temporalUnavailable(err);
  }
  return present(deps, record.id);
}

/** RUNNING -> PAUSED: no new chunk starts until resumed; the chunks in flight finish. */
export function pauseImport(deps: ImportServiceDeps, params: { id: string; applicationId?: string }): Promise<ImportObject> {
  return controlImport(deps, params, ['RUNNING'], 'paused', (handle) => handle.executeUpdate(pauseImportUpdate));
}

/** PAUSED -> RUNNING: chunks start again. */
export function resumeImport(deps: ImportServiceDeps, params: { id: string; applicationId?: string }): Promise<ImportObject> {
  return controlImport(deps, params, ['PAUSED'], 'resumed', (handle) => handle.executeUpdate(resumeImportUpdate));
}

/** Changes how many chunks are written at once (1 to 16), from the next chunk on; no restart. */
export function throttleImport(
  deps: ImportServiceDeps,
  params: { id: string; applicationId?: string; chunkConcurrency: number },
): Promise<ImportObject> {
  return controlImport(deps, params, ['RUNNING', 'PAUSED'], 'throttled', (handle) =>
    handle.executeUpdate(setChunkConcurrencyUpdate, { args: [{ chunkConcurrency: params.chunkConcurrency }] }),
  );
}

/** How often decideImport asks the workflow while the database says AWAITING_APPROVAL and the workflow not yet (200 ms apart). */
const APPROVAL_UPDATE_ATTEMPTS = 25;

/**
 * A second operator approves (AWAITING_APPROVAL -> RUNNING) or rejects (-> REJECTED, error.code approval_rejected) an
 * import, through an Update whose validator refuses the operator who started it (403 approver_is_requester) and a
 * `fileSha256` other than the import's (409 file_changed). 409 invalid_state when it is not awaiting approval; 429
 * too_many_active_imports when approving would take the application over IMPORT_ACTIVE_PER_APPLICATION.
 */
export async function decideImport(
  deps: ImportServiceDeps,
  params: { id: string; applicationId: string; operatorId: string; decision: 'approve' | 'reject'; fileSha256?: string },
): Promise<ImportObject> {
  const record = await getImport(deps.db, params);
  if (record.status !== 'AWAITING_APPROVAL') {
    throw invalidState(`the import is ${record.status}; only an import AWAITING_APPROVAL can be approved or rejected`);
  }
  const update = params.decision === 'approve' ? approveImportUpdate : rejectImportUpdate;
  const handle = deps.temporal.workflow.getHandle(importWorkflowId(record.id));
  const args = [{ operatorId: params.operatorId, ...(params.fileSha256 ? { fileSha256: params.fileSha256 } : {}) }] as const;
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        await handle.executeUpdate(update, { args: [...args] });
        break;
      } catch (err) {
        // auto_confirm: the activity that set AWAITING_APPROVAL has committed, but its result has not reached the
        // workflow yet, whose validator then says it is not awaiting approval. Asked again shortly, it is.
        const notYet = err instanceof WorkflowUpdateFailedError && (err.cause as { type?: string } | undefined)?.type === INVALID_STATE;
        if (!notYet || attempt >= APPROVAL_UPDATE_ATTEMPTS || (await getImport(deps.db, params)).status !== 'AWAITING_APPROVAL') throw err;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      const cause = err.cause as { type?: string; message?: string } | undefined;
      const message = cause?.message ?? err.message;
      if (cause?.type === APPROVAL_FAILURES.approverIsRequester) throw new DomainError('forbidden', 'approver_is_requester', message);
      if (cause?.type === APPROVAL_FAILURES.fileChanged) throw new DomainError('conflict', 'file_changed', message);
      if (cause?.type === APPROVAL_FAILURES.tooManyActiveImports) throw new DomainError('too_many_requests', 'too_many_active_imports', message);
      throw invalidState(`the import cannot be ${params.decision === 'approve' ? 'approved' : 'rejected'} now: ${message}`);
    }
    if (err instanceof WorkflowNotFoundError) throw invalidState('the import cannot be decided: its workflow is not running');
    throw temporalUnavailable(err);
  }
  return present(deps, record.id);
}

/** Starts the undo workflow `users-import-undo-<id>` of an UNDOING import (a closed run of that id may be followed). */
async function startUndoWorkflow(deps: ImportServiceDeps, record: ImportRecord, summary: string): Promise<void> {
  const input: UndoImportInput = { importId: record.id, applicationId: record.applicationId, concurrency: record.chunkConcurrency ?? deps.config.imports.chunkConcurrency };
  await deps.temporal.workflow.start<typeof undoImportWorkflow>(WORKFLOW_TYPES.undoImport, {
    taskQueue: deps.config.temporal.taskQueue,
    workflowId: undoImportWorkflowId(record.id),
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    args: [input],
    staticSummary: summary,
    typedSearchAttributes: [
      { key: ApplicationId, value: record.applicationId },
      { key: JobId, value: record.id },
      { key: JobKind, value: 'import' satisfies JobKindValue },
    ],
  });
}

/**
 * Starts again the undo of an UNDOING import whose undo workflow is gone (the API died before starting it, or the run
 * was terminated or failed from outside): the new run undoes the chunks whose images have no outcome yet, so nothing
 * is done twice, and ends UNDONE as the first would have. A run started meanwhile is left as it is. Used by the
 * reconciler.
 */
export async function restartUndoWorkflow(deps: ImportServiceDeps, record: ImportRecord): Promise<void> {
  try {
    await startUndoWorkflow(deps, record, `undo of import ${shortId(record.id)} (restarted): file ${record.fileName}`);
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
}

/**
 * COMPLETED / COMPLETED_WITH_ERRORS / CANCELLED (finished within IMPORT_UNDO_DAYS) -> UNDOING, then the undo workflow
 * `users-import-undo-<id>` starts; it ends UNDONE. 409 invalid_state otherwise; 429 too_many_active_imports when the
 * application has IMPORT_ACTIVE_PER_APPLICATION imports active (an undo writes as an import does). When the workflow
 * cannot be started the import goes back to its status.
 */
export async function undoImport(
  deps: ImportServiceDeps,
  params: { id: string } & ({ applicationId: string; operatorId: string } | { actor: SystemActor }),
): Promise<ImportObject> {
  // The CLI (a SystemActor) works across applications and is recorded as `cli`, with no operator.
  const byCli = 'actor' in params;
  const record = await getImport(deps.db, byCli ? { id: params.id } : params);
  const requester = byCli ? { operatorId: null, actor: params.actor.system } : { operatorId: params.operatorId };
  const { previousStatus } = await deps.db.transaction(async (tx) => {
    const moved = await markUndoing(tx, { id: record.id, ...requester, undoDays: deps.config.imports.undoDays });
    await reserveActiveImport(tx, { applicationId: record.applicationId, limit: deps.config.imports.activePerApplication, excludeId: record.id });
    return moved;
  });
  try {
    await startUndoWorkflow(deps, record, `undo of import ${shortId(record.id)}: ${record.updatedCount} updated, ${record.createdCount} created, file ${record.fileName}`);
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) {
      await unmarkUndoing(deps.db, record.id, previousStatus);
      throw temporalUnavailable(err);
    }
  }
  return present(deps, record.id);
}
