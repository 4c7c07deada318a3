import { useId, useState, type FormEvent } from 'react';
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
import { useCreateSchedule, useDeleteSchedule, useScheduleList, useSetPaused, type ScheduleRequest } from './api';

/** "every 1h" or "cron 0 2 * * * (UTC)". */
function when(s: ExportSchedule): string {
  return s.cron ? `cron ${s.cron} (UTC)` : `every ${s.every ?? '?'}`;
}

function CreateForm() {
  const ids = {
    name: useId(),
    kind: useId(),
    spec: useId(),
    specHint: useId(),
    incremental: useId(),
    incrementalHint: useId(),
  };
  const create = useCreateSchedule();
  const exportSpec = useExportSpec();
  const [name, setName] = useState('');
  const [kind, setKind] = useState<'every' | 'cron'>('every');
  const [spec, setSpec] = useState('1d');
  const [incremental, setIncremental] = useState(true);
  const [formError, setFormError] = useState<string | null>(null);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim()) {
      setFormError('Give the schedule a name.');
      return;
    }
    if (!spec.trim()) {
      setFormError(kind === 'every' ? 'Say how often it runs, e.g. 1h or 1d.' : 'Give a cron expression, e.g. 0 2 * * *.');
      return;
    }
    const read = exportSpec.read();
    if ('problem' in read) {
      setFormError(read.problem);
      return;
    }
    setFormError(null);
    const body: ScheduleRequest = { name: name.trim(), incremental, [kind]: spec.trim(), ...read.spec };
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
        <div className="field">
          <label htmlFor={ids.kind}>Runs</label>
          <select
            id={ids.kind}
            value={kind}
            onChange={(e) => {
              const next = e.target.value === 'cron' ? 'cron' : 'every';
              setKind(next);
              setSpec(next === 'cron' ? '0 2 * * *' : '1d');
            }}
          >
            <option value="every">At an interval</option>
            <option value="cron">On a cron schedule (UTC)</option>
          </select>
        </div>
        <div className="field">
          <label htmlFor={ids.spec}>{kind === 'every' ? 'Every' : 'Cron expression'}</label>
          <input id={ids.spec} type="text" value={spec} onChange={(e) => setSpec(e.target.value)} aria-describedby={ids.specHint} />
          <p id={ids.specHint} className="hint">
            {kind === 'every' ? 'A duration such as 15m, 1h, 1d or 1h30m.' : 'Five fields: minute hour day-of-month month day-of-week, e.g. 0 2 * * *.'}
          </p>
        </div>
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

function ScheduleRow({ schedule }: { schedule: ExportSchedule }) {
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
          <ConfirmButton
            label="Delete"
            title={`Delete the schedule ${schedule.name}?`}
            confirmLabel="Yes, delete the schedule"
            onConfirm={() => remove.mutate(schedule.id)}
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
              <ScheduleRow key={s.id} schedule={s} />
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
      <CreateForm />
    </>
  );
}
