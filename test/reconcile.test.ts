import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { sql } from 'drizzle-orm';
import { insertExport } from '../src/exports/queries';
import { createStorage } from '../src/storage';
import { seedUsers } from './helpers/exports';
import { insertImport, markConfirmed, getImport as getImportRecord } from '../src/imports/queries';
import { markUndoing } from '../src/imports/undo';
import { ensureReconcileSchedule } from '../src/temporal/schedules';
import { reconcileScheduleId } from '../workflows/definitions';
import { importWorkflowId, undoImportWorkflowId } from '../workflows/import-definitions';
import { api, createTenant, startTestStack, waitFor, type TestStack, type TestTenant } from './helpers/stack';
import { csvOf, getImport, upload, waitForStatus } from './fixtures/imports/support';

/**
 * The reconciler puts right what a crash or an outside hand leaves out of step: an import whose workflow never
 * started (the API died in between), a cancel that no workflow finished, a workflow terminated or cancelled from
 * Temporal, a confirm whose signal was lost, and temporary files of interrupted uploads.
 */

jest.setTimeout(90_000);

let stack: TestStack;
let tenant: TestTenant;

beforeAll(async () => {
  stack = await startTestStack({ env: { RECONCILE_AFTER: '1ms', IMPORT_CHUNK_ROWS: '2' } });
  tenant = await createTenant(stack.database.db);
});
afterAll(async () => {
  await stack?.stop();
});

const FILE = csvOf(['vendor_data', 'display_name'], [['r-1', 'One'], ['r-2', 'Two'], ['r-3', 'Three']]);

/** What the API leaves when it dies between writing the import and starting its workflow. */
async function importWithoutWorkflow(applicationId = tenant.applicationId, operatorId = tenant.operators.ADMIN.id) {
  const id = randomUUID();
  const key = `imports/${applicationId}/${id}.csv`;
  await createStorage(stack.config).putStream(key, Readable.from([Buffer.from(FILE)]));
  await insertImport(stack.database.db, {
    id,
    applicationId,
    operatorId,
    fileName: 'orphan.csv',
    fileSha256: 'x',
    fileBytes: FILE.length,
    storageKey: key,
    workflowId: importWorkflowId(id),
  });
  return id;
}

function reconcile(applicationId = tenant.applicationId) {
  return stack.client.workflow.execute('reconcileWorkflow', {
    taskQueue: stack.config.temporal.taskQueue,
    workflowId: `reconcile-test-${randomUUID()}`,
    args: [{ applicationId }],
  });
}

async function auditEntriesFor(id: string) {
  const result = await stack.database.db.execute<{ status: string; details: Record<string, unknown> }>(
    sql`SELECT status, details FROM audit_log WHERE target_id = ${id}`,
  );
  return result.rows;
}

it('starts the workflow of an import the API never started, which then validates and completes', async () => {
  const token = tenant.operators.ADMIN.token;
  const id = await importWithoutWorkflow();
  const result = await reconcile();
  expect(result.restarted).toContain(id);
  await waitForStatus(stack, token, id, ['AWAITING_CONFIRMATION']);
  expect((await api(stack, 'POST', `/console/users/imports/${id}/confirm`, { token })).status).toBe(202);
  const done = await waitForStatus(stack, token, id, ['COMPLETED']);
  expect(done).toMatchObject({ created_count: 3, finished_at: expect.any(String) });
  expect(await auditEntriesFor(id)).toHaveLength(1);
  // Run again: nothing left to do for it.
  const again = await reconcile();
  expect([...again.restarted, ...again.ended, ...again.confirmResent]).not.toContain(id);
});

it('finishes an import cancelled while no workflow ran: finished_at and its audit entry', async () => {
  const token = tenant.operators.ADMIN.token;
  const id = await importWithoutWorkflow();
  const cancelled = await api(stack, 'POST', `/console/users/imports/${id}/cancel`, { token });
  expect(cancelled.status).toBe(202);
  expect(cancelled.body).toMatchObject({ status: 'CANCELLED', finished_at: null });
  await reconcile();
  const done = await waitFor(async () => {
    const body = await getImport(stack, token, id);
    return body.finished_at ? body : undefined;
  });
  expect(done.status).toBe('CANCELLED');
  const entries = await auditEntriesFor(id);
  expect(entries).toHaveLength(1);
  expect(entries[0]).toMatchObject({ status: 'FAILURE', details: expect.objectContaining({ import_status: 'CANCELLED' }) });
});

