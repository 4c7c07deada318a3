import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { Link } from 'wouter';
import { useCan } from '../../app/session';
import type { ExportSchedule } from '../../app/types';
import { ConfirmButton } from '../../shared/ConfirmButton';
import { DateTime } from '../../shared/DateTime';
import { ErrorMessage } from '../../shared/ErrorMessage';
import { shortId } from '../../shared/format';
import { Pagination, useCursorPages } from '../../shared/Pagination';
import { usePageTitle } from '../../shared/usePageTitle';
import { ExportSpecFields, useExportSpec } from '../exports/ExportSpecFields';
import { useCreateSchedule, useDeleteSchedule, useScheduleList, useSetPaused, useUpdateSchedule, type ScheduleRequest } from './api';

/** "every 1h" or "cron 0 2 * * * (UTC)". */
function when(s: ExportSchedule): string {
  return s.cron ? `cron ${s.cron} (UTC)` : `every ${s.every ?? '?'}`;
}

type RunsKind = 'every' | 'cron';
const DEFAULT_RUNS: Record<RunsKind, string> = { every: '1d', cron: '0 2 * * *' };

/** The Runs fields' state (a schedule's own when editing one), and `read()`: `{every}` or `{cron}`, or what to fix first. */
function useRuns(schedule?: ExportSchedule) {
  const startKind: RunsKind = schedule?.cron ? 'cron' : 'every';
  const startValue = schedule ? (schedule.cron ?? schedule.every ?? '') : DEFAULT_RUNS.every;
  const [kind, setKind] = useState<RunsKind>(startKind);
  const [value, setValue] = useState(startValue);

  function changeKind(next: RunsKind) {
    setKind(next);
    setValue(schedule && next === startKind ? startValue : DEFAULT_RUNS[next]);
  }

  function read(): { runs: { every: string } | { cron: string } } | { problem: string } {
    const text = value.trim();
    if (!text) return { problem: kind === 'every' ? 'Say how often it runs, e.g. 1h or 1d.' : 'Give a cron expression, e.g. 0 2 * * *.' };
    return { runs: kind === 'every' ? { every: text } : { cron: text } };
  }

  return { kind, value, setValue, changeKind, read };
}

/** "Runs" (every or cron) and the "Every" or "Cron expression" field; `runs` comes from useRuns(). */
function RunsFields({ runs }: { runs: ReturnType<typeof useRuns> }) {
  const ids = { kind: useId(), spec: useId(), specHint: useId() };
  return (
    <>
      <div className="field">
        <label htmlFor={ids.kind}>Runs</label>
        <select id={ids.kind} value={runs.kind} onChange={(e) => runs.changeKind(e.target.value === 'cron' ? 'cron' : 'every')}>
          <option value="every">At an interval</option>
          <option value="cron">On a cron schedule (UTC)</option>
        </select>
      </div>
      <div className="field">
        <label htmlFor={ids.spec}>{runs.kind === 'every' ? 'Every' : 'Cron expression'}</label>
        <input id={ids.spec} type="text" value={runs.value} onChange={(e) => runs.setValue(e.target.value)} aria-describedby={ids.specHint} />
        <p id={ids.specHint} className="hint">
          {runs.kind === 'every' ? 'A duration such as 15m, 1h, 1d or 1h30m.' : 'Five fields: minute hour day-of-month month day-of-week, e.g. 0 2 * * *.'}
        </p>
      </div>
    </>
  );
}

/** The Runs and the export sections read together: when it runs and the spec, or the first thing to fix. */
function readSchedule(runs: ReturnType<typeof useRuns>, exportSpec: ReturnType<typeof useExportSpec>) {
  const when = runs.read();
  if ('problem' in when) return when;
  const read = exportSpec.read();
  if ('problem' in read) return read;
  return { runs: when.runs, spec: read.spec };
}

