import { Client as PgClient } from 'pg';
import { ScheduleNotFoundError } from '@temporalio/client';
import { and, asc, eq } from 'drizzle-orm';
import { exportSchedules, exportsTable, operators } from '../drizzle/schema';
import { download, parseCsv, waitForExport } from './helpers/exports';
import { api, createTenant, startTestStack, testEnv, waitFor, type TestStack, type TestTenant } from './helpers/stack';

/**
 * Export schedules on the real stack: runs started with the Temporal Schedule's trigger, three incremental files that
 * hold every change exactly once (also one written by a transaction still open when a run began), pause, delete,
 * roles, validation and tenancy.
 */

jest.setTimeout(180_000);

let stack: TestStack;
let tenant: TestTenant;
let other: TestTenant;
let owner: string;
const created: string[] = [];

beforeAll(async () => {
  stack = await startTestStack();
  tenant = await createTenant(stack.database.db);
  other = await createTenant(stack.database.db);
  owner = tenant.operators.OWNER.token;
});
afterAll(async () => {
  for (const id of created) await stack.client.schedule.getHandle(`kyc-export-schedule-${id}`).delete().catch(() => undefined);
  await stack?.stop();
});

async function createSchedule(body: Record<string, unknown>, token = owner) {
  const res = await api(stack, 'POST', '/console/users/export-schedules', { token, body });
  if (res.status === 201) created.push(res.body.id);
  return res;
}

/** The exports of a schedule's runs, oldest first. */
async function runsOf(scheduleId: string) {
  return stack.database.db.select().from(exportsTable).where(eq(exportsTable.scheduleId, scheduleId)).orderBy(asc(exportsTable.createdAt));
}

/**
 * Waits until the tenant's last change is over a second old by the database's clock, so that the runs below start
 * well clear of the changes they are meant to hold (a run holds every change committed before it starts: see the
 * test of a run triggered at once).
 */
async function settle(applicationId = tenant.applicationId): Promise<void> {
  await waitFor(async () => {
    const { rows } = await stack.database.db.execute<{ settled: boolean }>(
      `SELECT coalesce(clock_timestamp() - max(updated_at) > interval '1100 milliseconds', true) AS settled FROM users WHERE application_id = '${applicationId}'`,
    );
    return rows[0].settled ? true : undefined;
  }, 10_000, 50);
}

/** Triggers one run with the Temporal Schedule's trigger and waits for its export to end. */
async function triggerRun(scheduleId: string, before: number): Promise<any> {
  await settle();
  await stack.client.schedule.getHandle(`kyc-export-schedule-${scheduleId}`).trigger();
  const row = await waitFor(async () => (await runsOf(scheduleId))[before], 60_000);
  return waitForExport(stack, owner, row.id);
}

async function createUser(vendorData: string, displayName: string) {
  const res = await api(stack, 'POST', '/v3/users/create/', { apiKey: tenant.apiKey, body: { vendor_data: vendorData, display_name: displayName } });
  expect(res.status).toBe(201);
}

async function renameUser(vendorData: string, displayName: string) {
  const res = await api(stack, 'PATCH', `/v3/users/${encodeURIComponent(vendorData)}/`, { apiKey: tenant.apiKey, body: { display_name: displayName } });
  expect(res.status).toBe(200);
}

/** The (vendor_data, display_name) pairs of a completed export's CSV. */
async function changesIn(done: any): Promise<string[]> {
  expect(done.status).toBe('COMPLETED');
  const file = await download(done.download_url);
  expect(file.status).toBe(200);
  const [header, ...rows] = parseCsv(file.text);
  expect(header).toEqual(['vendor_data', 'display_name']);
  return rows.map(([v, d]) => `${v}=${d}`);
}

