import { useEffect, useId, useState } from 'react';
import { Link, useLocation } from 'wouter';
import { api } from '../../app/api';
import type { ImportObject, MappingEntry } from '../../app/types';
import { ErrorMessage } from '../../shared/ErrorMessage';
import { Fact } from '../../shared/Fact';
import { useQueryClient } from '@tanstack/react-query';
import { importKeys, useUpload } from './api';
import {
  chosenFile,
  DELIMITER_CHOICES,
  EMPTY_CELLS_CHOICES,
  ENCODING_CHOICES,
  FORMAT_CHOICES,
  headersOfFile,
  labelOf,
  MAPPING_TARGETS,
  METADATA_CHOICES,
  MODE_CHOICES,
  PRESET_CHOICES,
  SOURCE_LABELS,
  TAGS_CHOICES,
} from './uploadOptions';

const HEADER_ERRORS = new Set(['unknown_column', 'duplicate_column']);
const IGNORE = '';

/** Whether the detail page shows "How the file was read": once the file was read, or rejected for its headers. */
export function showsFileReading(imp: ImportObject): boolean {
  if (imp.status === 'REJECTED' && imp.error && HEADER_ERRORS.has(imp.error.code)) return true;
  return Boolean(imp.options?.format) || (imp.mapping?.length ?? 0) > 0;
}

function MappingSelect({ header, value, onChange, disabled }: { header: string; value: string; onChange: (v: string) => void; disabled: boolean }) {
  const id = useId();
  return (
    <>
      <label htmlFor={id} className="sr-only">
        Read {header} as
      </label>
      <select id={id} value={value} disabled={disabled} onChange={(e) => onChange(e.target.value)} data-header={header}>
        {MAPPING_TARGETS.map((c) => (
          <option key={c} value={c}>
            {c}
          </option>
        ))}
        <option value={IGNORE}>ignore</option>
      </select>
    </>
  );
}

