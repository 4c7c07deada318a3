import { useId, useRef, useState, type DragEvent } from 'react';
import { useLocation } from 'wouter';
import { downloadWithToken } from '../../app/api';
import { useCan, useMe } from '../../app/session';
import { ErrorMessage } from '../../shared/ErrorMessage';
import { ProgressBar } from '../../shared/ProgressBar';
import { usePageTitle } from '../../shared/usePageTitle';
import { useUpload } from './api';

export function TemplateButton() {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  async function download() {
    setBusy(true);
    setError(null);
    try {
      await downloadWithToken('/console/users/import-template.csv', 'import-template.csv');
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <div>
      <button type="button" onClick={() => void download()} disabled={busy}>
        Download template
      </button>
      <ErrorMessage error={error} title="The template could not be downloaded." />
    </div>
  );
}

function UploadZone() {
  const upload = useUpload();
  const [, navigate] = useLocation();
  const [dragging, setDragging] = useState(false);
  const [fileName, setFileName] = useState<string | null>(null);
  const inputRef = useRef<HTMLInputElement>(null);
  const hintId = useId();

  function send(file: File | undefined) {
    if (!file || upload.isPending) return;
    setFileName(file.name);
    upload.mutate(file, {
      onSuccess: (imp) => navigate(`/imports/${imp.id}`),
      onSettled: () => {
        if (inputRef.current) inputRef.current.value = '';
      },
    });
  }

  function onDrop(e: DragEvent<HTMLDivElement>) {
    e.preventDefault();
    setDragging(false);
    send(e.dataTransfer.files[0]);
  }

  return (
    <section aria-labelledby="upload-heading">
      <h2 id="upload-heading">Upload a file</h2>
      <div
        className={`dropzone${dragging ? ' dragging' : ''}${upload.isPending ? ' busy' : ''}`}
        onDragOver={(e) => {
          e.preventDefault();
          e.dataTransfer.dropEffect = 'copy';
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
      >
        <input
          ref={inputRef}
          id="import-file"
          className="file-input"
          type="file"
          accept=".csv,text/csv"
          aria-describedby={hintId}
          disabled={upload.isPending}
          onChange={(e) => send(e.target.files?.[0])}
        />
        <label htmlFor="import-file" className="button primary">
          Choose a CSV file
        </label>
        <p id={hintId} className="hint">
          or drop it here. The file is checked first; nothing is written until you confirm the preview.
        </p>
      </div>
      <div aria-live="polite">
        {upload.isPending && (
          <div className="uploading" role="status">
            <p>Validating… {fileName && <span className="muted">({fileName})</span>}</p>
            <ProgressBar value={null} label="Validating…" />
          </div>
        )}
      </div>
      <ErrorMessage error={upload.error} title={fileName ? `The upload of ${fileName} failed.` : 'The upload failed.'} />
    </section>
  );
}

export function ImportPage() {
  usePageTitle('Import users');
  const can = useCan();
  const me = useMe();
  return (
    <>
      <h1>Import users</h1>
      <p>
        Create or update users from a CSV file. Columns: <code>vendor_data</code> (required) and any of the template&apos;s
        other columns.
      </p>
      <TemplateButton />
      {can('imports.write') ? (
        <UploadZone />
      ) : (
        <p className="notice" role="note">
          Starting an import is not available to you: your role, {me.operator.role}, does not have the imports.write
          permission. You can still read the import history and download error reports.
        </p>
      )}
    </>
  );
}
