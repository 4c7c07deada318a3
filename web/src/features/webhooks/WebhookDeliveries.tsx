import { Link } from 'wouter';
import { DateTime } from '../../shared/DateTime';
import { ErrorMessage } from '../../shared/ErrorMessage';
import { shortId } from '../../shared/format';
import { Pagination, useCursorPages } from '../../shared/Pagination';
import { StatusBadge } from '../../shared/StatusBadge';
import { usePageTitle } from '../../shared/usePageTitle';
import { useDeliveries } from './api';

/** A webhook's delivery log: every attempt, newest first, with the answer's status, the error and the time it took. */
export function WebhookDeliveries({ id }: { id: string }) {
  usePageTitle('Webhook deliveries');
  const pages = useCursorPages();
  const log = useDeliveries(id, pages.cursor);
  const rows = log.data?.results ?? [];
  return (
    <>
      <p>
        <Link href="/integrations/webhooks">← Webhooks</Link>
      </p>
      <h1>Delivery log</h1>
      <p className="muted">
        Webhook <code title={id}>{shortId(id)}</code>: each attempt, newest first. A failed attempt is retried with the same{' '}
        <code>webhook-id</code>.
      </p>
      <ErrorMessage error={log.error} title="The delivery log could not be loaded." />
      <div className="table-scroll" role="region" aria-labelledby="deliveries-caption" tabIndex={0}>
        <table className="data">
          <caption id="deliveries-caption">Delivery attempts, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Event</th>
              <th scope="col">Attempt</th>
              <th scope="col">Answer</th>
              <th scope="col">Error</th>
              <th scope="col">Duration</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((d) => (
              <tr key={d.id} data-testid="delivery-row">
                <th scope="row">
                  <DateTime value={d.created_at} />
                </th>
                <td>
                  <code>{d.event_type}</code> <code title={d.event_id}>{shortId(d.event_id)}</code>
                </td>
                <td>{d.attempt}</td>
                <td>
                  {d.status_code === null ? (
                    <StatusBadge status="FAILED" />
                  ) : (
                    <span data-testid="delivery-status">{d.status_code}</span>
                  )}
                </td>
                <td>{d.error ?? '—'}</td>
                <td>{d.duration_ms} ms</td>
              </tr>
            ))}
            {!log.isPending && rows.length === 0 && !log.error && (
              <tr>
                <td colSpan={6} className="empty">
                  No delivery attempts yet.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <Pagination pages={pages} nextCursor={log.data?.next_cursor} label="Delivery log pages" busy={log.isFetching} />
    </>
  );
}