test("a run triggered at once after a change holds it (the snapshot is the run's start, not a second before)", async () => {
  // An application of its own: its users are in no other test's files.
  const own = await createTenant(stack.database.db);
  const token = own.operators.OWNER.token;
  const res = await createSchedule({ name: 'at once', every: '1h', incremental: true, columns: ['vendor_data', 'display_name'] }, token);
  expect(res.status).toBe(201);
  for (const vendorData of ['now-a', 'now-b']) {
    const user = await api(stack, 'POST', '/v3/users/create/', { apiKey: own.apiKey, body: { vendor_data: vendorData, display_name: 'x' } });
    expect(user.status).toBe(201);
  }
  await stack.client.schedule.getHandle(`kyc-export-schedule-${res.body.id}`).trigger();
  const row = await waitFor(async () => (await runsOf(res.body.id))[0], 60_000);
  const done = await waitForExport(stack, token, row.id);
  expect((await changesIn(done)).sort()).toEqual(['now-a=x', 'now-b=x']);
});

test('three incremental runs: every creation and update is in exactly one file, also one committed after a run began', async () => {
  const res = await createSchedule({ name: 'warehouse sync', every: '1h', incremental: true, columns: ['vendor_data', 'display_name'] });
  expect(res.status).toBe(201);
  const schedule = res.body;
  expect(schedule).toMatchObject({
    name: 'warehouse sync',
    every: '1h',
    cron: null,
    incremental: true,
    paused: false,
    format: 'csv',
    gzip: false,
    last_export_id: null,
    created_by: { id: tenant.operators.OWNER.id, email: tenant.operators.OWNER.email },
  });
  expect(typeof schedule.next_run_at).toBe('string');
  const handle = stack.client.schedule.getHandle(`kyc-export-schedule-${schedule.id}`);
  const described = await handle.describe();
  expect(described.state.paused).toBe(false);
  expect(described.policies.overlap).toBe('SKIP');
  expect(described.action).toMatchObject({ workflowType: 'scheduledExportWorkflow', staticSummary: 'export schedule: warehouse sync' });

  // Run 1: everything up to its snapshot.
  await createUser('inc-a', 'a1');
  await createUser('inc-b', 'b1');
  const run1 = await triggerRun(schedule.id, 0);
  const file1 = await changesIn(run1);
  expect(run1).toMatchObject({ schedule_id: schedule.id, incremental: true, changed_after: null, operator: { id: tenant.operators.OWNER.id } });

  // Run 2: a new user, an update, and an update by a transaction that began over a second before the run and
  // commits while the run is waiting for it (now() is its start time: without the wait, no file would hold it).
  await createUser('inc-c', 'c1');
  await renameUser('inc-a', 'a2');
  await settle();
  const pg = new PgClient({ connectionString: testEnv().databaseUrl });
  await pg.connect();
  let run2: any;
  try {
    await pg.query('BEGIN');
    await pg.query(`UPDATE users SET display_name = 'b2', updated_at = now() WHERE application_id = $1 AND vendor_data_key = 'inc-b'`, [tenant.applicationId]);
    await waitFor(async () => {
      const { rows } = await pg.query<{ old: boolean }>(`SELECT clock_timestamp() - now() > interval '1500 milliseconds' AS old`);
      return rows[0].old ? true : undefined;
    }, 10_000, 50);
    const taken = (await handle.describe()).info.numActionsTaken;
    await handle.trigger();
    const workflowId = await waitFor(async () => {
      const info = (await handle.describe()).info;
      return info.numActionsTaken > taken ? info.recentActions.at(-1)?.action.workflow.workflowId : undefined;
    }, 30_000);
    // The run is held in its first activity, waiting for this transaction (were it not, it would go on and end).
    const state = await waitFor(async () => {
      const wf = await stack.client.workflow.getHandle(workflowId).describe();
      if (wf.status.name !== 'RUNNING') return wf.status.name;
      if ((await runsOf(schedule.id)).length > 1) return 'made an export';
      const pending = wf.raw.pendingActivities ?? [];
      // It heartbeats while it waits for old transactions to end (src/exports/snapshot.ts).
      return pending.some((a) => a.activityType?.name === 'createScheduledExport' && a.lastHeartbeatTime) ? 'waiting' : undefined;
    }, 30_000);
    expect(state).toBe('waiting');
    expect(await runsOf(schedule.id)).toHaveLength(1);
    await pg.query('COMMIT');
    const row = await waitFor(async () => (await runsOf(schedule.id))[1], 60_000);
    run2 = await waitForExport(stack, owner, row.id);
  } finally {
    await pg.end();
  }
  const file2 = await changesIn(run2);
  expect(run2.changed_after).toBe(run1.snapshot_at);

  // Run 3.
  await createUser('inc-d', 'd1');
  await renameUser('inc-c', 'c2');
  await renameUser('inc-b', 'b3');
  const run3 = await triggerRun(schedule.id, 2);
  const file3 = await changesIn(run3);
  expect(run3.changed_after).toBe(run2.snapshot_at);

  expect(file1.sort()).toEqual(['inc-a=a1', 'inc-b=b1']);
  expect(file2.sort()).toEqual(['inc-a=a2', 'inc-b=b2', 'inc-c=c1']);
  expect(file3.sort()).toEqual(['inc-b=b3', 'inc-c=c2', 'inc-d=d1']);

  // The watermark is the last completed run's snapshot; each run is an export of the history, audited and emailed.
  const [stored] = await stack.database.db.select().from(exportSchedules).where(eq(exportSchedules.id, schedule.id));
  expect(stored.watermark?.toISOString()).toBe(run3.snapshot_at);
  expect(stored.lastExportId).toBe(run3.id);
  const got = await api(stack, 'GET', `/console/users/export-schedules/${schedule.id}`, { token: owner });
  expect(got.body).toMatchObject({ last_export_id: run3.id, watermark: run3.snapshot_at });
  const history = await api(stack, 'GET', '/console/users/exports?limit=200', { token: owner });
  const ids = [run1.id, run2.id, run3.id];
  expect(history.body.results.filter((e: any) => e.schedule_id === schedule.id).map((e: any) => e.id).sort()).toEqual([...ids].sort());
  const audit = await api(stack, 'GET', '/console/audit-log?action=users.export&limit=200', { token: owner });
  for (const [i, run] of [run1, run2, run3].entries()) {
    const entries = audit.body.results.filter((a: any) => a.target_id === run.id);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ status: 'SUCCESS', operator: { id: tenant.operators.OWNER.id }, details: { schedule_id: schedule.id, row_count: [2, 3, 3][i] } });
    expect(run.email).toMatchObject({ to: tenant.operators.OWNER.email });
  }
});

