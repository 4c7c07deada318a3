import { useId, useState, type FormEvent } from 'react';
import { useLocation } from 'wouter';
import { useCan, useMe } from '../../app/session';
import type { ExportFilters } from '../../app/types';
import { ErrorMessage } from '../../shared/ErrorMessage';
import { usePageTitle } from '../../shared/usePageTitle';
import { useStartExport } from './api';
import { chosenColumns, ColumnPicker, initialColumns, type ColumnState } from './ColumnPicker';
import { CountryPicker } from './CountryPicker';

const USER_STATUSES = ['ACTIVE', 'FLAGGED', 'BLOCKED'] as const;

/** A `datetime-local` value (the operator's local time) as ISO UTC; undefined when empty or unreadable. */
function toUtc(local: string): string | undefined {
  if (!local) return undefined;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

export function parseTags(text: string): string[] {
  const seen = new Set<string>();
  for (const part of text.split(',')) {
    const tag = part.trim();
    if (tag) seen.add(tag);
  }
  return [...seen];
}

export function ExportPage() {
  usePageTitle('Export users');
  const me = useMe();
  const can = useCan();
  const [, navigate] = useLocation();
  const start = useStartExport();
  const [statuses, setStatuses] = useState<string[]>([]);
  const [countries, setCountries] = useState<string[]>([]);
  const [tags, setTags] = useState('');
  const [createdFrom, setCreatedFrom] = useState('');
  const [createdTo, setCreatedTo] = useState('');
  const [search, setSearch] = useState('');
  const [columns, setColumns] = useState<ColumnState>(() => initialColumns(me.export_columns));
  const [format, setFormat] = useState<'csv' | 'ndjson'>('csv');
  const [gzip, setGzip] = useState(false);
  const [excelBom, setExcelBom] = useState(false);
  const [formError, setFormError] = useState<string | null>(null);
  const ids = {
    tags: useId(),
    from: useId(),
    to: useId(),
    search: useId(),
    searchHint: useId(),
    tagsHint: useId(),
    format: useId(),
    gzip: useId(),
    bom: useId(),
    bomHint: useId(),
  };

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
    setFormError(null);
    const cols = chosenColumns(columns);
    if (cols.length === 0) {
      setFormError('Choose at least one column.');
      return;
    }
    const filters: ExportFilters = {};
    if (statuses.length) filters.status = USER_STATUSES.filter((s) => statuses.includes(s));
    if (countries.length) filters.country = countries;
    const tagList = parseTags(tags);
    if (tagList.length) filters.tags = tagList;
    const from = toUtc(createdFrom);
    const to = toUtc(createdTo);
    if (from) filters.created_from = from;
    if (to) filters.created_to = to;
    if (from && to && from >= to) {
      setFormError('“Created before” must be later than “Created from”.');
      return;
    }
    if (search.trim()) filters.search = search.trim();
    start.mutate(
      {
        ...(Object.keys(filters).length ? { filters } : {}),
        columns: cols,
        ...(format !== 'csv' ? { format } : {}),
        ...(gzip ? { gzip: true } : {}),
        // A byte-order mark is for Excel reading a CSV file; it is not offered for NDJSON.
        ...(excelBom && format === 'csv' ? { excel_bom: true } : {}),
      },
      { onSuccess: (exp) => navigate(`/exports/${exp.id}`) },
    );
  }

  return (
    <>
      <h1>Export users</h1>
      <p>
        Write the users that match the filters to a CSV or NDJSON file. When it is ready you can download it here, and you get an email
        with the link.
      </p>
      <form onSubmit={submit} className="export-form" noValidate>
        <section aria-labelledby="filters-heading">
          <h2 id="filters-heading">Filters</h2>
          <p className="hint">Leave a filter empty to include every user.</p>
          <div className="filter-grid">
            <fieldset>
              <legend>Status</legend>
              {USER_STATUSES.map((s) => (
                <div className="check" key={s}>
                  <input
                    id={`status-${s}`}
                    type="checkbox"
                    checked={statuses.includes(s)}
                    onChange={(e) => setStatuses((cur) => (e.target.checked ? [...cur, s] : cur.filter((x) => x !== s)))}
                  />
                  <label htmlFor={`status-${s}`}>{s}</label>
                </div>
              ))}
            </fieldset>
            <div className="filter-stack">
              <div className="field">
                <label htmlFor={ids.tags}>Tag filter (comma-separated)</label>
                <input id={ids.tags} type="text" value={tags} onChange={(e) => setTags(e.target.value)} aria-describedby={ids.tagsHint} />
                <p id={ids.tagsHint} className="hint">
                  A user with any of these tags matches.
                </p>
              </div>
              <div className="field">
                <label htmlFor={ids.from}>Created from (your local time, inclusive)</label>
                <input id={ids.from} type="datetime-local" step={1} value={createdFrom} onChange={(e) => setCreatedFrom(e.target.value)} />
              </div>
              <div className="field">
                <label htmlFor={ids.to}>Created before (your local time, exclusive)</label>
                <input id={ids.to} type="datetime-local" step={1} value={createdTo} onChange={(e) => setCreatedTo(e.target.value)} />
              </div>
              <div className="field">
                <label htmlFor={ids.search}>Search text</label>
                <input id={ids.search} type="search" value={search} onChange={(e) => setSearch(e.target.value)} aria-describedby={ids.searchHint} />
                <p id={ids.searchHint} className="hint">
                  {can('exports.all_columns')
                    ? 'Matches part of vendor_data, display_name, full_name, email or phone (any letter case).'
                    : 'Matches part of vendor_data or display_name (any letter case); your role does not search personal data.'}
                </p>
              </div>
            </div>
            <CountryPicker value={countries} onChange={setCountries} />
          </div>
        </section>
        <section aria-labelledby="columns-heading">
          <h2 id="columns-heading">Columns</h2>
          <ColumnPicker columns={me.export_columns} value={columns} onChange={setColumns} />
        </section>
        <section aria-labelledby="format-heading">
          <h2 id="format-heading">File</h2>
          <div className="filter-stack">
            <div className="field">
              <label htmlFor={ids.format}>Format</label>
              <select id={ids.format} value={format} onChange={(e) => setFormat(e.target.value === 'ndjson' ? 'ndjson' : 'csv')}>
                <option value="csv">CSV</option>
                <option value="ndjson">NDJSON (one JSON object a line)</option>
              </select>
            </div>
            <div className="check">
              <input id={ids.gzip} type="checkbox" checked={gzip} onChange={(e) => setGzip(e.target.checked)} />
              <label htmlFor={ids.gzip}>Compress with gzip</label>
            </div>
            <div className="check">
              <input
                id={ids.bom}
                type="checkbox"
                checked={excelBom && format === 'csv'}
                disabled={format !== 'csv'}
                onChange={(e) => setExcelBom(e.target.checked)}
                aria-describedby={ids.bomHint}
              />
              <label htmlFor={ids.bom}>Byte-order mark for Excel</label>
            </div>
            <p id={ids.bomHint} className="hint">
              A UTF-8 byte-order mark first, so Excel reads accented letters right (CSV only).
            </p>
          </div>
        </section>
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