async function uploadAndAwait(fileName: string) {
  const token = tenant.operators.ADMIN.token;
  const prefix = fileName.replace(/\.csv$/, '');
  const file = csvOf(['vendor_data', 'display_name'], [[`${prefix}-1`, 'One'], [`${prefix}-2`, 'Two'], [`${prefix}-3`, 'Three']]);
  const res = await upload(stack, token, file, fileName);
  expect(res.status).toBe(202);
  return waitForStatus(stack, token, res.body.id, ['AWAITING_CONFIRMATION']);
}

it('ends an import whose workflow was terminated from Temporal as FAILED, with its audit entry', async () => {
  const token = tenant.operators.ADMIN.token;
  const preview = await uploadAndAwait('terminated.csv');
  await stack.client.workflow.getHandle(importWorkflowId(preview.id)).terminate('an operator pressed terminate in the Web UI');
  const result = await reconcile();
  expect(result.ended).toContain(preview.id);
  const body = await getImport(stack, token, preview.id);
  expect(body).toMatchObject({ status: 'FAILED', error: { code: 'workflow_ended' }, finished_at: expect.any(String) });
  expect(body.error.message).toMatch(/terminated/);
  const entries = await auditEntriesFor(preview.id);
  expect(entries).toHaveLength(1);
  expect(entries[0].status).toBe('FAILURE');
});

it('marks an import whose workflow is cancelled from Temporal CANCELLED, finished, with its audit entry', async () => {
  const token = tenant.operators.ADMIN.token;
  const preview = await uploadAndAwait('cancelled-in-temporal.csv');
  await stack.client.workflow.getHandle(importWorkflowId(preview.id)).cancel();
  const done = await waitFor(async () => {
    const body = await getImport(stack, token, preview.id);
    return body.status === 'CANCELLED' && body.finished_at ? body : undefined;
  });
  expect(done.created_count).toBe(0);
  await waitFor(async () => ((await auditEntriesFor(preview.id)).length === 1 ? true : undefined));
});

it('sends a confirm again when the first signal was lost, and the import completes', async () => {
  const token = tenant.operators.ADMIN.token;
  const preview = await uploadAndAwait('lost-confirm.csv');
  // The API recorded the confirm, but the signal never reached the workflow.
  await markConfirmed(stack.database.db, await getImportRecord(stack.database.db, { id: preview.id }));
  expect((await getImport(stack, token, preview.id)).status).toBe('RUNNING');
  const result = await reconcile();
  expect(result.confirmResent).toContain(preview.id);
  const done = await waitForStatus(stack, token, preview.id, ['COMPLETED']);
  expect(done.created_count).toBe(3);
});

it('removes temporary files of interrupted uploads, and only old ones', async () => {
  const dir = path.join(stack.config.storage.localDir, 'imports', tenant.applicationId);
  fs.mkdirSync(dir, { recursive: true });
  const stale = path.join(dir, `${randomUUID()}.csv.1234.1700000000000.abc123.tmp`);
  fs.writeFileSync(stale, 'vendor_data\n' + 'x\n'.repeat(1000));
  const old = new Date(Date.now() - 3600_000);
  fs.utimesSync(stale, old, old);
  const kept = path.join(dir, 'users.csv');
  fs.writeFileSync(kept, FILE);
  fs.utimesSync(kept, old, old);
  const result = await reconcile();
  expect(result.uploadsRemoved).toBeGreaterThanOrEqual(1);
  expect(fs.existsSync(stale)).toBe(false);
  expect(fs.existsSync(kept)).toBe(true);
});

