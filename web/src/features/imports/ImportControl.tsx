import { useId, useState, type FormEvent } from 'react';
import { downloadWithToken } from '../../app/api';
import { useCan, useMe } from '../../app/session';
import type { ImportObject } from '../../app/types';
import { ConfirmButton } from '../../shared/ConfirmButton';
import { DateTime } from '../../shared/DateTime';
import { ErrorMessage } from '../../shared/ErrorMessage';
import { formatNumber } from '../../shared/format';
import { useChunkConcurrency, useImportAction } from './api';

/** API.md's bounds of `chunk_concurrency`. */
export const CHUNK_CONCURRENCY_MIN = 1;
export const CHUNK_CONCURRENCY_MAX = 16;

/** Statuses an import can be undone from (within IMPORT_UNDO_DAYS; the API says when it is too late). */
export const IMPORT_UNDOABLE = new Set(['COMPLETED', 'COMPLETED_WITH_ERRORS', 'CANCELLED']);

const users = (n: number) => `${formatNumber(n)} ${n === 1 ? 'user' : 'users'}`;

/**
 * The second operator's decision: the reasons, and Approve / Reject for a role with imports.approve that did not start
 * the import (the API refuses the requester with 403 approver_is_requester); who decided and when, once decided.
 */
export function ApprovalSection({ imp }: { imp: ImportObject }) {
  const me = useMe();
  const can = useCan();
  const approve = useImportAction(imp.id, 'approve');
  const reject = useImportAction(imp.id, 'reject');
  const approval = imp.approval;
  if (!approval || (!approval.required && imp.status !== 'AWAITING_APPROVAL')) return null;
  const waiting = imp.status === 'AWAITING_APPROVAL';
  const isRequester = imp.operator !== null && imp.operator.id === me.operator.id;
  const mayDecide = can('imports.approve') && !isRequester;
  const busy = approve.isPending || reject.isPending;
  // The file the approver reviewed: the API refuses the decision (409 file_changed) if it is not the import's.
  const body = imp.file_sha256 ? { file_sha256: imp.file_sha256 } : undefined;
  const decide = (which: typeof approve) => {
    for (const m of [approve, reject]) if (m !== which) m.reset();
    which.mutate(body);
  };
  return (
    <section aria-labelledby="approval-heading" data-testid="approval">
      <h2 id="approval-heading">Approval</h2>
      {approval.reasons.length > 0 && (
        <>
          <p>A second operator must approve this import because:</p>
          <ul data-testid="approval-reasons">
            {approval.reasons.map((reason) => (
              <li key={reason}>{reason}</li>
            ))}
          </ul>
        </>
      )}
      {waiting && isRequester && (
        <p className="notice" data-testid="approval-waiting">
          You started this import, so another operator (OWNER, ADMIN or COMPLIANCE_OFFICER) must approve or reject it.
        </p>
      )}
      {waiting && !isRequester && !can('imports.approve') && (
        <p className="notice">
          It waits for an operator with the imports.approve permission, which your role ({me.operator.role}) does not have.
        </p>
      )}
      {waiting && mayDecide && (
        <div className="actions">
          <button type="button" className="primary" disabled={busy} onClick={() => decide(approve)}>
            Approve
          </button>
          <ConfirmButton
            label="Reject"
            className="danger"
            disabled={busy}
            title="Reject this import?"
            confirmLabel="Yes, reject it"
            onConfirm={() => decide(reject)}
          >
            <p>Nothing of it will be written; it ends REJECTED.</p>
          </ConfirmButton>
        </div>
      )}
      {approval.decided_at && (
        <p data-testid="approval-decision">
          {approval.approved_by
            ? `Approved by ${approval.approved_by.email}`
            : approval.rejected_by
              ? `Rejected by ${approval.rejected_by.email}`
              : 'Decided'}{' '}
          at <DateTime value={approval.decided_at} />.
        </p>
      )}
      <div aria-live="polite">{busy && <p role="status">Sending…</p>}</div>
      <ErrorMessage error={approve.error ?? reject.error} title="The decision was not recorded." />
    </section>
  );
}

