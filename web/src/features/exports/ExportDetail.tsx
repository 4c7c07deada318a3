import { Link } from 'wouter';
import { ApiError } from '../../app/api';
import { useCan, useMe } from '../../app/session';
import { ConfirmButton } from '../../shared/ConfirmButton';
import type { ExportFilters, ExportObject } from '../../app/types';
import { DateTime } from '../../shared/DateTime';
import { ErrorMessage } from '../../shared/ErrorMessage';
import { formatBytes, formatDuration, formatNumber, formatPercent, formatRate, shortId } from '../../shared/format';
import { ProgressBar } from '../../shared/ProgressBar';
import { StatusBadge } from '../../shared/StatusBadge';
import { TemporalLink } from '../../shared/TemporalLink';
import { usePageTitle } from '../../shared/usePageTitle';
import { useExport, useExportAction, useNewLink, useRevokeLinks } from './api';
import { countryName } from './countries';
import { Fact } from '../../shared/Fact';

export function FiltersSummary({ filters }: { filters: ExportFilters | null | undefined }) {
  const f = filters ?? {};
  const items: [string, string][] = [];
  if (f.status?.length) items.push(['Status', f.status.join(', ')]);
  if (f.country?.length) items.push(['Country', f.country.map((c) => `${countryName(c)} (${c})`).join(', ')]);
  if (f.tags?.length) items.push(['Tags (any)', f.tags.join(', ')]);
  if (f.created_from) items.push(['Created from', f.created_from]);
  if (f.created_to) items.push(['Created before', f.created_to]);
  if (f.search) items.push(['Search', `“${f.search}”`]);
  if (items.length === 0) return <span>none (every user)</span>;
  return (
    <ul className="plain-list">
      {items.map(([k, v]) => (
        <li key={k}>
          {k}: {v}
        </li>
      ))}
    </ul>
  );
}

function Download({ exp }: { exp: ExportObject }) {
  const me = useMe();
  const link = useNewLink(exp.id);
  const mine = exp.operator?.id === me.operator.id;
  if (!mine) {
    return (
      <p className="notice">
        Only the operator who requested this export ({exp.operator?.email ?? 'unknown'}) may download it.
      </p>
    );
  }
  if (exp.status !== 'COMPLETED') {
    return (
      <p className="muted">
        {exp.status === 'EXPIRED' ? 'The file was deleted under the retention policy.' : 'The download is available once the export has completed.'}
      </p>
    );
  }
  return (
    <div>
      <div className="actions">
        {exp.download_url ? (
          <a className="button primary" href={exp.download_url} rel="noopener noreferrer">
            Download
          </a>
        ) : (
          <span className="notice">
            {exp.link_expires_at ? 'The link has expired; issue a new one.' : 'Its links were revoked; issue a new one.'}
          </span>
        )}
        <button type="button" onClick={() => link.mutate()} disabled={link.isPending}>
          Issue a new link
        </button>
      </div>
      {exp.download_url && (
        <p className="hint">
          The link works without signing in until <DateTime value={exp.link_expires_at} />. Anyone who has it can download the
          file.
        </p>
      )}
      <div aria-live="polite">{link.isSuccess && !link.isPending && <p role="status">A new link was issued.</p>}</div>
      <ErrorMessage error={link.error} title="A new link could not be issued." />
    </div>
  );
}

/** Cancel (QUEUED / RUNNING), Retry (FAILED), Revoke links (COMPLETED): for the requester, and exports.control_any. */
function Controls({ exp }: { exp: ExportObject }) {
  const me = useMe();
  const can = useCan();
  const cancel = useExportAction(exp.id, 'cancel');
  const retry = useExportAction(exp.id, 'retry');
  const revoke = useRevokeLinks(exp.id);
  const running = exp.status === 'QUEUED' || exp.status === 'RUNNING';
  if (!running && exp.status !== 'FAILED' && exp.status !== 'COMPLETED') return null;
  const mayControl = exp.operator?.id === me.operator.id || can('exports.control_any');
  const busy = cancel.isPending || retry.isPending || revoke.isPending;
  const reset = () => [cancel, retry, revoke].forEach((m) => m.reset());
  return (
    <section aria-labelledby="exp-actions-heading">
      <h2 id="exp-actions-heading">Actions</h2>
      {mayControl ? (
        <div className="actions">
          {running && (
            <button type="button" className="danger" disabled={busy} onClick={() => {
              reset();
              cancel.mutate();
            }}>
              Cancel export
            </button>
          )}
          {exp.status === 'FAILED' && (
            <button type="button" className="primary" disabled={busy} onClick={() => {
              reset();
              retry.mutate();
            }}>
              Retry export
            </button>
          )}
          {exp.status === 'COMPLETED' && (
            <ConfirmButton
              label="Revoke links"
              className="danger"
              disabled={busy}
              title="Revoke every link of this export?"
              confirmLabel="Yes, revoke the links"
              onConfirm={() => {
              reset();
              revoke.mutate();
            }}
            >
              <p>
                Every download link of this export stops working at once, also the ones already emailed. The requester can
                issue a new link afterwards.
              </p>
            </ConfirmButton>
          )}
        </div>
      ) : (
        <p className="notice">
          Only the operator who requested this export ({exp.operator?.email ?? 'unknown'}), an OWNER or an ADMIN may{' '}
          {running ? 'cancel it' : exp.status === 'FAILED' ? 'retry it' : 'revoke its links'}.
        </p>
      )}
      <div aria-live="polite">
        {busy && <p role="status">Sending…</p>}
        {revoke.isSuccess && !busy && <p role="status">Every link of this export was revoked.</p>}
      </div>
      <ErrorMessage error={cancel.error ?? retry.error ?? revoke.error} title="The action failed." />
    </section>
  );
}

