import { useId, useRef, useState, type DragEvent } from 'react';
import { useLocation } from 'wouter';
import { downloadWithToken } from '../../app/api';
import { useCan, useMe } from '../../app/session';
import { ErrorMessage } from '../../shared/ErrorMessage';
import { ProgressBar } from '../../shared/ProgressBar';
import { usePageTitle } from '../../shared/usePageTitle';
import { useUpload } from './api';
import { SavedMappings } from './SavedMappings';
import {
  DELIMITER_CHOICES,
  EMPTY_CELLS_CHOICES,
  ENCODING_CHOICES,
  FORMAT_CHOICES,
  METADATA_CHOICES,
  MODE_CHOICES,
  OPTION_DEFAULTS,
  PRESET_CHOICES,
  TAGS_CHOICES,
  type UploadOptions,
} from './uploadOptions';

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

function OptionSelect({
  label,
  value,
  choices,
  onChange,
}: {
  label: string;
  value: string;
  choices: { value: string; label: string }[];
  onChange: (value: string) => void;
}) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value)}>
        {choices.map((c) => (
          <option key={c.value} value={c.value}>
            {c.label}
          </option>
        ))}
      </select>
    </div>
  );
}

const INITIAL_OPTIONS: Required<Omit<UploadOptions, 'mapping' | 'save_mapping'>> & { save_mapping: boolean } = {
  ...OPTION_DEFAULTS,
  save_mapping: false,
};

/** The upload's options (API.md's upload table), shown open; each control's default is not sent. */
function OptionsSection({ options, onChange }: { options: typeof INITIAL_OPTIONS; onChange: (next: typeof INITIAL_OPTIONS) => void }) {
  const set = (key: keyof typeof INITIAL_OPTIONS) => (value: string) => onChange({ ...options, [key]: value });
  const phoneId = useId();
  const phoneHint = useId();
  const saveId = useId();
  const sheetId = useId();
  const sheetHint = useId();
  return (
    <details className="upload-options" open>
      <summary>Options</summary>
      <div className="options-grid">
        <OptionSelect label="Source preset" value={options.preset} choices={PRESET_CHOICES} onChange={set('preset')} />
        <OptionSelect label="Mode" value={options.mode} choices={MODE_CHOICES} onChange={set('mode')} />
        <OptionSelect label="Empty cells" value={options.empty_cells} choices={EMPTY_CELLS_CHOICES} onChange={set('empty_cells')} />
        <OptionSelect label="Tags" value={options.tags_mode} choices={TAGS_CHOICES} onChange={set('tags_mode')} />
        <OptionSelect label="Metadata" value={options.metadata_mode} choices={METADATA_CHOICES} onChange={set('metadata_mode')} />
        <div className="field">
          <label htmlFor={phoneId}>Default phone country</label>
          <input
            id={phoneId}
            type="text"
            value={options.default_phone_country}
            maxLength={3}
            size={4}
            autoComplete="off"
            aria-describedby={phoneHint}
            onChange={(e) => set('default_phone_country')(e.target.value)}
          />
          <span id={phoneHint} className="hint">
            e.g. ES: national numbers are read as this country&apos;s
          </span>
        </div>
        <OptionSelect label="Format" value={options.format} choices={FORMAT_CHOICES} onChange={set('format')} />
        <div className="field">
          <label htmlFor={sheetId}>Sheet</label>
          <input
            id={sheetId}
            type="text"
            value={options.sheet}
            autoComplete="off"
            aria-describedby={sheetHint}
            onChange={(e) => set('sheet')(e.target.value)}
          />
          <span id={sheetHint} className="hint">
            xlsx only: the sheet to read by its name (empty: the first sheet)
          </span>
        </div>
        <OptionSelect label="Encoding" value={options.encoding} choices={ENCODING_CHOICES} onChange={set('encoding')} />
        <OptionSelect label="Delimiter" value={options.delimiter} choices={DELIMITER_CHOICES} onChange={set('delimiter')} />
      </div>
      <div className="check save-mapping">
        <input
          id={saveId}
          type="checkbox"
          checked={options.save_mapping}
          onChange={(e) => onChange({ ...options, save_mapping: e.target.checked })}
        />
        <label htmlFor={saveId}>Remember this mapping for files with the same headers</label>
      </div>
    </details>
  );
}

function UploadZone() {
  const upload = useUpload();
  const [, navigate] = useLocation();
  const [dragging, setDragging] = useState(false);
  const [fileName, setFileName] = useState<string | null>(null);
  const inputRef = useRef<HTMLInputElement>(null);
  const hintId = useId();
  const [options, setOptions] = useState(INITIAL_OPTIONS);

  function send(file: File | undefined) {
    if (!file || upload.isPending) return;
    setFileName(file.name);
    upload.mutate({ file, options }, {
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
      <OptionsSection options={options} onChange={setOptions} />
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
          accept=".csv,.txt,.tsv,.xlsx,.ndjson,.jsonl,text/csv"
          aria-describedby={hintId}
          disabled={upload.isPending}
          onChange={(e) => send(e.target.files?.[0])}
        />
        <label htmlFor="import-file" className="button primary">
          Choose a CSV file
        </label>
        <p id={hintId} className="hint">
          or drop it here (CSV, Excel xlsx or NDJSON). The file is checked first; nothing is written until you confirm the
          preview.
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
      {can('mappings.manage') && <SavedMappings />}
    </>
  );
}