it('is run by a Temporal Schedule every RECONCILE_INTERVAL', async () => {
  const scheduleId = await ensureReconcileSchedule(stack.client, stack.config);
  expect(scheduleId).toBe(reconcileScheduleId(stack.config.temporal.taskQueue));
  const handle = stack.client.schedule.getHandle(scheduleId);
  const described = await handle.describe();
  expect(described.action).toMatchObject({ type: 'startWorkflow', workflowType: 'reconcileWorkflow' });
  expect(described.spec.intervals?.[0].every).toBe(60_000);
  await handle.delete();
});

describe('undo', () => {
  type Row = Record<string, unknown>;
  const usersOf = async (applicationId: string) => {
    const result = await stack.database.db.execute<{ vendor_data: string; row: Row }>(
      sql`SELECT vendor_data, to_jsonb(u) AS row FROM users u WHERE application_id = ${applicationId} ORDER BY vendor_data_key`,
    );
    return new Map(result.rows.map((r) => [r.vendor_data, r.row]));
  };

  it('starts again an undo whose workflow was terminated from Temporal mid-way; it ends UNDONE with the exact result', async () => {
    const t = await createTenant(stack.database.db);
    const token = t.operators.ADMIN.token;
    await seedUsers(
      stack.database.db,
      t.applicationId,
      Array.from({ length: 10 }, (_, i) => ({
        vendorData: `un-u-${i}`,
        displayName: `old ${i}`,
        tags: ['a'],
        metadata: { k: i },
        updatedAt: new Date(Date.UTC(2024, 0, 2)),
        createdAt: new Date(Date.UTC(2024, 0, 1, 0, 0, i)),
      })),
    );
    const before = await usersOf(t.applicationId);
    const rows = Array.from({ length: 10 }, (_, i) => [`un-u-${i}`, `new ${i}`]).concat(Array.from({ length: 10 }, (_, i) => [`un-n-${i}`, `created ${i}`]));
    const uploaded = await upload(stack, token, csvOf(['vendor_data', 'display_name'], rows), 'undo-reconcile.csv');
    expect(uploaded.status).toBe(202);
    const id = uploaded.body.id as string;
    await waitForStatus(stack, token, id, ['AWAITING_CONFIRMATION']);
    expect((await api(stack, 'POST', `/console/users/imports/${id}/confirm`, { token })).status).toBe(202);
    expect(await waitForStatus(stack, token, id, ['COMPLETED'])).toMatchObject({ created_count: 10, updated_count: 10 });
    expect((await usersOf(t.applicationId)).size).toBe(20);

    // The undo's chunk activities wait on the locks of the chunks' undo rows, held here, while its workflow is terminated.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const lockHeld = new Promise<void>((resolve) => (locked = resolve));
    const holder = stack.database.db.transaction(async (tx) => {
      await tx.execute(sql`SELECT 1 FROM import_undo_chunks WHERE import_id = ${id} FOR UPDATE`);
      locked();
      await released;
    });
    await lockHeld;
    const undo = await api(stack, 'POST', `/console/users/imports/${id}/undo`, { token });
    expect(undo.status).toBe(202);
    await waitFor(async () => {
      const waiting = await stack.database.db.execute<{ n: number }>(sql`
        SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%FROM import_undo_chunks%FOR UPDATE%'`);
      return waiting.rows[0].n > 0 ? true : undefined;
    });
    await stack.client.workflow.getHandle(undoImportWorkflowId(id)).terminate('an operator pressed terminate in the Web UI');
    release();
    await holder;
    expect((await getImport(stack, token, id)).status).toBe('UNDOING');
    // Mid-way: the terminated run started at most IMPORT_CHUNK_CONCURRENCY of the chunks; the rest are not undone.
    const left = await stack.database.db.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM import_undo_chunks WHERE import_id = ${id} AND undone_at IS NULL`);
    expect(left.rows[0].n).toBeGreaterThan(0);

    const result = await reconcile(t.applicationId);
    expect(result.undoRestarted).toEqual([id]);
    const undone = await waitForStatus(stack, token, id, ['UNDONE'], 60_000);
    expect(undone.undo).toEqual({ status: 'COMPLETED', restored: 10, deleted: 10, conflicts: 0, finished_at: expect.any(String) });
    // Every updated user exactly as before the import (whole rows, updated_at included), every created one gone.
    expect(await usersOf(t.applicationId)).toEqual(before);
    const entries = await stack.database.db.execute<{ action: string; status: string; details: Record<string, unknown> }>(
      sql`SELECT action, status, details FROM audit_log WHERE target_id = ${id} AND action = 'users.import.undo'`,
    );
    expect(entries.rows).toEqual([
      { action: 'users.import.undo', status: 'SUCCESS', details: expect.objectContaining({ restored: 10, deleted: 10, conflicts: 0 }) },
    ]);
    // Run again: an UNDONE import is left alone.
    expect((await reconcile(t.applicationId)).undoRestarted).toEqual([]);
  });

  it('starts an undo whose workflow never started (UNDOING in the database, no workflow)', async () => {
    const t = await createTenant(stack.database.db);
    const token = t.operators.ADMIN.token;
    const uploaded = await upload(stack, token, csvOf(['vendor_data'], [['un2-1'], ['un2-2'], ['un2-3']]), 'undo-never-started.csv');
    const id = uploaded.body.id as string;
    await waitForStatus(stack, token, id, ['AWAITING_CONFIRMATION']);
    expect((await api(stack, 'POST', `/console/users/imports/${id}/confirm`, { token })).status).toBe(202);
    await waitForStatus(stack, token, id, ['COMPLETED']);
    // What the API leaves when it dies between marking the import UNDOING and starting the undo workflow.
    await markUndoing(stack.database.db, { id, operatorId: t.operators.ADMIN.id, undoDays: 7 });
    const result = await reconcile(t.applicationId);
    expect(result.undoRestarted).toEqual([id]);
    const undone = await waitForStatus(stack, token, id, ['UNDONE'], 60_000);
    expect(undone.undo).toMatchObject({ status: 'COMPLETED', restored: 0, deleted: 3, conflicts: 0 });
    expect((await usersOf(t.applicationId)).size).toBe(0);
  });
});

describe('exports', () => {
  it('starts the workflow of an export the API never started, and ends one terminated from Temporal as FAILED', async () => {
    const token = tenant.operators.ADMIN.token;
    await seedUsers(stack.database.db, tenant.applicationId, [{ vendorData: 'exp-1' }, { vendorData: 'exp-2' }]);
    // Never started: the row as the API writes it before it starts the workflow.
    const orphan = await insertExport(stack.database.db, {
      applicationId: tenant.applicationId,
      operatorId: tenant.operators.ADMIN.id,
      filters: {},
      columns: ['vendor_data'],
    });
    // Terminated: a real export, stopped from Temporal while it waits to run (no worker takes its tasks meanwhile).
    await stack.stopWorker();
    const started = await api(stack, 'POST', '/console/users/exports', { token, body: { columns: ['vendor_data'] } });
    expect(started.status).toBe(202);
    await stack.client.workflow.getHandle(`users-export-${started.body.id}`).terminate('stopped from the Web UI');
    await stack.startWorker();

    const result = await reconcile();
    expect(result.exports.restarted).toEqual([orphan.id]);
    expect(result.exports.ended).toEqual([started.body.id]);

    const done = await waitFor(async () => {
      const res = await api(stack, 'GET', `/console/users/exports/${orphan.id}`, { token });
      return res.body.status === 'COMPLETED' ? res.body : undefined;
    });
    expect(done.row_count).toBeGreaterThanOrEqual(2);
    const ended = await api(stack, 'GET', `/console/users/exports/${started.body.id}`, { token });
    expect(ended.body).toMatchObject({ status: 'FAILED', error: { code: 'workflow_ended' }, finished_at: expect.any(String) });
    expect(await auditEntriesFor(orphan.id)).toHaveLength(1);
    const endedAudit = await auditEntriesFor(started.body.id);
    expect(endedAudit).toHaveLength(1);
    expect(endedAudit[0].status).toBe('FAILURE');
  });
});