function CreateForm() {
  const ids = {
    name: useId(),
    incremental: useId(),
    incrementalHint: useId(),
  };
  const create = useCreateSchedule();
  const runs = useRuns();
  const exportSpec = useExportSpec();
  const [name, setName] = useState('');
  const [incremental, setIncremental] = useState(true);
  const [formError, setFormError] = useState<string | null>(null);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim()) {
      setFormError('Give the schedule a name.');
      return;
    }
    const read = readSchedule(runs, exportSpec);
    if ('problem' in read) {
      setFormError(read.problem);
      return;
    }
    setFormError(null);
    const body: ScheduleRequest = { name: name.trim(), incremental, ...read.runs, ...read.spec };
    create.mutate(body, { onSuccess: () => setName('') });
  };

  return (
    <form onSubmit={submit} className="export-form" noValidate aria-labelledby="new-schedule-heading">
      <h2 id="new-schedule-heading">New schedule</h2>
      <p className="hint">Each run exports the users that match the filters, in the chosen columns, as you: you get each file by email.</p>
      <div className="filter-stack">
        <div className="field">
          <label htmlFor={ids.name}>Schedule name</label>
          <input id={ids.name} type="text" value={name} onChange={(e) => setName(e.target.value)} />
        </div>
        <RunsFields runs={runs} />
        <div className="check">
          <input id={ids.incremental} type="checkbox" checked={incremental} onChange={(e) => setIncremental(e.target.checked)} aria-describedby={ids.incrementalHint} />
          <label htmlFor={ids.incremental}>Incremental</label>
        </div>
        <p id={ids.incrementalHint} className="hint">
          Each file holds only the users created or updated since the last completed run (deleted users are not listed).
        </p>
      </div>
      <ExportSpecFields spec={exportSpec} />
      <div className="actions">
        <button type="submit" className="primary" disabled={create.isPending}>
          Create schedule
        </button>
        <span aria-live="polite">{create.isPending ? 'Creating the schedule…' : ''}</span>
      </div>
      {formError && (
        <p className="error-box" role="alert">
          {formError}
        </p>
      )}
      <ErrorMessage error={create.error} title="The schedule could not be created." />
    </form>
  );
}

/**
 * Changes what a PATCH of a schedule takes (when it runs, its filters and columns), starting from the schedule's own;
 * `onDone(true)` once saved, `onDone(false)` when the operator gives up.
 */
function EditForm({ schedule, onDone }: { schedule: ExportSchedule; onDone: (saved: boolean) => void }) {
  const headingId = useId();
  const heading = useRef<HTMLHeadingElement>(null);
  const update = useUpdateSchedule();
  const runs = useRuns(schedule);
  const exportSpec = useExportSpec(schedule);
  const [formError, setFormError] = useState<string | null>(null);

  useEffect(() => heading.current?.focus(), []);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const read = readSchedule(runs, exportSpec);
    if ('problem' in read) {
      setFormError(read.problem);
      return;
    }
    setFormError(null);
    // The filters replace the schedule's whole: {} when every filter was cleared.
    const patch = { ...read.runs, filters: read.spec.filters ?? {}, columns: read.spec.columns };
    update.mutate({ id: schedule.id, patch }, { onSuccess: () => onDone(true) });
  };

  return (
    <form onSubmit={submit} className="export-form" noValidate aria-labelledby={headingId}>
      <h2 id={headingId} ref={heading} tabIndex={-1}>
        Edit {schedule.name}
      </h2>
      <p className="hint">The next runs use the changes. The name, the kind ({schedule.incremental ? 'incremental' : 'full'}) and the file stay as they are.</p>
      <div className="filter-stack">
        <RunsFields runs={runs} />
      </div>
      <ExportSpecFields
        spec={exportSpec}
        fileFixed="A schedule's file options are set when it is created: to change them, create a new schedule and delete this one."
      />
      <div className="actions">
        <button type="submit" className="primary" disabled={update.isPending}>
          Save changes
        </button>
        <button type="button" onClick={() => onDone(false)}>
          Cancel editing
        </button>
        <span aria-live="polite">{update.isPending ? 'Saving the changes…' : ''}</span>
      </div>
      {formError && (
        <p className="error-box" role="alert">
          {formError}
        </p>
      )}
      <ErrorMessage error={update.error} title="The schedule could not be changed." />
    </form>
  );
}

