import { useId, useState } from 'react';
import { useCan, useMe } from '../../app/session';
import type { ExportColumnInfo, ExportFilters } from '../../app/types';
import { chosenColumns, ColumnPicker, initialColumns, type ColumnState } from './ColumnPicker';
import { CountryPicker } from './CountryPicker';

/**
 * What an export holds and how it is written (filters, columns, file), as the export form and the schedule form both
 * ask for it: the body fields of `POST /console/users/exports`, which a schedule's runs take too.
 */

const USER_STATUSES = ['ACTIVE', 'FLAGGED', 'BLOCKED'] as const;

/** The body fields the sections below give. */
export interface ExportSpec {
  filters?: ExportFilters;
  columns: string[];
  format?: 'csv' | 'ndjson';
  gzip?: boolean;
  excel_bom?: boolean;
}

/** What the sections start from, e.g. a schedule being edited (each absent field: the default). */
export interface ExportSpecStart {
  filters?: ExportFilters | null;
  columns?: string[];
  format?: string;
  gzip?: boolean;
  excel_bom?: boolean;
}

/** An ISO time as a `datetime-local` value in the operator's local time (to the second, or the millisecond if it has one). */
function toLocal(iso: string | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n: number, width = 2) => String(n).padStart(width, '0');
  const ms = d.getMilliseconds() ? `.${p(d.getMilliseconds(), 3)}` : '';
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}${ms}`;
}

/** The given columns chosen, in their order, then the others unchosen; every allowed column when none are given. */
function startColumns(all: ExportColumnInfo[], chosen: string[] | undefined): ColumnState {
  if (!chosen) return initialColumns(all);
  const known = new Set(all.map((c) => c.name));
  const picked = chosen.filter((c) => known.has(c));
  return { order: [...picked, ...all.map((c) => c.name).filter((c) => !picked.includes(c))], checked: new Set(picked) };
}

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

/** The sections' state (from `start`, else the defaults), and `read()`: the body fields, or what the operator has to fix first. */
export function useExportSpec(start: ExportSpecStart = {}) {
  const me = useMe();
  const filters0 = start.filters ?? {};
  const [statuses, setStatuses] = useState<string[]>(filters0.status ?? []);
  const [countries, setCountries] = useState<string[]>(filters0.country ?? []);
  const [tags, setTags] = useState((filters0.tags ?? []).join(', '));
  const [createdFrom, setCreatedFrom] = useState(() => toLocal(filters0.created_from));
  const [createdTo, setCreatedTo] = useState(() => toLocal(filters0.created_to));
  const [search, setSearch] = useState(filters0.search ?? '');
  const [columns, setColumns] = useState<ColumnState>(() => startColumns(me.export_columns, start.columns));
  const [format, setFormat] = useState<'csv' | 'ndjson'>(start.format === 'ndjson' ? 'ndjson' : 'csv');
  const [gzip, setGzip] = useState(start.gzip ?? false);
  const [excelBom, setExcelBom] = useState(start.excel_bom ?? false);

  function read(): { spec: ExportSpec } | { problem: string } {
    const cols = chosenColumns(columns);
    if (cols.length === 0) return { problem: 'Choose at least one column.' };
    const filters: ExportFilters = {};
    if (statuses.length) filters.status = USER_STATUSES.filter((s) => statuses.includes(s));
    if (countries.length) filters.country = countries;
    const tagList = parseTags(tags);
    if (tagList.length) filters.tags = tagList;
    // An untouched date is sent back as it was stored: read back from local time, a time in the hour that repeats when
    // the clocks go back would move by an hour.
    const from = createdFrom === toLocal(filters0.created_from) ? filters0.created_from : toUtc(createdFrom);
    const to = createdTo === toLocal(filters0.created_to) ? filters0.created_to : toUtc(createdTo);
    if (from) filters.created_from = from;
    if (to) filters.created_to = to;
    if (from && to && from >= to) return { problem: '“Created before” must be later than “Created from”.' };
    if (search.trim()) filters.search = search.trim();
    return {
      spec: {
        ...(Object.keys(filters).length ? { filters } : {}),
        columns: cols,
        ...(format !== 'csv' ? { format } : {}),
        ...(gzip ? { gzip: true } : {}),
        // A byte-order mark is for Excel reading a CSV file; it is not offered for NDJSON.
        ...(excelBom && format === 'csv' ? { excel_bom: true } : {}),
      },
    };
  }

  return {
    state: { statuses, countries, tags, createdFrom, createdTo, search, columns, format, gzip, excelBom },
    set: { setStatuses, setCountries, setTags, setCreatedFrom, setCreatedTo, setSearch, setColumns, setFormat, setGzip, setExcelBom },
    read,
  };
}

/**
 * The Filters, Columns and File sections of a form; `spec` comes from useExportSpec(). With `fileFixed` (why they
 * cannot be changed here) the File section is shown disabled, with that reason.
 */
export function ExportSpecFields({ spec, fileFixed }: { spec: ReturnType<typeof useExportSpec>; fileFixed?: string }) {
  const me = useMe();
  const can = useCan();
  const { statuses, countries, tags, createdFrom, createdTo, search, columns, format, gzip, excelBom } = spec.state;
  const { setStatuses, setCountries, setTags, setCreatedFrom, setCreatedTo, setSearch, setColumns, setFormat, setGzip, setExcelBom } = spec.set;
  const ids = {
    filters: useId(),
    columns: useId(),
    file: useId(),
    status: useId(),
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
    fixedHint: useId(),
  };
  const fixedBy = fileFixed ? ids.fixedHint : undefined;
  return (
    <>
      <section aria-labelledby={ids.filters}>
        <h2 id={ids.filters}>Filters</h2>
        <p className="hint">Leave a filter empty to include every user.</p>
        <div className="filter-grid">
          <fieldset>
            <legend>Status</legend>
            {USER_STATUSES.map((s) => (
              <div className="check" key={s}>
                <input
                  id={`${ids.status}-${s}`}
                  type="checkbox"
                  checked={statuses.includes(s)}
                  onChange={(e) => setStatuses((cur) => (e.target.checked ? [...cur, s] : cur.filter((x) => x !== s)))}
                />
                <label htmlFor={`${ids.status}-${s}`}>{s}</label>
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
      <section aria-labelledby={ids.columns}>
        <h2 id={ids.columns}>Columns</h2>
        <ColumnPicker columns={me.export_columns} value={columns} onChange={setColumns} />
      </section>
      <section aria-labelledby={ids.file}>
        <h2 id={ids.file}>File</h2>
        {fileFixed && (
          <p id={ids.fixedHint} className="hint">
            {fileFixed}
          </p>
        )}
        <div className="filter-stack">
          <div className="field">
            <label htmlFor={ids.format}>Format</label>
            <select
              id={ids.format}
              value={format}
              disabled={!!fileFixed}
              aria-describedby={fixedBy}
              onChange={(e) => setFormat(e.target.value === 'ndjson' ? 'ndjson' : 'csv')}
            >
              <option value="csv">CSV</option>
              <option value="ndjson">NDJSON (one JSON object a line)</option>
            </select>
          </div>
          <div className="check">
            <input id={ids.gzip} type="checkbox" checked={gzip} disabled={!!fileFixed} aria-describedby={fixedBy} onChange={(e) => setGzip(e.target.checked)} />
            <label htmlFor={ids.gzip}>Compress with gzip</label>
          </div>
          <div className="check">
            <input
              id={ids.bom}
              type="checkbox"
              checked={excelBom && format === 'csv'}
              disabled={!!fileFixed || format !== 'csv'}
              onChange={(e) => setExcelBom(e.target.checked)}
              aria-describedby={fixedBy ? `${fixedBy} ${ids.bomHint}` : ids.bomHint}
            />
            <label htmlFor={ids.bom}>Byte-order mark for Excel</label>
          </div>
          <p id={ids.bomHint} className="hint">
            A UTF-8 byte-order mark first, so Excel reads accented letters right (CSV only).
          </p>
        </div>
      </section>
    </>
  );
}
