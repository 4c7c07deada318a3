import { useEffect, useRef, useState } from 'react';
import type { ExportColumnInfo } from '../../app/types';

export interface ColumnState {
  /** Every column, in the order the operator arranged them. */
  order: string[];
  checked: Set<string>;
}

export function initialColumns(columns: ExportColumnInfo[]): ColumnState {
  return { order: columns.map((c) => c.name), checked: new Set(columns.filter((c) => c.allowed).map((c) => c.name)) };
}

/** The columns to send, in the chosen order. */
export function chosenColumns(state: ColumnState): string[] {
  return state.order.filter((c) => state.checked.has(c));
}

/**
 * Column checkboxes (the role's forbidden ones disabled with the API's reason beside them) and Up/Down buttons to
 * arrange the chosen ones; the file's columns follow this order.
 */
export function ColumnPicker({
  columns,
  value,
  onChange,
}: {
  columns: ExportColumnInfo[];
  value: ColumnState;
  onChange: (next: ColumnState) => void;
}) {
  const info = new Map(columns.map((c) => [c.name, c]));
  const [focus, setFocus] = useState<{ name: string; dir: 'up' | 'down' } | null>(null);
  const [message, setMessage] = useState('');
  const buttons = useRef(new Map<string, HTMLButtonElement>());

  // React moves the row's DOM node on reorder; put focus back on the button that was pressed (or its twin at an end).
  useEffect(() => {
    if (!focus) return;
    const want = buttons.current.get(`${focus.dir}:${focus.name}`);
    const other = buttons.current.get(`${focus.dir === 'up' ? 'down' : 'up'}:${focus.name}`);
    (want && !want.disabled ? want : other)?.focus();
    setFocus(null);
  }, [focus]);

  const movable = value.order.filter((c) => info.get(c)?.allowed);

  function move(name: string, dir: 'up' | 'down') {
    const order = [...value.order];
    // Move past the neighbouring allowed column (forbidden ones cannot be chosen, so their place does not matter).
    const i = order.indexOf(name);
    const pos = movable.indexOf(name);
    const target = movable[dir === 'up' ? pos - 1 : pos + 1];
    if (target === undefined) return;
    const j = order.indexOf(target);
    order[i] = target;
    order[j] = name;
    onChange({ ...value, order });
    setFocus({ name, dir });
    const chosen = order.filter((c) => value.checked.has(c));
    const place = chosen.indexOf(name);
    setMessage(place >= 0 ? `${name} moved to position ${place + 1} of ${chosen.length} chosen columns` : `${name} moved ${dir}`);
  }

  function toggle(name: string, on: boolean) {
    const checked = new Set(value.checked);
    if (on) checked.add(name);
    else checked.delete(name);
    onChange({ ...value, checked });
  }

  function setAll(on: boolean) {
    onChange({ ...value, checked: on ? new Set(columns.filter((c) => c.allowed).map((c) => c.name)) : new Set() });
  }

  const chosenCount = chosenColumns(value).length;

  return (
    <fieldset className="column-picker">
      <legend>Columns in the file</legend>
      <p className="hint">
        {chosenCount} of {columns.length} columns chosen. The file has them in the order below; use Up and Down to change it.
      </p>
      <div className="actions small">
        <button type="button" onClick={() => setAll(true)}>
          Choose every allowed column
        </button>
        <button type="button" onClick={() => setAll(false)}>
          Clear columns
        </button>
      </div>
      <ol className="column-list">
        {value.order.map((name) => {
          const col = info.get(name);
          if (!col) return null;
          const id = `col-${name}`;
          const reasonId = `col-reason-${name}`;
          const pos = movable.indexOf(name);
          return (
            <li key={name} className={col.allowed ? 'column-row' : 'column-row disallowed'}>
              <span className="check">
                <input
                  id={id}
                  type="checkbox"
                  data-testid={`column-${name}`}
                  checked={col.allowed && value.checked.has(name)}
                  disabled={!col.allowed}
                  aria-describedby={col.allowed ? undefined : reasonId}
                  onChange={(e) => toggle(name, e.target.checked)}
                />
                <label htmlFor={id}>{name}</label>
              </span>
              {col.allowed ? (
                <span className="move">
                  <button
                    type="button"
                    ref={(el) => {
                      if (el) buttons.current.set(`up:${name}`, el);
                      else buttons.current.delete(`up:${name}`);
                    }}
                    aria-label={`Move ${name} up`}
                    disabled={pos <= 0}
                    onClick={() => move(name, 'up')}
                  >
                    Up
                  </button>
                  <button
                    type="button"
                    ref={(el) => {
                      if (el) buttons.current.set(`down:${name}`, el);
                      else buttons.current.delete(`down:${name}`);
                    }}
                    aria-label={`Move ${name} down`}
                    disabled={pos === movable.length - 1}
                    onClick={() => move(name, 'down')}
                  >
                    Down
                  </button>
                </span>
              ) : (
                <span id={reasonId} className="reason">
                  Not available: {col.reason ?? 'your role may not export this column'}
                </span>
              )}
            </li>
          );
        })}
      </ol>
      <p className="sr-live" aria-live="polite">
        {message}
      </p>
    </fieldset>
  );
}
