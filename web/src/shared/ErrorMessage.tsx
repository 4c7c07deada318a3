import { ApiError } from '../app/api';

interface FieldDetail {
  field?: unknown;
  column?: unknown;
  code?: unknown;
  message?: unknown;
}

function isFieldDetail(x: unknown): x is FieldDetail {
  return typeof x === 'object' && x !== null && ('message' in x || 'code' in x);
}

/** The details of an API error, in words: lists of columns, of field problems, else the JSON itself. */
function Details({ details }: { details: unknown }) {
  if (details === null || details === undefined) return null;
  if (Array.isArray(details)) {
    if (details.length === 0) return null;
    return (
      <ul className="error-details">
        {details.map((d, i) =>
          isFieldDetail(d) ? (
            <li key={i}>
              {String(d.field ?? d.column ?? '')}
              {d.field !== undefined || d.column !== undefined ? ': ' : ''}
              {String(d.message ?? '')} {d.code !== undefined && <code>{String(d.code)}</code>}
            </li>
          ) : (
            <li key={i}>{typeof d === 'string' ? d : JSON.stringify(d)}</li>
          ),
        )}
      </ul>
    );
  }
  if (typeof details === 'object') {
    const entries = Object.entries(details as Record<string, unknown>);
    if (entries.length === 0) return null;
    return (
      <ul className="error-details">
        {entries.map(([key, value]) => (
          <li key={key}>
            {key}:{' '}
            {Array.isArray(value) && value.every((v) => typeof v === 'string')
              ? value.join(', ')
              : Array.isArray(value) && value.every(isFieldDetail)
                ? value.map((v) => `${String(v.field ?? v.column ?? '')} ${String(v.message ?? v.code ?? '')}`.trim()).join('; ')
                : typeof value === 'string'
                  ? value
                  : JSON.stringify(value)}
          </li>
        ))}
      </ul>
    );
  }
  return <p className="error-details">{String(details)}</p>;
}

/** Any failed call: the API's message and its code, and every detail. Announced to screen readers. */
export function ErrorMessage({ error, title }: { error: unknown; title?: string }) {
  if (!error) return null;
  const api = error instanceof ApiError ? error : null;
  const message = api ? api.message : error instanceof Error ? error.message : String(error);
  return (
    <div className="error-box" role="alert">
      {title && <p className="error-title">{title}</p>}
      <p>
        {message}
        {api && (
          <>
            {' '}
            <span className="error-code">
              (code <code>{api.code}</code>
              {api.status ? `, HTTP ${api.status}` : ''})
            </span>
          </>
        )}
      </p>
      {api && <Details details={api.details} />}
    </div>
  );
}