test('a run that does not complete leaves the watermark: the next run holds its changes too', async () => {
  // Ranges pause between writes, so the run can be cancelled while it writes.
  const slow = await startTestStack({ env: { TEST_EXPORT_CHUNK_DELAY_MS: '1500' } });
  try {
    const t = await createTenant(slow.database.db);
    const token = t.operators.ADMIN.token;
    const make = async (vendorData: string) =>
      expect((await api(slow, 'POST', '/v3/users/create/', { apiKey: t.apiKey, body: { vendor_data: vendorData, display_name: vendorData } })).status).toBe(201);
    const res = await api(slow, 'POST', '/console/users/export-schedules', { token, body: { name: 'cancelled', every: '1d', incremental: true, columns: ['vendor_data', 'display_name'] } });
    expect(res.status).toBe(201);
    const id = res.body.id;
    const handle = slow.client.schedule.getHandle(res.body.temporal_schedule_id);
    const runs = () => slow.database.db.select().from(exportsTable).where(eq(exportsTable.scheduleId, id)).orderBy(asc(exportsTable.createdAt));
    try {
      await make('gap-1');
      await settle(t.applicationId);
      await handle.trigger();
      const first = await waitFor(async () => (await runs()).find((r) => r.status === 'RUNNING'), 60_000);
      expect((await api(slow, 'POST', `/console/users/exports/${first.id}/cancel`, { token })).status).toBe(202);
      expect((await waitForExport(slow, token, first.id)).status).toBe('CANCELLED');
      const [afterCancel] = await slow.database.db.select().from(exportSchedules).where(eq(exportSchedules.id, id));
      expect(afterCancel.watermark).toBeNull();

      await make('gap-2');
      await settle(t.applicationId);
      await handle.trigger();
      const second = await waitFor(async () => (await runs())[1], 60_000);
      const done = await waitForExport(slow, token, second.id, undefined, 120_000);
      expect(done).toMatchObject({ status: 'COMPLETED', changed_after: null });
      const file = await download(done.download_url);
      expect(parseCsv(file.text).slice(1).map(([v]) => v).sort()).toEqual(['gap-1', 'gap-2']);
      const [stored] = await slow.database.db.select().from(exportSchedules).where(eq(exportSchedules.id, id));
      expect(stored.watermark?.toISOString()).toBe(done.snapshot_at);
    } finally {
      await handle.delete().catch(() => undefined);
    }
  } finally {
    await slow.stop();
  }
});

