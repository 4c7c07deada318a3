import { useId, useMemo, useState } from 'react';
import { COUNTRIES, countryName } from './countries';

function fold(s: string): string {
  return s
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase();
}

/** A searchable list of country checkboxes; the chosen ones also show as removable chips. */
export function CountryPicker({ value, onChange }: { value: string[]; onChange: (codes: string[]) => void }) {
  const [search, setSearch] = useState('');
  const searchId = useId();
  const listId = useId();
  const chosen = useMemo(() => new Set(value), [value]);
  const shown = useMemo(() => {
    const q = fold(search.trim());
    if (!q) return COUNTRIES;
    return COUNTRIES.filter((c) => fold(c.name).includes(q) || c.code.toLowerCase().includes(q));
  }, [search]);

  function toggle(code: string, on: boolean) {
    onChange(on ? [...value, code] : value.filter((c) => c !== code));
  }

  return (
    <fieldset className="country-picker">
      <legend>Country</legend>
      {value.length > 0 ? (
        <ul className="chips" aria-label="Chosen countries">
          {value.map((code) => (
            <li key={code} className="chip">
              {countryName(code)} <span className="muted">({code})</span>
              <button type="button" className="chip-remove" aria-label={`Remove ${countryName(code)}`} onClick={() => toggle(code, false)}>
                ×
              </button>
            </li>
          ))}
          <li>
            <button type="button" className="link-button" onClick={() => onChange([])}>
              Clear countries
            </button>
          </li>
        </ul>
      ) : (
        <p className="hint">Any country.</p>
      )}
      <div className="field">
        <label htmlFor={searchId}>Search countries</label>
        <input
          id={searchId}
          type="search"
          value={search}
          onChange={(e) => setSearch(e.target.value)}
          aria-controls={listId}
          autoComplete="off"
        />
      </div>
      <div id={listId} className="checklist" role="group" aria-label="Countries">
        {shown.map((c) => {
          const id = `${listId}-${c.code}`;
          return (
            <div key={c.code} className="check">
              <input id={id} type="checkbox" checked={chosen.has(c.code)} onChange={(e) => toggle(c.code, e.target.checked)} />
              <label htmlFor={id}>
                {c.name} <span className="muted">({c.code})</span>
              </label>
            </div>
          );
        })}
        {shown.length === 0 && <p className="hint">No country matches “{search}”.</p>}
      </div>
      <p className="sr-live" aria-live="polite">
        {search ? `${shown.length} ${shown.length === 1 ? 'country matches' : 'countries match'}` : ''}
      </p>
    </fieldset>
  );
}
