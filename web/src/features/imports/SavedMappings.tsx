import { DateTime } from '../../shared/DateTime';
import { ErrorMessage } from '../../shared/ErrorMessage';
import { useDeleteMapping, useSavedMappings } from './api';

/** The application's remembered mappings (save_mapping), each with who saved it, when, and a Delete button. */
export function SavedMappings() {
  const list = useSavedMappings(true);
  const remove = useDeleteMapping();
  const results = list.data?.results ?? [];
  return (
    <section aria-labelledby="saved-mappings-heading">
      <h2 id="saved-mappings-heading">Saved mappings</h2>
      <ErrorMessage error={list.error} title="The saved mappings could not be loaded." />
      {list.isPending && <p role="status">Loading the saved mappings…</p>}
      {!list.isPending && !list.error && results.length === 0 && (
        <p className="muted">
          None yet. Tick &ldquo;Remember this mapping for files with the same headers&rdquo; under Options to save one.
        </p>
      )}
      {results.length > 0 && (
        <ul className="saved-mappings" data-testid="saved-mappings">
          {results.map((m) => {
            const headers = m.headers.join(', ');
            return (
              <li key={m.id} data-mapping-id={m.id}>
                <p>
                  <strong>{headers}</strong>
                </p>
                <p className="mapping-summary">
                  {m.headers.map((h, i) => {
                    const target = Object.hasOwn(m.mapping, h) ? m.mapping[h] : undefined;
                    return (
                      <span key={h}>
                        {i > 0 && '; '}
                        {h} → {target === undefined ? <span className="muted">as detected</span> : target === null ? <em>ignored</em> : <code>{target}</code>}
                      </span>
                    );
                  })}
                </p>
                <p className="muted">
                  Saved by {m.operator?.email ?? 'an operator no longer listed'}, updated <DateTime value={m.updated_at} />
                </p>
                <button
                  type="button"
                  className="danger"
                  aria-label={`Delete saved mapping for ${headers}`}
                  disabled={remove.isPending && remove.variables === m.id}
                  onClick={() => remove.mutate(m.id)}
                >
                  Delete
                </button>
              </li>
            );
          })}
        </ul>
      )}
      <ErrorMessage error={remove.error} title="The saved mapping could not be deleted." />
    </section>
  );
}