/** The detected or given format, encoding and delimiter, the other options, and each header's column (editable). */
export function FileReading({ imp, canWrite }: { imp: ImportObject; canWrite: boolean }) {
  const options = imp.options ?? {};
  const chosen = chosenFile(imp.id);
  const awaiting = imp.status === 'AWAITING_CONFIRMATION';
  const editableStatus = awaiting || imp.status === 'REJECTED';
  const editable = editableStatus && canWrite && chosen !== undefined;

  // A file rejected for its headers has no mapping: read the headers from the file this tab still has.
  const [fileHeaders, setFileHeaders] = useState<string[] | null>(null);
  const needsHeaders = !imp.mapping && editable;
  useEffect(() => {
    if (!needsHeaders || !chosen) return;
    let live = true;
    headersOfFile(chosen.file, options.delimiter ?? chosen.options.delimiter).then(
      (h) => live && setFileHeaders(h),
      () => live && setFileHeaders(null),
    );
    return () => {
      live = false;
    };
  }, [needsHeaders, chosen, options.delimiter]);

  const entries: MappingEntry[] =
    imp.mapping ??
    (fileHeaders ?? []).map((header) => {
      const given = options.mapping && Object.hasOwn(options.mapping, header) ? options.mapping[header] : undefined;
      return { header, column: given ?? null, source: given !== undefined ? 'mapping' : 'unresolved' };
    });

  const [draft, setDraft] = useState<Record<string, string>>({});
  const valueOf = (e: MappingEntry) => draft[e.header] ?? e.column ?? IGNORE;

  const upload = useUpload();
  const qc = useQueryClient();
  const [, navigate] = useLocation();
  const [error, setError] = useState<unknown>(null);
  const [orphan, setOrphan] = useState<string | null>(null);
  const busy = upload.isPending;

  async function revalidate() {
    if (!chosen) return;
    setError(null);
    setOrphan(null);
    const mapping: Record<string, string | null> = {};
    for (const e of entries) {
      const v = valueOf(e);
      mapping[e.header] = v === IGNORE ? null : v;
    }
    let next: ImportObject;
    try {
      next = await upload.mutateAsync({ file: chosen.file, options: { ...chosen.options, mapping } });
    } catch (err) {
      setError(err);
      return;
    }
    if (awaiting) {
      try {
        const old = await api<ImportObject>(`/console/users/imports/${encodeURIComponent(imp.id)}/cancel`, { method: 'POST' });
        qc.setQueryData(importKeys.one(imp.id), old);
      } catch (err) {
        setError(err);
        setOrphan(next.id);
        return;
      }
    }
    navigate(`/imports/${next.id}`);
  }

  const detected = imp.options?.format ?? null;
  return (
    <section aria-labelledby="file-reading-heading">
      <h2 id="file-reading-heading">How the file was read</h2>
      <dl className="facts">
        <Fact label="Format">{detected ? labelOf(FORMAT_CHOICES, detected) : <span className="muted">{imp.mapping ? 'not reported' : 'not read'}</span>}</Fact>
        {options.sheet && <Fact label="Sheet">{options.sheet}</Fact>}
        <Fact label="Encoding">{labelOf(ENCODING_CHOICES, options.encoding)}</Fact>
        <Fact label="Delimiter">{labelOf(DELIMITER_CHOICES, options.delimiter)}</Fact>
        <Fact label="Source preset">{options.preset ? labelOf(PRESET_CHOICES, options.preset) : 'None'}</Fact>
        <Fact label="Mode">{labelOf(MODE_CHOICES, options.mode ?? 'upsert')}</Fact>
        <Fact label="Empty cells">{labelOf(EMPTY_CELLS_CHOICES, options.empty_cells ?? 'keep')}</Fact>
        <Fact label="Tags">{labelOf(TAGS_CHOICES, options.tags_mode ?? 'replace')}</Fact>
        <Fact label="Metadata">{labelOf(METADATA_CHOICES, options.metadata_mode ?? 'merge')}</Fact>
        {options.default_phone_country && <Fact label="Default phone country">{options.default_phone_country}</Fact>}
        {options.save_mapping && <Fact label="Mapping">remembered for files with the same headers</Fact>}
      </dl>

      {entries.length > 0 ? (
        <div className="table-scroll">
          <table className="data mapping-table" data-testid="mapping-table">
            <caption>Columns</caption>
            <thead>
              <tr>
                <th scope="col">Header</th>
                <th scope="col">Read as</th>
                <th scope="col">How</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((e) => (
                <tr key={e.header} data-header={e.header} data-column={e.column ?? ''} data-source={e.source}>
                  <th scope="row">{e.header}</th>
                  <td>
                    {editable ? (
                      <MappingSelect
                        header={e.header}
                        value={valueOf(e)}
                        disabled={busy}
                        onChange={(v) => setDraft((d) => ({ ...d, [e.header]: v }))}
                      />
                    ) : e.column ? (
                      <code>{e.column}</code>
                    ) : (
                      <em>ignored</em>
                    )}
                  </td>
                  <td>{SOURCE_LABELS[e.source] ?? (e.source === 'unresolved' ? 'not resolved' : e.source)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : (
        !needsHeaders && (
          <p className="muted">
            {imp.status === 'REJECTED' ? 'The headers could not be resolved; the message above names them.' : 'No header row to show.'}
          </p>
        )
      )}

      {editableStatus && canWrite && !chosen && (
        <p className="notice" role="note">
          To change the mapping, choose the file again on <Link href="/imports/new">Import users</Link>.
        </p>
      )}
      {editable && entries.length > 0 && (
        <div className="actions">
          <button type="button" className="primary" disabled={busy} onClick={() => void revalidate()}>
            Validate again with this mapping
          </button>
          <span className="hint">
            {awaiting ? 'Sends the same file again with these columns; this preview is cancelled.' : 'Sends the same file again with these columns.'}
          </span>
        </div>
      )}
      <div aria-live="polite">{busy && <p role="status">Validating again…</p>}</div>
      <ErrorMessage error={error} title={orphan ? 'The file was validated again, but this import could not be cancelled.' : 'The file could not be validated again.'} />
      {orphan && (
        <p>
          <Link href={`/imports/${orphan}`}>Open the new import</Link>
        </p>
      )}
    </section>
  );
}
