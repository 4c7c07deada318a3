import { Link } from 'wouter';
import { DateTime } from '../../shared/DateTime';
import { ErrorMessage } from '../../shared/ErrorMessage';
import { formatNumber } from '../../shared/format';
import { Pagination, useCursorPages } from '../../shared/Pagination';
import { StatusBadge } from '../../shared/StatusBadge';
import { usePageTitle } from '../../shared/usePageTitle';
import { useImportList } from './api';

export function ImportHistory() {
  usePageTitle('Import history');
  const pages = useCursorPages();
  const list = useImportList(pages.cursor);
  const rows = list.data?.results ?? [];
  return (
    <>
      <h1>Import history</h1>
      <p className="muted">Every import of this application, newest first. Open one to see its preview, progress or summary.</p>
      <ErrorMessage error={list.error} title="The import history could not be loaded." />
      <div aria-live="polite" className="sr-live">
        {list.isPending ? 'Loading imports…' : ''}
      </div>
      <div className="table-scroll" role="region" aria-labelledby="imports-caption" tabIndex={0}>
        <table className="data">
          <caption id="imports-caption">Imports, newest first</caption>
          <thead>
            <tr>
              <th scope="col">File</th>
              <th scope="col">Status</th>
              <th scope="col">Operator</th>
              <th scope="col" className="num">
                Rows (total / valid / invalid)
              </th>
              <th scope="col" className="num">
                Created
              </th>
              <th scope="col" className="num">
                Updated
              </th>
              <th scope="col" className="num">
                Unchanged
              </th>
              <th scope="col" className="num">
                Skipped
              </th>
              <th scope="col" className="num">
                Failed
              </th>
              <th scope="col">Uploaded at</th>
              <th scope="col">Finished at</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((imp) => (
              <tr key={imp.id}>
                <th scope="row">
                  <Link href={`/imports/${imp.id}`}>{imp.file_name || `Import ${imp.id.slice(0, 8)}`}</Link>
                </th>
                <td>
                  <StatusBadge status={imp.status} />
                </td>
                <td>{imp.operator?.email ?? (imp.api_key ? `API key ${imp.api_key.prefix}…` : '—')}</td>
                <td className="num">
                  {formatNumber(imp.total_rows)} / {formatNumber(imp.valid_rows)} / {formatNumber(imp.invalid_rows)}
                </td>
                <td className="num">{formatNumber(imp.created_count)}</td>
                <td className="num">{formatNumber(imp.updated_count)}</td>
                <td className="num">{formatNumber(imp.unchanged_count)}</td>
                <td className="num">{formatNumber(imp.skipped_count)}</td>
                <td className="num">{formatNumber(imp.failed_rows)}</td>
                <td>
                  <DateTime value={imp.created_at} />
                </td>
                <td>
                  <DateTime value={imp.finished_at} />
                </td>
              </tr>
            ))}
            {!list.isPending && rows.length === 0 && !list.error && (
              <tr>
                <td colSpan={11} className="empty">
                  No imports yet.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <Pagination pages={pages} nextCursor={list.data?.next_cursor} label="Import history pages" busy={list.isFetching} />
    </>
  );
}