test('a non-incremental schedule: each run is a full export', async () => {
  const res = await createSchedule({ name: 'full nightly', cron: '0 2 * * *', format: 'ndjson', gzip: true, columns: ['vendor_data'] });
  expect(res.status).toBe(201);
  expect(res.body).toMatchObject({ cron: '0 2 * * *', every: null, incremental: false, format: 'ndjson', gzip: true });
  const run = await triggerRun(res.body.id, 0);
  expect(run).toMatchObject({ status: 'COMPLETED', schedule_id: res.body.id, incremental: false, changed_after: null, format: 'ndjson', gzip: true });
  const [{ n }] = (await stack.database.db.execute<{ n: string }>(
    `SELECT count(*) AS n FROM users WHERE application_id = '${tenant.applicationId}'`,
  )).rows;
  expect(run.row_count).toBe(Number(n));
});

test("a run whose creator may no longer export its columns is a FAILED export in the history, audited, not only a Temporal failure", async () => {
  const officer = tenant.operators.COMPLIANCE_OFFICER;
  const schedule = await createSchedule({ name: 'emails nightly', every: '1d', columns: ['vendor_data', 'email'] }, officer.token);
  expect(schedule.status).toBe(201);
  await stack.database.db.update(operators).set({ role: 'DEVELOPER' }).where(eq(operators.id, officer.id));
  try {
    const handle = stack.client.schedule.getHandle(`kyc-export-schedule-${schedule.body.id}`);
    await handle.trigger();
    const run = await waitFor(async () => (await runsOf(schedule.body.id))[0], 60_000);
    const done = await waitForExport(stack, owner, run.id);
    expect(done).toMatchObject({ status: 'FAILED', schedule_id: schedule.body.id, error: { code: 'column_not_permitted' }, download_url: null });
    expect(done.error.message).toMatch(/may no longer export the columns email/);
    const audit = await api(stack, 'GET', '/console/audit-log?action=users.export', { token: owner });
    expect(audit.body.results.find((e: { target_id: string }) => e.target_id === run.id)).toMatchObject({ status: 'FAILURE', details: { error: { code: 'column_not_permitted' } } });
    // The schedule's run itself ends (skipped), and names the export.
    const shown = await api(stack, 'GET', `/console/users/export-schedules/${schedule.body.id}`, { token: owner });
    expect(shown.body.last_export_id).toBe(run.id);
    expect(await runsOf(schedule.body.id)).toHaveLength(1);
  } finally {
    await stack.database.db.update(operators).set({ role: 'COMPLIANCE_OFFICER' }).where(eq(operators.id, officer.id));
  }
});

