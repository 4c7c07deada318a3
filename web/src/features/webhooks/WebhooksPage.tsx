import { useId, useState, type FormEvent } from 'react';
import { Link } from 'wouter';
import { useCan } from '../../app/session';
import { ConfirmButton } from '../../shared/ConfirmButton';
import { DateTime } from '../../shared/DateTime';
import { ErrorMessage } from '../../shared/ErrorMessage';
import { Pagination, useCursorPages } from '../../shared/Pagination';
import { usePageTitle } from '../../shared/usePageTitle';
import { useCreateWebhook, useDeleteWebhook, useWebhooks, WEBHOOK_EVENTS, type CreatedWebhook } from './api';

/** The new subscription's secret, shown this once (the API never shows it again). */
function SecretOnce({ created, onDone }: { created: CreatedWebhook; onDone: () => void }) {
  const [copied, setCopied] = useState(false);
  return (
    <section className="notice" aria-labelledby="secret-heading" role="status">
      <h2 id="secret-heading">Webhook created: copy its signing secret now</h2>
      <p>
        This is the only time the secret of <code>{created.url}</code> is shown. Verify each delivery's{' '}
        <code>webhook-signature</code> with it (Standard Webhooks).
      </p>
      <p>
        <code data-testid="webhook-secret" className="secret">
          {created.secret}
        </code>
      </p>
      <div className="actions">
        <button
          type="button"
          onClick={() => {
            void navigator.clipboard?.writeText(created.secret).then(() => setCopied(true), () => undefined);
          }}
        >
          {copied ? 'Copied' : 'Copy secret'}
        </button>
        <button type="button" onClick={onDone}>
          I have stored it
        </button>
      </div>
    </section>
  );
}

function CreateForm({ onCreated }: { onCreated: (w: CreatedWebhook) => void }) {
  const urlId = useId();
  const [url, setUrl] = useState('');
  const [events, setEvents] = useState<string[]>([...WEBHOOK_EVENTS]);
  const create = useCreateWebhook();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate(
      { url: url.trim(), events },
      {
        onSuccess: (w) => {
          setUrl('');
          onCreated(w);
        },
      },
    );
  };
  return (
    <form onSubmit={submit} noValidate aria-labelledby="create-heading">
      <h2 id="create-heading">Add a webhook</h2>
      <div className="field">
        <label htmlFor={urlId}>Endpoint URL (https)</label>
        <input id={urlId} type="url" required value={url} onChange={(e) => setUrl(e.target.value)} placeholder="https://example.com/hooks/kyc" />
      </div>
      <fieldset>
        <legend>Events</legend>
        {WEBHOOK_EVENTS.map((event) => (
          <div className="check" key={event}>
            <input
              id={`event-${event}`}
              type="checkbox"
              checked={events.includes(event)}
              onChange={(e) => setEvents((cur) => (e.target.checked ? [...cur, event] : cur.filter((x) => x !== event)))}
            />
            <label htmlFor={`event-${event}`}>
              <code>{event}</code>
            </label>
          </div>
        ))}
      </fieldset>
      <ErrorMessage error={create.error} title="The webhook could not be created." />
      <div className="actions">
        <button type="submit" className="primary" disabled={create.isPending || url.trim() === '' || events.length === 0}>
          {create.isPending ? 'Creating…' : 'Create webhook'}
        </button>
      </div>
    </form>
  );
}

/** Webhooks: the application's subscriptions, a form to add one (its secret shown once), delete, and each one's delivery log. */
export function WebhooksPage() {
  usePageTitle('Webhooks');
  const can = useCan();
  const pages = useCursorPages();
  const list = useWebhooks(pages.cursor);
  const remove = useDeleteWebhook();
  const [created, setCreated] = useState<CreatedWebhook | null>(null);
  if (!can('webhooks.manage')) {
    return (
      <>
        <h1>Webhooks</h1>
        <p className="notice">Your role does not have the webhooks.manage permission, so webhooks are not available to you.</p>
      </>
    );
  }
  const rows = list.data?.results ?? [];
  return (
    <>
      <h1>Webhooks</h1>
      <p className="muted">
        Each event is POSTed to the URL, signed (Standard Webhooks headers), and retried with backoff for 24 hours until the endpoint
        answers 2xx.
      </p>
      {created && <SecretOnce created={created} onDone={() => setCreated(null)} />}
      <CreateForm onCreated={setCreated} />
      <ErrorMessage error={list.error} title="The webhooks could not be loaded." />
      <ErrorMessage error={remove.error} title="The webhook could not be deleted." />
      <div className="table-scroll" role="region" aria-labelledby="webhooks-caption" tabIndex={0}>
        <table className="data">
          <caption id="webhooks-caption">Webhooks, newest first</caption>
          <thead>
            <tr>
              <th scope="col">URL</th>
              <th scope="col">Events</th>
              <th scope="col">Created</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((w) => (
              <tr key={w.id} data-testid="webhook-row">
                <th scope="row">
                  <code>{w.url}</code>
                </th>
                <td>{w.events.join(', ')}</td>
                <td>
                  <DateTime value={w.created_at} />
                </td>
                <td>
                  <div className="actions">
                    <Link href={`/integrations/webhooks/${w.id}`}>Delivery log</Link>
                    <ConfirmButton
                      label="Delete"
                      title="Delete this webhook?"
                      confirmLabel="Delete webhook"
                      className="danger"
                      disabled={remove.isPending}
                      onConfirm={() => remove.mutate(w.id)}
                    >
                      <p>
                        Deliveries to <code>{w.url}</code> stop, including those still retrying, and its delivery log is deleted.
                      </p>
                    </ConfirmButton>
                  </div>
                </td>
              </tr>
            ))}
            {!list.isPending && rows.length === 0 && !list.error && (
              <tr>
                <td colSpan={4} className="empty">
                  No webhooks yet.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <Pagination pages={pages} nextCursor={list.data?.next_cursor} label="Webhooks pages" busy={list.isFetching} />
    </>
  );
}
