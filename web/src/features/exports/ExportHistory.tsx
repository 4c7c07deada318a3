import { useState } from 'react';
import { Link } from 'wouter';
import { DateTime } from '../../shared/DateTime';
import { ErrorMessage } from '../../shared/ErrorMessage';
import { formatNumber, shortId } from '../../shared/format';
import { Pagination, useCursorPages } from '../../shared/Pagination';
import { EXPORT_STATUSES } from '../../shared/statuses';
import { StatusBadge } from '../../shared/StatusBadge';
import { usePageTitle } from '../../shared/usePageTitle';
import { useExportList } from './api';
import { FilterSelect } from '../../shared/FilterSelect';

export function ExportHistory() {
  usePageTitle('Export history');
  const [status, setStatus] = useState('');
  const pages = useCursorPages();
  const list = useExportList(status, pages.cursor);
  const rows = list.data?.results ?? [];
  return (
    <>
      <h1>Export history</h1>
      <div className="toolbar">
        <FilterSelect
          label="Status"
          value={status}
          options={[{ value: '', label: 'All' }, ...EXPORT_STATUSES.map((s) => ({ value: s, label: s }))]}
          onChange={(value) => {
            setStatus(value);
            pages.reset();
          }}
        />
        <span aria-live="polite" className="muted">
          {list.isFetching ? 'Loading…' : ''}
        </span>
      </div>
      <ErrorMessage error={list.error} title="The export history could not be loaded." />
      <div className="table-scroll" role="region" aria-labelledby="exports-caption" tabIndex={0}>
        <table className="data">
          <caption id="exports-caption">Exports, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Export</th>
              <th scope="col">Status</th>
              <th scope="col">Operator</th>
              <th scope="col" className="num">
                Rows
              </th>
              <th scope="col" className="num">
                Columns
              </th>
              <th scope="col">Created</th>
              <th scope="col">Finished</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((exp) => (
              <tr key={exp.id}>
                <th scope="row">
                  <Link href={`/exports/${exp.id}`}>Export {shortId(exp.id)}</Link>
                </th>
                <td>
                  <StatusBadge status={exp.status} />
                </td>
                <td>{exp.operator?.email ?? '—'}</td>
                <td className="num">{formatNumber(exp.row_count)}</td>
                <td className="num">{formatNumber(exp.columns.length)}</td>
                <td>
                  <DateTime value={exp.created_at} />
                </td>
                <td>
                  <DateTime value={exp.finished_at} />
                </td>
              </tr>
            ))}
            {!list.isPending && rows.length === 0 && !list.error && (
              <tr>
                <td colSpan={7} className="empty">
                  {status ? `No ${status} exports.` : 'No exports yet.'}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <Pagination pages={pages} nextCursor={list.data?.next_cursor} label="Export history pages" busy={list.isFetching} />
    </>
  );
}