test('pause stops runs, unpause resumes; every and cron change the Temporal Schedule', async () => {
  const res = await createSchedule({ name: 'every two seconds', every: '2s', columns: ['id'] });
  expect(res.status).toBe(201);
  const id = res.body.id;
  const handle = stack.client.schedule.getHandle(`kyc-export-schedule-${id}`);
  // It runs by itself.
  await waitFor(async () => ((await runsOf(id)).some((r) => r.status === 'COMPLETED') ? true : undefined), 60_000);

  const paused = await api(stack, 'PATCH', `/console/users/export-schedules/${id}`, { token: owner, body: { paused: true } });
  expect(paused.status).toBe(200);
  expect(paused.body).toMatchObject({ paused: true, next_run_at: null });
  expect((await handle.describe()).state.paused).toBe(true);
  // Whatever was in flight ends; then a run started by hand while paused makes no export.
  await waitFor(async () => ((await handle.describe()).info.runningActions.length === 0 ? true : undefined), 60_000);
  const before = (await runsOf(id)).length;
  const actionsBefore = (await handle.describe()).info.numActionsTaken;
  await handle.trigger();
  await waitFor(async () => {
    const d = await handle.describe();
    return d.info.numActionsTaken > actionsBefore && d.info.runningActions.length === 0 ? true : undefined;
  }, 30_000);
  const last = (await handle.describe()).info.recentActions.at(-1)!;
  const result = await stack.client.workflow.getHandle(last.action.workflow.workflowId).result();
  expect(result).toMatchObject({ status: 'SKIPPED', exportId: null });
  expect(await runsOf(id)).toHaveLength(before);

  const resumed = await api(stack, 'PATCH', `/console/users/export-schedules/${id}`, { token: owner, body: { paused: false, cron: '*/5 * * * *' } });
  expect(resumed.status).toBe(200);
  expect(resumed.body).toMatchObject({ paused: false, cron: '*/5 * * * *', every: null });
  expect(typeof resumed.body.next_run_at).toBe('string');
  const described = await handle.describe();
  expect(described.state.paused).toBe(false);
  expect(described.spec.intervals ?? []).toHaveLength(0);
  expect(described.spec.calendars?.length).toBeGreaterThan(0);

  const filtered = await api(stack, 'PATCH', `/console/users/export-schedules/${id}`, {
    token: owner,
    body: { every: '1d', filters: { status: ['blocked'] }, columns: ['vendor_data', 'email'], name: 'renamed' },
  });
  expect(filtered.status).toBe(200);
  expect(filtered.body).toMatchObject({ every: '1d', cron: null, filters: { status: ['BLOCKED'] }, columns: ['vendor_data', 'email'], name: 'renamed' });
  const again = await handle.describe();
  expect(again.spec.intervals?.[0]?.every).toBe(86_400_000);
  expect(again.action).toMatchObject({ staticSummary: 'export schedule: renamed' });
});

test('delete removes the Temporal Schedule; the runs keep naming the schedule', async () => {
  const res = await createSchedule({ name: 'to delete', every: '1d', columns: ['id'] });
  const id = res.body.id;
  const run = await triggerRun(id, 0);
  expect(run.status).toBe('COMPLETED');
  const del = await api(stack, 'DELETE', `/console/users/export-schedules/${id}`, { token: owner });
  expect(del.status).toBe(204);
  await expect(stack.client.schedule.getHandle(`kyc-export-schedule-${id}`).describe()).rejects.toBeInstanceOf(ScheduleNotFoundError);
  expect((await api(stack, 'GET', `/console/users/export-schedules/${id}`, { token: owner })).status).toBe(404);
  expect((await api(stack, 'DELETE', `/console/users/export-schedules/${id}`, { token: owner })).status).toBe(404);
  const list = await api(stack, 'GET', '/console/users/export-schedules', { token: owner });
  expect(list.body.results.map((s: any) => s.id)).not.toContain(id);
  expect((await api(stack, 'GET', `/console/users/exports/${run.id}`, { token: owner })).body.schedule_id).toBe(id);
});