export function ExportDetail({ id }: { id: string }) {
  const exp = useExport(id);
  const data = exp.data;
  usePageTitle(`Export ${shortId(id)}`);

  if (exp.isPending) {
    return (
      <>
        <h1>Export {shortId(id)}</h1>
        <p role="status">Loading the export…</p>
      </>
    );
  }
  if (!data) {
    const notFound = exp.error instanceof ApiError && exp.error.status === 404;
    return (
      <>
        <h1>Export {shortId(id)}</h1>
        <ErrorMessage error={exp.error} title={notFound ? 'No such export in this application.' : 'The export could not be loaded.'} />
        <p>
          <Link href="/exports">Back to the export history</Link>
        </p>
      </>
    );
  }

  const running = data.status === 'QUEUED' || data.status === 'RUNNING';
  return (
    <>
      <h1>Export {shortId(data.id)}</h1>
      <div className="status-line" aria-live="polite">
        Status: <StatusBadge status={data.status} testId="export-status" />
      </div>
      {exp.error && <ErrorMessage error={exp.error} title="The latest refresh failed; this may be out of date." />}

      {running && (
        <section aria-labelledby="exp-progress-heading">
          <h2 id="exp-progress-heading">Progress</h2>
          <ProgressBar
            value={data.status === 'QUEUED' && !data.progress ? null : data.progress}
            label="Export progress"
            valueText={formatPercent(data.progress)}
            testId="export-progress"
          />
          <p>
            {data.status === 'QUEUED' ? 'Queued…' : `${formatPercent(data.progress)} written`}
            {data.row_count !== null && data.row_count > 0 && `, ${formatNumber(data.row_count)} rows so far`}
            {data.rows_per_second ? `, ${formatRate(data.rows_per_second)} rows per second` : ''}
            {data.eta_seconds ? `, about ${formatDuration(data.eta_seconds)} left` : ''}
          </p>
        </section>
      )}

      {data.status === 'FAILED' && (
        <div className="error-box prominent" role="alert">
          <p className="error-title">The export failed.</p>
          {data.error && (
            <p>
              {data.error.message} <span className="error-code">(code <code>{data.error.code}</code>)</span>
            </p>
          )}
        </div>
      )}
      {data.status !== 'FAILED' && data.error && (
        <div className="error-box" role="alert">
          <p>
            {data.error.message} <span className="error-code">(code <code>{data.error.code}</code>)</span>
          </p>
        </div>
      )}

      <section aria-labelledby="download-heading">
        <h2 id="download-heading">Download</h2>
        <Download exp={data} />
      </section>

      <Controls exp={data} />

      <section aria-labelledby="exp-facts-heading">
        <h2 id="exp-facts-heading">Details</h2>
        <dl className="facts">
          <Fact label="Export id">
            <code>{data.id}</code>
          </Fact>
          <Fact label="Requested by">{data.operator?.email ?? '—'}</Fact>
          {data.schedule_id && (
            <Fact label="Run of a schedule">
              <span data-testid="export-schedule">{data.incremental ? 'incremental run' : 'full run'}</span>
            </Fact>
          )}
          <Fact label="Created">
            <DateTime value={data.created_at} />
          </Fact>
          <Fact label="Finished">
            <DateTime value={data.finished_at} />
          </Fact>
          <Fact label="Format">
            <span data-testid="export-format">
              {data.format ?? 'csv'}
              {data.gzip ? ', gzip' : ''}
              {data.excel_bom ? ', byte-order mark' : ''}
            </span>
          </Fact>
          <Fact label="Rows">{formatNumber(data.row_count)}</Fact>
          <Fact label="File size">{formatBytes(data.file_bytes)}</Fact>
          <Fact label="SHA-256">{data.file_sha256 ? <code className="hash">{data.file_sha256}</code> : '—'}</Fact>
          <Fact label="Link expires">
            <DateTime value={data.link_expires_at} />
          </Fact>
          <Fact label="Email">
            {data.email ? (
              <>
                to {data.email.to}: {data.email.status ?? 'not sent yet'}
                {data.email.sent_at && (
                  <>
                    {' '}
                    at <DateTime value={data.email.sent_at} />
                  </>
                )}
              </>
            ) : (
              'none'
            )}
          </Fact>
          <Fact label="Filters">
            <FiltersSummary filters={data.filters} />
          </Fact>
          <Fact label={`Columns (${data.columns.length})`}>
            {data.columns.map((c, i) => (
              <span key={c}>
                {i > 0 && ', '}
                <code>{c}</code>
              </span>
            ))}
          </Fact>
          <Fact label="Workflow">
            <TemporalLink workflowId={data.workflow_id} />
          </Fact>
        </dl>
      </section>
    </>
  );
}
