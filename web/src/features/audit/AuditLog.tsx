import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { Link } from 'wouter';
import { api, query } from '../../app/api';
import type { AuditEntry, Page } from '../../app/types';
import { DateTime } from '../../shared/DateTime';
import { ErrorMessage } from '../../shared/ErrorMessage';
import { formatNumber, shortId } from '../../shared/format';
import { Pagination, useCursorPages } from '../../shared/Pagination';
import { StatusBadge } from '../../shared/StatusBadge';
import { usePageTitle } from '../../shared/usePageTitle';
import { FilterSelect } from '../../shared/FilterSelect';

const ACTION_OPTIONS = [
  { value: '', label: 'All' },
  { value: 'users.import', label: 'users.import' },
  { value: 'users.export', label: 'users.export' },
  { value: 'users.import.undo', label: 'users.import.undo' },
  { value: 'users.export.download', label: 'users.export.download' },
];

/** Where the target of an entry lives in the console, by its action's prefix. */
function targetHref(entry: AuditEntry): string | null {
  if (!entry.target_id) return null;
  if (entry.action.startsWith('users.import')) return `/imports/${entry.target_id}`;
  if (entry.action.startsWith('users.export')) return `/exports/${entry.target_id}`;
  return null;
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'number') return formatNumber(value);
  if (typeof value === 'string' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return value.length <= 4 ? value.map(describe).join(', ') : `${value.length} items`;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== null && v !== undefined);
  if (entries.length === 0) return 'none';
  return entries.map(([k, v]) => `${k} ${describe(v)}`).join('; ');
}

/** The details worth a glance: counts and short values first; the whole object stays one click away. */
function DetailsSummary({ details }: { details: Record<string, unknown> | null }) {
  if (!details || Object.keys(details).length === 0) return <span className="muted">—</span>;
  const entries = Object.entries(details);
  const counts = entries.filter(([, v]) => typeof v === 'number');
  const others = entries.filter(([, v]) => typeof v !== 'number');
  return (
    <div className="audit-details">
      {counts.length > 0 && (
        <p>
          {counts.map(([k, v], i) => (
            <span key={k}>
              {i > 0 && ', '}
              {k.replace(/_/g, ' ')} <strong>{formatNumber(v as number)}</strong>
            </span>
          ))}
        </p>
      )}
      {others.map(([k, v]) => (
        <p key={k}>
          {k.replace(/_/g, ' ')}: {k === 'columns' && Array.isArray(v) ? `${v.length} (${v.join(', ')})` : describe(v)}
        </p>
      ))}
    </div>
  );
}

export function AuditLog() {
  usePageTitle('Audit log');
  const [action, setAction] = useState('');
  const pages = useCursorPages();
  const list = useQuery({
    queryKey: ['audit', action, pages.cursor ?? ''],
    queryFn: ({ signal }) => api<Page<AuditEntry>>(`/console/audit-log${query({ action, limit: 50, cursor: pages.cursor })}`, { signal }),
    placeholderData: keepPreviousData,
  });
  const rows = list.data?.results ?? [];
  return (
    <>
      <h1>Audit log</h1>
      <p className="muted">One entry as each import or export ends. Entries are never changed or deleted.</p>
      <div className="toolbar">
        <FilterSelect
          label="Action"
          value={action}
          options={ACTION_OPTIONS}
          onChange={(value) => {
            setAction(value);
            pages.reset();
          }}
        />
        <span aria-live="polite" className="muted">
          {list.isFetching ? 'Loading…' : ''}
        </span>
      </div>
      <ErrorMessage error={list.error} title="The audit log could not be loaded." />
      <div className="table-scroll" role="region" aria-labelledby="audit-caption" tabIndex={0}>
        <table className="data">
          <caption id="audit-caption">Audit entries, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Action</th>
              <th scope="col">Status</th>
              <th scope="col">Operator</th>
              <th scope="col">Target</th>
              <th scope="col">Details</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((entry) => {
              const href = targetHref(entry);
              return (
                <tr key={entry.id}>
                  <th scope="row">
                    <DateTime value={entry.finished_at ?? entry.created_at} />
                  </th>
                  <td>
                    <code>{entry.action}</code>
                  </td>
                  <td>
                    <StatusBadge status={entry.status} />
                  </td>
                  <td>{entry.operator?.email ?? (entry.api_key ? `API key ${entry.api_key.prefix}…` : '—')}</td>
                  <td>
                    {entry.target_id ? (
                      href ? (
                        <Link href={href} title={entry.target_id}>
                          {entry.action.startsWith('users.export') ? 'Export' : 'Import'} {shortId(entry.target_id)}
                        </Link>
                      ) : (
                        <code title={entry.target_id}>{shortId(entry.target_id)}</code>
                      )
                    ) : (
                      '—'
                    )}
                  </td>
                  <td>
                    <DetailsSummary details={entry.details} />
                  </td>
                </tr>
              );
            })}
            {!list.isPending && rows.length === 0 && !list.error && (
              <tr>
                <td colSpan={6} className="empty">
                  No entries{action ? ` for ${action}` : ''}.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <Pagination pages={pages} nextCursor={list.data?.next_cursor} label="Audit log pages" busy={list.isFetching} />
    </>
  );
}
