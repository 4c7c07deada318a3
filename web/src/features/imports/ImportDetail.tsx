import { useEffect, useState } from 'react';
import { Link } from 'wouter';
import { ApiError, downloadWithToken } from '../../app/api';
import { useCan, useMe } from '../../app/session';
import type { ImportObject } from '../../app/types';
import { DateTime } from '../../shared/DateTime';
import { ErrorMessage } from '../../shared/ErrorMessage';
import { formatBytes, formatDuration, formatNumber, formatPercent, formatRate } from '../../shared/format';
import { ProgressBar } from '../../shared/ProgressBar';
import { IMPORT_CANCELLABLE, IMPORT_TERMINAL } from '../../shared/statuses';
import { StatusBadge } from '../../shared/StatusBadge';
import { TemporalLink } from '../../shared/TemporalLink';
import { usePageTitle } from '../../shared/usePageTitle';
import { useImport, useImportAction } from './api';
import { ImportPreview } from './ImportPreview';
import { Fact } from '../../shared/Fact';
import { FileReading, showsFileReading } from './FileReading';
import { ApprovalSection, UndoSection, WritingControls } from './ImportControl';

function Figure({ label, value, testId }: { label: string; value: number; testId: string }) {
  return (
    <div className="figure">
      <dt>{label}</dt>
      <dd data-testid={testId}>{formatNumber(value)}</dd>
    </div>
  );
}

/**
 * Rows per second and time left. The server's `rows_per_second` / `eta_seconds` when it has the fields (null until
 * measurable, or while paused: nothing is shown); from a server without them, worked out from durable fields.
 */
export function importRate(imp: ImportObject, now: number): { rate: number | null; eta: number | null } {
  if (imp.rows_per_second !== undefined || imp.eta_seconds !== undefined) {
    return { rate: imp.rows_per_second ?? null, eta: imp.eta_seconds ?? null };
  }
  if (!imp.confirmed_at || imp.status !== 'RUNNING') return { rate: null, eta: null };
  const seconds = (now - new Date(imp.confirmed_at).getTime()) / 1000;
  if (!(seconds > 0) || imp.processed_rows <= 0) return { rate: null, eta: null };
  const rate = imp.processed_rows / seconds;
  const left = Math.max(0, imp.valid_rows - imp.processed_rows - imp.failed_rows);
  return { rate, eta: rate > 0 ? left / rate : null };
}

function useNow(active: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    const t = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(t);
  }, [active]);
  return now;
}

function Progress({ imp }: { imp: ImportObject }) {
  const now = useNow(true);
  const { rate, eta } = importRate(imp, now);
  const done = imp.processed_rows + imp.failed_rows;
  const text = `${formatNumber(imp.processed_rows)} of ${formatNumber(imp.valid_rows)} rows`;
  return (
    <section aria-labelledby="progress-heading">
      <h2 id="progress-heading">Progress</h2>
      <ProgressBar value={imp.progress} label="Import progress" valueText={`${formatPercent(imp.progress)}, ${text}`} testId="import-progress" />
      <ul className="progress-facts">
        <li>
          {text} ({formatPercent(imp.progress)})
          {imp.failed_rows > 0 && <>, {formatNumber(imp.failed_rows)} in failed chunks</>}
        </li>
        <li>
          chunks {formatNumber(imp.chunks.completed)} of {formatNumber(imp.chunks.total)} ({formatNumber(imp.chunks.failed)}{' '}
          failed)
        </li>
        {rate !== null && <li data-testid="import-rate">{formatRate(rate)} rows per second</li>}
        {eta !== null && (
          <li data-testid="import-eta">{done >= imp.valid_rows ? 'finishing…' : `about ${formatDuration(eta)} left`}</li>
        )}
      </ul>
    </section>
  );
}

function Summary({ imp }: { imp: ImportObject }) {
  return (
    <section aria-labelledby="summary-heading">
      <h2 id="summary-heading">Summary</h2>
      <dl className="figures">
        <Figure label="Created" value={imp.created_count} testId="summary-created" />
        <Figure label="Updated" value={imp.updated_count} testId="summary-updated" />
        <Figure label="Unchanged" value={imp.unchanged_count} testId="summary-unchanged" />
        <Figure label="Skipped (invalid)" value={imp.skipped_count} testId="summary-skipped" />
        <Figure label="Failed" value={imp.failed_rows} testId="summary-failed" />
      </dl>
    </section>
  );
}