function ScheduleRow({ schedule, onEdit, onDeleted }: { schedule: ExportSchedule; onEdit: () => void; onDeleted: () => void }) {
  const setPaused = useSetPaused();
  const remove = useDeleteSchedule();
  return (
    <tr data-schedule-id={schedule.id}>
      <th scope="row">{schedule.name}</th>
      <td>{when(schedule)}</td>
      <td>{schedule.incremental ? 'incremental' : 'full'}</td>
      <td>
        {schedule.format}
        {schedule.gzip ? ' + gzip' : ''}
      </td>
      <td data-testid="schedule-state">{schedule.paused ? 'Paused' : 'Active'}</td>
      <td>{schedule.paused ? '—' : <DateTime value={schedule.next_run_at} />}</td>
      <td>{schedule.last_export_id ? <Link href={`/exports/${schedule.last_export_id}`}>Export {shortId(schedule.last_export_id)}</Link> : '—'}</td>
      <td>{schedule.created_by.email}</td>
      <td>
        <div className="actions">
          <button
            type="button"
            aria-label={`${schedule.paused ? 'Resume' : 'Pause'} ${schedule.name}`}
            disabled={setPaused.isPending}
            onClick={() => setPaused.mutate({ id: schedule.id, paused: !schedule.paused })}
          >
            {schedule.paused ? 'Resume' : 'Pause'}
          </button>
          <button type="button" aria-label={`Edit ${schedule.name}`} onClick={onEdit}>
            Edit
          </button>
          <ConfirmButton
            label="Delete"
            title={`Delete the schedule ${schedule.name}?`}
            confirmLabel="Yes, delete the schedule"
            onConfirm={() => remove.mutate(schedule.id, { onSuccess: onDeleted })}
            disabled={remove.isPending}
          >
            <p>No further runs start. The exports it made stay in the export history.</p>
          </ConfirmButton>
        </div>
        <ErrorMessage error={setPaused.error ?? remove.error} title="The schedule could not be changed." />
      </td>
    </tr>
  );
}

export function SchedulesPage() {
  usePageTitle('Export schedules');
  const can = useCan();
  const pages = useCursorPages();
  const allowed = can('exports.schedules');
  const list = useScheduleList(pages.cursor, allowed);
  const [editing, setEditing] = useState<ExportSchedule | null>(null);
  const [saved, setSaved] = useState('');
  if (!allowed) {
    return (
      <>
        <h1>Export schedules</h1>
        <p className="notice">Your role does not have the exports.schedules permission: only OWNER, ADMIN and COMPLIANCE_OFFICER manage export schedules.</p>
      </>
    );
  }
  const rows = list.data?.results ?? [];
  return (
    <>
      <h1>Export schedules</h1>
      <p className="muted">Exports that run by themselves, e.g. a nightly sync to a data warehouse. Each run is a normal export in the export history.</p>
      <ErrorMessage error={list.error} title="The schedules could not be loaded." />
      <div className="table-scroll" role="region" aria-labelledby="schedules-caption" tabIndex={0}>
        <table className="data" data-testid="schedules-table">
          <caption id="schedules-caption">Export schedules, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">When</th>
              <th scope="col">Kind</th>
              <th scope="col">File</th>
              <th scope="col">State</th>
              <th scope="col">Next run</th>
              <th scope="col">Last run</th>
              <th scope="col">Created by</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((s) => (
              <ScheduleRow
                key={s.id}
                schedule={s}
                onEdit={() => {
                  setSaved('');
                  setEditing(s);
                }}
                onDeleted={() => setEditing((cur) => (cur?.id === s.id ? null : cur))}
              />
            ))}
            {!list.isPending && rows.length === 0 && !list.error && (
              <tr>
                <td colSpan={9} className="empty">
                  No schedules yet.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <Pagination pages={pages} nextCursor={list.data?.next_cursor} label="Schedule pages" busy={list.isFetching} />
      <p role="status">{saved}</p>
      {/* One form at a time: the two would share the column checkboxes' ids and labels. */}
      {editing ? (
        <EditForm
          key={editing.id}
          schedule={editing}
          onDone={(done) => {
            setSaved(done ? `The changes to ${editing.name} are saved.` : '');
            setEditing(null);
          }}
        />
      ) : (
        <CreateForm />
      )}
    </>
  );
}
