import { useState, type FormEvent } from 'react';
import { useLocation } from 'wouter';
import { useCan, useMe } from '../../app/session';
import { ErrorMessage } from '../../shared/ErrorMessage';
import { usePageTitle } from '../../shared/usePageTitle';
import { useStartExport } from './api';
import { ExportSpecFields, useExportSpec } from './ExportSpecFields';

export function ExportPage() {
  usePageTitle('Export users');
  const me = useMe();
  const can = useCan();
  const [, navigate] = useLocation();
  const start = useStartExport();
  const spec = useExportSpec();
  const [formError, setFormError] = useState<string | null>(null);

  if (!can('exports.restricted_columns') && !can('exports.all_columns')) {
    return (
      <>
        <h1>Export users</h1>
        <p className="notice">Your role, {me.operator.role}, may not export users.</p>
      </>
    );
  }

  function submit(e: FormEvent) {
    e.preventDefault();
    const read = spec.read();
    if ('problem' in read) {
      setFormError(read.problem);
      return;
    }
    setFormError(null);
    start.mutate(read.spec, { onSuccess: (exp) => navigate(`/exports/${exp.id}`) });
  }

  return (
    <>
      <h1>Export users</h1>
      <p>
        Write the users that match the filters to a CSV or NDJSON file. When it is ready you can download it here, and you get an email
        with the link.
      </p>
      <form onSubmit={submit} className="export-form" noValidate>
        <ExportSpecFields spec={spec} />
        <div className="actions">
          <button type="submit" className="primary" disabled={start.isPending}>
            Start export
          </button>
          <span aria-live="polite">{start.isPending ? 'Starting the export…' : ''}</span>
        </div>
        {formError && (
          <p className="error-box" role="alert">
            {formError}
          </p>
        )}
        <ErrorMessage error={start.error} title="The export could not be started." />
      </form>
    </>
  );
}