test('roles, validation and another application', async () => {
  const body = { name: 'n', every: '1d', columns: ['id'] };
  for (const role of ['READER', 'DEVELOPER'] as const) {
    const token = tenant.operators[role].token;
    const res = await api(stack, 'POST', '/console/users/export-schedules', { token, body });
    expect(res.status).toBe(403);
    expect((await api(stack, 'GET', '/console/users/export-schedules', { token })).status).toBe(403);
  }
  const byCompliance = await createSchedule(body, tenant.operators.COMPLIANCE_OFFICER.token);
  expect(byCompliance.status).toBe(201);
  const byAdmin = await createSchedule({ ...body, columns: undefined }, tenant.operators.ADMIN.token);
  expect(byAdmin.status).toBe(201);
  expect(byAdmin.body.columns).toContain('email');

  const invalid: [Record<string, unknown>, string][] = [
    [{ name: 'n', columns: ['id'] }, 'required'],
    [{ name: 'n', every: '1d', cron: '0 2 * * *' }, 'invalid_schedule'],
    [{ name: 'n', every: 'soon' }, 'invalid_every'],
    [{ name: 'n', every: '500ms' }, 'invalid_every'],
    [{ name: 'n', cron: '61 * * * *' }, 'invalid_cron'],
    [{ name: 'n', cron: '0 2 * *' }, 'invalid_cron'],
    [{ name: 'n', every: '1d', columns: ['nope'] }, 'unknown_column'],
    [{ name: 'n', every: '1d', filters: { status: ['GONE'] } }, 'invalid_status'],
    [{ name: 'n', every: '1d', incremental: 'yes' }, 'invalid_incremental'],
    [{ name: 'n', every: '1d', format: 'xml' }, 'invalid_format'],
    [{ name: '  ', every: '1d' }, 'invalid_name'],
    [{ every: '1d' }, 'required'],
    [{ name: 'n', every: '1d', extra: 1 }, 'unknown_field'],
  ];
  for (const [bad, code] of invalid) {
    const res = await api(stack, 'POST', '/console/users/export-schedules', { token: owner, body: bad });
    expect([res.status, res.body?.error?.code]).toEqual([400, 'invalid_field']);
    expect(res.body.error.details.map((d: any) => d.code)).toContain(code);
  }
  const id = byCompliance.body.id;
  const badPatch = await api(stack, 'PATCH', `/console/users/export-schedules/${id}`, { token: owner, body: { paused: 'no' } });
  expect([badPatch.status, badPatch.body.error.code]).toEqual([400, 'invalid_field']);

  // Columns are checked against the creator's role: each run exports as the creator.
  await stack.database.db.update(operators).set({ role: 'DEVELOPER' }).where(eq(operators.id, tenant.operators.COMPLIANCE_OFFICER.id));
  try {
    const res = await api(stack, 'PATCH', `/console/users/export-schedules/${id}`, { token: owner, body: { columns: ['vendor_data', 'email'] } });
    expect([res.status, res.body.error.code, res.body.error.details]).toEqual([403, 'column_not_permitted', { columns: ['email'] }]);
  } finally {
    await stack.database.db.update(operators).set({ role: 'COMPLIANCE_OFFICER' }).where(eq(operators.id, tenant.operators.COMPLIANCE_OFFICER.id));
  }

  // Another application's schedule does not exist for this one.
  const theirs = other.operators.OWNER.token;
  expect((await api(stack, 'GET', `/console/users/export-schedules/${id}`, { token: theirs })).status).toBe(404);
  expect((await api(stack, 'PATCH', `/console/users/export-schedules/${id}`, { token: theirs, body: { paused: true } })).status).toBe(404);
  expect((await api(stack, 'DELETE', `/console/users/export-schedules/${id}`, { token: theirs })).status).toBe(404);
  expect((await api(stack, 'GET', '/console/users/export-schedules', { token: theirs })).body.results).toEqual([]);
  expect((await api(stack, 'GET', '/console/users/export-schedules/not-a-uuid', { token: owner })).status).toBe(404);
  const [row] = await stack.database.db.select().from(exportSchedules).where(and(eq(exportSchedules.id, id)));
  expect(row.paused).toBe(false);

  // The object's shape is taken back: the unused one of every/cron as null, paused given at creation.
  const echoed = await createSchedule({ name: 'echoed', every: '1d', cron: null, paused: true, columns: ['id'] });
  expect(echoed.status).toBe(201);
  expect(echoed.body).toMatchObject({ every: '1d', cron: null, paused: true, next_run_at: null });
  expect((await stack.client.schedule.getHandle(`kyc-export-schedule-${echoed.body.id}`).describe()).state.paused).toBe(true);
  const toCron = await api(stack, 'PATCH', `/console/users/export-schedules/${echoed.body.id}`, { token: owner, body: { every: null, cron: '0 2 * * *' } });
  expect(toCron.status).toBe(200);
  expect(toCron.body).toMatchObject({ every: null, cron: '0 2 * * *', paused: true });
  const [stored] = await stack.database.db.select().from(exportSchedules).where(eq(exportSchedules.id, echoed.body.id));
  expect([stored.every, stored.cron, stored.paused]).toEqual([null, '0 2 * * *', true]);
  const neither = await api(stack, 'POST', '/console/users/export-schedules', { token: owner, body: { name: 'n', every: null, cron: null } });
  expect(neither.body.error.details.map((d: any) => d.code)).toContain('required');
});