function Counts({ imp }: { imp: ImportObject }) {
  return (
    <section aria-labelledby="counts-heading">
      <h2 id="counts-heading">Preview</h2>
      <p>
        {formatNumber(imp.total_rows)} rows in the file, {formatNumber(imp.valid_rows)} valid. Nothing has been written yet.
      </p>
      <dl className="figures">
        <Figure label="To create" value={imp.to_create} testId="count-to-create" />
        <Figure label="To update" value={imp.to_update} testId="count-to-update" />
        <Figure label="Unchanged" value={imp.to_unchanged} testId="count-unchanged" />
        <Figure label="Invalid" value={imp.invalid_rows} testId="count-invalid" />
      </dl>
    </section>
  );
}

function ErrorReportButton({ imp }: { imp: ImportObject }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const problems = imp.skipped_count + imp.failed_rows;
  async function download(report: 'errors' | 'invalid-rows') {
    setBusy(true);
    setError(null);
    try {
      await downloadWithToken(`/console/users/imports/${encodeURIComponent(imp.id)}/${report}.csv`, `import-${imp.id}-${report}.csv`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <div className="action-block">
      <button type="button" onClick={() => void download('errors')} disabled={busy}>
        Download error report
      </button>{' '}
      <button type="button" onClick={() => void download('invalid-rows')} disabled={busy || problems === 0}>
        Download rows to fix
      </button>{' '}
      <span className="hint">
        {problems > 0
          ? `${formatNumber(problems)} ${problems === 1 ? 'row' : 'rows'} skipped or failed (errors.csv; the rows to fix come in the template's columns and can be uploaded again as they are)`
          : 'No row was skipped or failed; the report has only its header.'}
      </span>
      <ErrorMessage error={error} title="The report could not be downloaded." />
    </div>
  );
}

export function ImportDetail({ id }: { id: string }) {
  const me = useMe();
  const can = useCan();
  const [pollUntil, setPollUntil] = useState(0);
  const imp = useImport(id, pollUntil);
  const confirm = useImportAction(id, 'confirm');
  const cancel = useImportAction(id, 'cancel');
  const retry = useImportAction(id, 'retry');
  const [showRows, setShowRows] = useState(false);
  const data = imp.data;
  usePageTitle(data ? `Import ${data.file_name}` : 'Import');

  const afterAction = { onSuccess: () => setPollUntil(Date.now() + 15_000) };
  const run = (m: typeof confirm) => {
    for (const other of [confirm, cancel, retry]) if (other !== m) other.reset();
    m.mutate(undefined, afterAction);
  };
  const actionError = confirm.error ?? cancel.error ?? retry.error;
  const busy = confirm.isPending || cancel.isPending || retry.isPending;

  if (imp.isPending) {
    return (
      <>
        <h1>Import</h1>
        <p role="status">Loading the import…</p>
      </>
    );
  }
  if (!data) {
    const notFound = imp.error instanceof ApiError && imp.error.status === 404;
    return (
      <>
        <h1>Import</h1>
        <ErrorMessage error={imp.error} title={notFound ? 'No such import in this application.' : 'The import could not be loaded.'} />
        <p>
          <Link href="/imports">Back to the import history</Link>
        </p>
      </>
    );
  }

  const status = data.status;
  const finished = IMPORT_TERMINAL.has(status) && status !== 'REJECTED';
  // The error reports exist from the preview on (the invalid rows are known once the file is read).
  const reportable = status !== 'VALIDATING' && status !== 'REJECTED';
  const waiting = status === 'AWAITING_CONFIRMATION' || status === 'AWAITING_APPROVAL';
  const writing = !IMPORT_TERMINAL.has(status) && !waiting && status !== 'VALIDATING' && status !== 'UNDOING';
  const canWrite = can('imports.write');
  const canRetry = can('imports.retry');

  return (
    <>
      <h1>Import {data.file_name}</h1>
      <div className="status-line" aria-live="polite">
        Status: <StatusBadge status={status} testId="import-status" />
        {imp.isRefetching && <span className="sr-only"> (refreshing)</span>}
      </div>
      {imp.error && <ErrorMessage error={imp.error} title="The latest refresh failed; the figures may be out of date." />}

      <dl className="facts">
        <Fact label="File">
          {data.file_name} <span className="muted">({formatBytes(data.file_bytes)})</span>
        </Fact>
        {data.file_sha256 && (
          <Fact label="SHA-256">
            <code className="hash">{data.file_sha256}</code>
          </Fact>
        )}
        <Fact label="Started by">{data.operator?.email ?? (data.api_key ? `API key ${data.api_key.prefix}…` : '—')}</Fact>
        <Fact label="Uploaded">
          <DateTime value={data.created_at} />
        </Fact>
        <Fact label="Confirmed">
          <DateTime value={data.confirmed_at} />
        </Fact>
        <Fact label="Finished">
          <DateTime value={data.finished_at} />
        </Fact>
        <Fact label="Workflow">
          <TemporalLink workflowId={data.workflow_id} />
        </Fact>
      </dl>

      {status === 'VALIDATING' && (
        <section aria-labelledby="validating-heading">
          <h2 id="validating-heading">Validating</h2>
          <p role="status">Validating… the file is being checked row by row.</p>
          <ProgressBar value={null} label="Validating the file" testId="import-validating" />
        </section>
      )}

      {status === 'REJECTED' && data.error && (
        <div className="error-box prominent" role="alert">
          <p className="error-title">The file was rejected; nothing was written.</p>
          <p>
            {data.error.message} <span className="error-code">(code <code>{data.error.code}</code>)</span>
          </p>
        </div>
      )}
      {status !== 'REJECTED' && data.error && (
        <div className="error-box" role="alert">
          <p className="error-title">{status === 'FAILED' ? 'The import failed.' : 'The import reported an error.'}</p>
          <p>
            {data.error.message} <span className="error-code">(code <code>{data.error.code}</code>)</span>
          </p>
        </div>
      )}

      {status !== 'VALIDATING' && showsFileReading(data) && <FileReading imp={data} canWrite={canWrite} />}

      {waiting && <Counts imp={data} />}

      <ApprovalSection imp={data} />

      {writing && <Progress imp={data} />}

      <WritingControls imp={data} />

      {(finished || status === 'UNDOING') && <Summary imp={data} />}

      <UndoSection imp={data} />

      {(status === 'AWAITING_CONFIRMATION' || IMPORT_CANCELLABLE.has(status) || finished) && (
        <section aria-labelledby="actions-heading" className="actions-section">
          <h2 id="actions-heading">Actions</h2>
          <div className="actions">
            {status === 'AWAITING_CONFIRMATION' && canWrite && (
              <button type="button" className="primary" disabled={busy} onClick={() => run(confirm)}>
                Confirm import
              </button>
            )}
            {IMPORT_CANCELLABLE.has(status) && canWrite && (
              <button type="button" className="danger" disabled={busy} onClick={() => run(cancel)}>
                Cancel import
              </button>
            )}
            {status === 'COMPLETED_WITH_ERRORS' && data.chunks.failed > 0 && (
              <>
                <button
                  type="button"
                  disabled={busy || !canRetry}
                  aria-describedby={canRetry ? undefined : 'retry-reason'}
                  onClick={() => run(retry)}
                >
                  Retry failed chunks
                </button>
                {!canRetry && (
                  <span id="retry-reason" className="hint">
                    Your role, {me.operator.role}, does not have the imports.retry permission.
                  </span>
                )}
              </>
            )}
          </div>
          {!canWrite && (status === 'AWAITING_CONFIRMATION' || IMPORT_CANCELLABLE.has(status)) && (
            <p className="notice">
              Confirming or cancelling needs the imports.write permission, which your role ({me.operator.role}) does not have.
            </p>
          )}
          {reportable && <ErrorReportButton imp={data} />}
          <div aria-live="polite">
            {busy && <p role="status">Sending…</p>}
          </div>
          <ErrorMessage error={actionError} title="The action failed." />
        </section>
      )}

      {status === 'AWAITING_CONFIRMATION' && <ImportPreview imp={data} />}
      {status !== 'AWAITING_CONFIRMATION' && status !== 'VALIDATING' && status !== 'REJECTED' && data.total_rows > 0 && (
        <section aria-labelledby="file-rows-heading">
          <h2 id="file-rows-heading">Rows of the file</h2>
          <button type="button" aria-expanded={showRows} onClick={() => setShowRows((v) => !v)}>
            {showRows ? 'Hide the rows' : 'Show the rows'}
          </button>
          {showRows && <ImportPreview imp={data} nested />}
        </section>
      )}
    </>
  );
}