/** Pause / Resume and the chunk window of a RUNNING or PAUSED import, for a role with imports.control. */
export function WritingControls({ imp }: { imp: ImportObject }) {
  const can = useCan();
  const pause = useImportAction(imp.id, 'pause');
  const resume = useImportAction(imp.id, 'resume');
  const concurrency = useChunkConcurrency(imp.id);
  const [value, setValue] = useState(String(imp.chunk_concurrency ?? ''));
  const [formError, setFormError] = useState<string | null>(null);
  const inputId = useId();
  const hintId = useId();
  if ((imp.status !== 'RUNNING' && imp.status !== 'PAUSED') || !can('imports.control')) return null;
  const busy = pause.isPending || resume.isPending;

  function submit(e: FormEvent) {
    e.preventDefault();
    setFormError(null);
    const n = Number(value);
    if (!Number.isInteger(n) || n < CHUNK_CONCURRENCY_MIN || n > CHUNK_CONCURRENCY_MAX) {
      setFormError(`Chunks at once must be a whole number from ${CHUNK_CONCURRENCY_MIN} to ${CHUNK_CONCURRENCY_MAX}.`);
      return;
    }
    concurrency.mutate(n);
  }

  return (
    <section aria-labelledby="control-heading">
      <h2 id="control-heading">Writing</h2>
      <div className="actions">
        {imp.status === 'RUNNING' ? (
          <button type="button" disabled={busy} onClick={() => {
              resume.reset();
              pause.mutate(undefined);
            }}>
            Pause import
          </button>
        ) : (
          <button type="button" className="primary" disabled={busy} onClick={() => {
              pause.reset();
              resume.mutate(undefined);
            }}>
            Resume import
          </button>
        )}
        <span className="hint">
          {imp.status === 'PAUSED' ? 'Paused: no new chunk starts until resumed.' : 'A pause lets the chunks in flight finish.'}
        </span>
      </div>
      <form onSubmit={submit} className="inline-field" noValidate>
        <label htmlFor={inputId}>Chunks at once</label>
        <input
          id={inputId}
          type="number"
          min={CHUNK_CONCURRENCY_MIN}
          max={CHUNK_CONCURRENCY_MAX}
          step={1}
          value={value}
          onChange={(e) => setValue(e.target.value)}
          aria-describedby={hintId}
        />
        <button type="submit" disabled={concurrency.isPending}>
          Set chunks at once
        </button>
        <span id={hintId} className="hint">
          {CHUNK_CONCURRENCY_MIN} to {CHUNK_CONCURRENCY_MAX}; now{' '}
          <span data-testid="chunk-concurrency">{imp.chunk_concurrency ?? '—'}</span>. Takes effect from the next chunk.
        </span>
      </form>
      <div aria-live="polite">
        {(busy || concurrency.isPending) && <p role="status">Sending…</p>}
        {concurrency.isSuccess && !concurrency.isPending && <p role="status">Chunks at once set to {concurrency.data.chunk_concurrency}.</p>}
      </div>
      {formError && (
        <p className="error-box" role="alert">
          {formError}
        </p>
      )}
      <ErrorMessage error={pause.error ?? resume.error ?? concurrency.error} title="The change was not made." />
    </section>
  );
}

/**
 * Undo (COMPLETED / COMPLETED_WITH_ERRORS / CANCELLED, for imports.undo) behind a confirmation naming what it does, and
 * the undo's figures and its conflicts report while UNDOING and once UNDONE.
 */
export function UndoSection({ imp }: { imp: ImportObject }) {
  const can = useCan();
  const undo = useImportAction(imp.id, 'undo');
  const [reportError, setReportError] = useState<unknown>(null);
  const undoable = IMPORT_UNDOABLE.has(imp.status) && can('imports.undo');
  if (!undoable && !imp.undo && imp.status !== 'UNDOING' && imp.status !== 'UNDONE') return null;

  async function downloadConflicts() {
    setReportError(null);
    try {
      await downloadWithToken(`/console/users/imports/${encodeURIComponent(imp.id)}/undo-conflicts.csv`, `import-${imp.id}-undo-conflicts.csv`);
    } catch (err) {
      setReportError(err);
    }
  }

  return (
    <section aria-labelledby="undo-heading">
      <h2 id="undo-heading">Undo</h2>
      {undoable && !imp.undo && (
        <div className="actions">
          <ConfirmButton
            label="Undo import"
            className="danger"
            disabled={undo.isPending}
            title="Undo this import?"
            confirmLabel="Yes, undo the import"
            onConfirm={() => undo.mutate(undefined)}
          >
            <ul>
              <li>
                <span data-testid="undo-confirm-restored">{users(imp.updated_count)}</span> it updated will get back the values they
                had just before it;
              </li>
              <li>
                <span data-testid="undo-confirm-deleted">{users(imp.created_count)}</span> it created will be deleted.
              </li>
            </ul>
            <p>A user changed or verified since is left as it is and listed as a conflict.</p>
          </ConfirmButton>
        </div>
      )}
      {imp.undo && (
        <>
          <p>
            {imp.undo.status === 'COMPLETED' ? 'Undone' : 'Undoing…'}{' '}
            {imp.undo.finished_at && (
              <>
                (finished <DateTime value={imp.undo.finished_at} />)
              </>
            )}
          </p>
          <dl className="figures">
            <div className="figure">
              <dt>Restored</dt>
              <dd data-testid="undo-restored">{formatNumber(imp.undo.restored)}</dd>
            </div>
            <div className="figure">
              <dt>Deleted</dt>
              <dd data-testid="undo-deleted">{formatNumber(imp.undo.deleted)}</dd>
            </div>
            <div className="figure">
              <dt>Conflicts</dt>
              <dd data-testid="undo-conflicts">{formatNumber(imp.undo.conflicts)}</dd>
            </div>
          </dl>
          <div className="action-block">
            <button type="button" onClick={() => void downloadConflicts()}>
              Download undo conflicts
            </button>{' '}
            <span className="hint">undo-conflicts.csv: each user left as it is, and why.</span>
          </div>
        </>
      )}
      <div aria-live="polite">{undo.isPending && <p role="status">Sending…</p>}</div>
      <ErrorMessage error={undo.error} title="The import could not be undone." />
      <ErrorMessage error={reportError} title="The conflicts report could not be downloaded." />
    </section>
  );
}
