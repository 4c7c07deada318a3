import { useId, useMemo, useState } from 'react';
import type { FieldChange, ImportObject, PreviewRow, RowProblem } from '../../app/types';
import { ErrorMessage } from '../../shared/ErrorMessage';
import { Pagination, useCursorPages } from '../../shared/Pagination';
import { StatusBadge } from '../../shared/StatusBadge';
import { PREVIEW_PAGE_SIZE, useImportRows } from './api';
import { FilterSelect } from '../../shared/FilterSelect';

const ACTIONS = [
  { value: '', label: 'All' },
  { value: 'create', label: 'Create' },
  { value: 'update', label: 'Update' },
  { value: 'unchanged', label: 'Unchanged' },
  { value: 'invalid', label: 'Invalid' },
] as const;

function countFor(imp: ImportObject, action: string): number {
  switch (action) {
    case 'create':
      return imp.to_create;
    case 'update':
      return imp.to_update;
    case 'unchanged':
      return imp.to_unchanged;
    case 'invalid':
      return imp.invalid_rows;
    default:
      return imp.total_rows;
  }
}

function show(value: unknown): string {
  if (value === null || value === undefined || value === '') return '(empty)';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function ChangeList({ items, verb }: { items: FieldChange[]; verb: string }) {
  return (
    <ul className="change-list">
      {items.map((c, i) => (
        <li key={`${c.field}-${i}`}>
          <span className="muted">{verb}</span> <code>{c.field}</code>: {show(c.from)} → {show(c.to)}
        </li>
      ))}
    </ul>
  );
}

/** The file's columns as the rows of this page show them (headers in file order). */
function columnsOf(rows: PreviewRow[]): string[] {
  const seen = new Set<string>();
  for (const row of rows) for (const key of Object.keys(row.raw ?? {})) seen.add(key);
  return [...seen];
}

/**
 * The template column each header of the file was read as (`raw` is keyed by the headers as written; errors and
 * kept fields by template column). An unmapped or ignored header keeps its own text; without a mapping (an older
 * import) each header is its column.
 */
function columnOfHeader(mapping: ImportObject['mapping']): (header: string) => string {
  if (!mapping) return (h) => h;
  const byHeader = new Map(mapping.map((m) => [m.header, m.column]));
  return (h) => byHeader.get(h) ?? h;
}

/** Whether a cell read as `cellColumn` is the one a problem (or kept field) on `column` is about. */
function concerns(cellColumn: string, column: string): boolean {
  return cellColumn === column || (column === 'full_name' && (cellColumn === 'first_name' || cellColumn === 'last_name'));
}

function Row({ row, columns, columnOf }: { row: PreviewRow; columns: string[]; columnOf: (header: string) => string }) {
  const raw = row.raw ?? null;
  const errorsByColumn = new Map<string, RowProblem[]>();
  const otherProblems: RowProblem[] = [];
  for (const err of row.errors ?? []) {
    const headers = raw && err.column ? columns.filter((h) => concerns(columnOf(h), err.column!)) : [];
    if (headers.length > 0) {
      for (const h of headers) errorsByColumn.set(h, [...(errorsByColumn.get(h) ?? []), err]);
    } else otherProblems.push(err);
  }
  const keptFields = row.kept_fields ?? [];
  const kept = new Set(keptFields);
  const isKeptHeader = (h: string) => keptFields.some((f) => concerns(columnOf(h), f));
  const hasNotes = (row.changes?.length ?? 0) > 0 || (row.normalized?.length ?? 0) > 0;

  return (
    <tr data-row-number={row.row_number} data-action={row.action} className={row.action === 'invalid' ? 'row-invalid' : undefined}>
      <th scope="row" className="num">
        {row.row_number}
      </th>
      <td>
        <StatusBadge status={row.action} />
      </td>
      {raw ? (
        columns.map((col) => {
          const errs = errorsByColumn.get(col);
          const isKept = isKeptHeader(col);
          const value = raw[col] ?? '';
          const reason = errs?.map((e) => e.message).join('; ');
          return (
            <td
              key={col}
              data-column={columnOf(col)}
              data-header={col}
              data-invalid={errs ? 'true' : undefined}
              data-kept={isKept ? 'true' : undefined}
              aria-invalid={errs ? true : undefined}
              title={reason ?? (isKept ? 'Verified value kept: an approved session set it, so this cell is not applied' : undefined)}
              className={errs ? 'cell-invalid' : isKept ? 'cell-kept' : undefined}
            >
              <span className="cell-value">{value === '' ? errs ? <span className="muted">(empty)</span> : null : value}</span>
              {errs?.map((e, i) => (
                <span key={i} className="cell-error">
                  <span className="sr-only">Invalid: </span>
                  {e.message} <code>{e.code}</code>
                </span>
              ))}
              {isKept && (
                <span className="cell-kept-note">
                  <span className="badge badge-info">verified, kept</span> the stored verified value stays; this cell is not
                  applied
                </span>
              )}
            </td>
          );
        })
      ) : (
        <td data-column="vendor_data">{row.vendor_data ?? <span className="muted">(empty)</span>}</td>
      )}
      <td className="problems">
        {otherProblems.length > 0 && (
          <ul>
            {otherProblems.map((e, i) => (
              <li key={i}>
                {e.column && <code>{e.column}</code>} {e.message} <code>{e.code}</code>
              </li>
            ))}
          </ul>
        )}
        {!raw && kept.size > 0 && (
          <p>
            <span className="badge badge-info">verified, kept</span> {[...kept].join(', ')}
          </p>
        )}
        {hasNotes && (
          <>
            {row.normalized && row.normalized.length > 0 && <ChangeList items={row.normalized} verb="normalised" />}
            {row.changes && row.changes.length > 0 && <ChangeList items={row.changes} verb="changes" />}
          </>
        )}
      </td>
    </tr>
  );
}

/** The rows of an import in file order, a page at a time (never all of them: a preview may have a million rows). */
export function ImportPreview({ imp, nested = false }: { imp: ImportObject; nested?: boolean }) {
  const [action, setAction] = useState('');
  const pages = useCursorPages();
  const rows = useImportRows(imp.id, action, pages.cursor);
  const captionId = useId();
  const results = useMemo(() => rows.data?.results ?? [], [rows.data]);
  const columns = useMemo(() => columnsOf(results), [results]);
  const columnOf = useMemo(() => columnOfHeader(imp.mapping), [imp.mapping]);
  const total = countFor(imp, action);
  const totalPages = Math.max(1, Math.ceil(total / PREVIEW_PAGE_SIZE));
  const hasRaw = results.some((r) => r.raw);
  const label = ACTIONS.find((a) => a.value === action)?.label ?? 'All';

  return (
    <section aria-labelledby="rows-heading" className="preview">
      {nested ? <h3 id="rows-heading">Rows</h3> : <h2 id="rows-heading">Rows</h2>}
      <div className="toolbar">
        <FilterSelect
          label="Show rows"
          value={action}
          options={ACTIONS}
          onChange={(value) => {
            setAction(value);
            pages.reset();
          }}
        />
        <span aria-live="polite" className="muted">
          {rows.isFetching ? 'Loading rows…' : `${total.toLocaleString()} ${total === 1 ? 'row' : 'rows'}`}
        </span>
      </div>
      <ErrorMessage error={rows.error} title="The rows could not be loaded." />
      <div className="table-scroll" role="region" aria-labelledby={captionId} tabIndex={0}>
        <table data-testid="preview-table" className="data preview-table" aria-busy={rows.isFetching || undefined}>
          <caption id={captionId}>
            {label} rows of {imp.file_name}, page {pages.page} of {totalPages.toLocaleString()}; invalid cells are marked and
            say why
          </caption>
          <thead>
            <tr>
              <th scope="col">Row</th>
              <th scope="col">Action</th>
              {hasRaw ? (
                columns.map((c) => (
                  <th scope="col" key={c}>
                    {c}
                    {columnOf(c) !== c && <span className="muted column-as"> ({columnOf(c)})</span>}
                  </th>
                ))
              ) : (
                <th scope="col">vendor_data</th>
              )}
              <th scope="col">Problems</th>
            </tr>
          </thead>
          <tbody>
            {results.map((row) => (
              <Row key={row.row_number} row={row} columns={columns} columnOf={columnOf} />
            ))}
            {!rows.isPending && results.length === 0 && (
              <tr>
                <td colSpan={(hasRaw ? columns.length : 1) + 3} className="empty">
                  No rows to show.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <Pagination pages={pages} nextCursor={rows.data?.next_cursor} label="Rows pages" totalPages={totalPages} busy={rows.isFetching} />
    </section>
  );
}
