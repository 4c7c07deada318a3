import { sql } from 'drizzle-orm';
import { importWorkflowId } from '../workflows/import-definitions';
import { exportWorkflowId } from '../workflows/export-definitions';
import { seedManyUsers, waitForExport } from './helpers/exports';
import { api, createTenant, startTestStack, waitFor, type TestStack, type TestTenant } from './helpers/stack';
import { csvOf, getImport, uploadAndValidate, waitForStatus } from './fixtures/imports/support';

// rows_per_second / eta_seconds (API.md "Progress and metrics"): from the durable progress in the database, null
// until measurable and when not running; also in the workflows' current details (the Temporal Web UI).
let stack: TestStack;
let tenant: TestTenant;
let token: string;

beforeAll(async () => {
  stack = await startTestStack({
    env: {
      IMPORT_CHUNK_ROWS: '10',
      IMPORT_CHUNK_CONCURRENCY: '1',
      EXPORT_PART_ROWS: '600',
      EXPORT_CONCURRENCY: '1',
      EXPORT_CHECKPOINT_BYTES: String(16 * 1024),
      TEST_EXPORT_CHUNK_DELAY_MS: '100',
    },
  });
  tenant = await createTenant(stack.database.db);
  token = tenant.operators.OWNER.token;
});
afterAll(async () => {
  await stack?.stop();
});

async function currentDetails(workflowId: string): Promise<string> {
  const metadata = await stack.client.workflow.getHandle(workflowId).query<{ currentDetails?: string }>('__temporal_workflow_metadata');
  return metadata.currentDetails ?? '';
}

test('a slow running import has rows_per_second and eta_seconds; null before, while paused and after', async () => {
  // 8 chunks of 10 rows, each held 1.5 s by its delay marker, written one at a time (one batch: one child workflow).
  const rows = Array.from({ length: 80 }, (_, i) => [i % 10 === 0 ? `test-fault:delay-1500-${i}` : `rate-${i}`]);
  const preview = await uploadAndValidate(stack, token, csvOf(['vendor_data'], rows));
  expect(preview.status).toBe('AWAITING_CONFIRMATION');
  expect(preview).toMatchObject({ rows_per_second: null, eta_seconds: null });
  const confirmed = await api(stack, 'POST', `/console/users/imports/${preview.id}/confirm`, { token });
  expect(confirmed.status).toBe(202);
  // Nothing written yet: not measurable.
  expect(confirmed.body).toMatchObject({ status: 'RUNNING', processed_rows: 0, rows_per_second: null, eta_seconds: null });

  const measured = await waitFor(async () => {
    const body = await getImport(stack, token, preview.id);
    return body.status === 'RUNNING' && body.rows_per_second !== null ? body : undefined;
  }, 30_000, 50);
  expect(measured.processed_rows).toBeGreaterThan(0);
  expect(measured.processed_rows).toBeLessThan(80);
  expect(measured.rows_per_second).toBeGreaterThan(0);
  // At most 10 rows per 1.5 s chunk, one chunk at a time (and some slack for a fast first read).
  expect(measured.rows_per_second).toBeLessThan(100);
  expect(Number.isInteger(measured.eta_seconds)).toBe(true);
  expect(measured.eta_seconds).toBeGreaterThanOrEqual(0);
  // The same figures from the database alone: rows since rate_since over the time since.
  const db = await stack.database.db.execute<{ rps: number; remaining: number }>(sql`
    SELECT (processed_rows - rate_base_rows) / EXTRACT(EPOCH FROM now() - rate_since)::float8 AS rps,
      valid_rows - processed_rows - failed_rows AS remaining
    FROM imports WHERE id = ${preview.id}`);
  expect(db.rows[0].rps).toBeGreaterThan(0);
  expect(db.rows[0].rps).toBeLessThanOrEqual(measured.rows_per_second * 1.01 + 0.01);

  // The chunk workflow's current details (the Web UI) carry the rate too, as its activity read it from the database.
  const chunksWorkflow = `${importWorkflowId(preview.id)}-chunks-1-8`;
  const details = await waitFor(async () => {
    const text = await currentDetails(chunksWorkflow);
    return /rows\/s, about \d+ s left/.test(text) ? text : undefined;
  }, 30_000, 100);
  expect(details).toMatch(/chunks in this batch done; [\d.]+ rows\/s, about \d+ s left/);
  // So do the parent's, while its only batch still runs (its own events come only when the batch ends): the rows
  // written and the rate as its periodic read of the database gave them.
  const parentDetails = await waitFor(async () => {
    const text = await currentDetails(importWorkflowId(preview.id));
    return /rows written/.test(text) ? text : undefined;
  }, 30_000, 100);
  expect(parentDetails).toMatch(/^Writing: 0 of 8 chunks done, 0 failed; [1-7]0 of 80 rows written; window 1; [\d.]+ rows\/s, about \d+ s left$/);

  // Paused: not running, so no rate.
  const paused = await api(stack, 'POST', `/console/users/imports/${preview.id}/pause`, { token });
  expect(paused.status).toBe(202);
  const whilePaused = await waitForStatus(stack, token, preview.id, ['PAUSED']);
  expect(whilePaused).toMatchObject({ rows_per_second: null, eta_seconds: null });
  expect((await api(stack, 'POST', `/console/users/imports/${preview.id}/resume`, { token })).status).toBe(202);

  const done = await waitForStatus(stack, token, preview.id, ['COMPLETED'], 60_000);
  expect(done).toMatchObject({ processed_rows: 80, rows_per_second: null, eta_seconds: null });
}, 120_000);

test('a slow running export has rows_per_second and eta_seconds from its checkpoints; null when done', async () => {
  const exporter = await createTenant(stack.database.db);
  const token = exporter.operators.OWNER.token;
  await seedManyUsers(stack.database.db, exporter.applicationId, 3000, 'exp');
  const started = await api(stack, 'POST', '/console/users/exports', { token, body: {} });
  expect(started.status).toBe(202);
  const id = started.body.id as string;
  expect(started.body).toMatchObject({ rows_per_second: null, eta_seconds: null });

  const measured = await waitFor(async () => {
    const res = await api(stack, 'GET', `/console/users/exports/${id}`, { token });
    return res.body.status === 'RUNNING' && res.body.rows_per_second !== null ? res.body : undefined;
  }, 60_000, 50);
  expect(measured.rows_per_second).toBeGreaterThan(0);
  expect(Number.isInteger(measured.eta_seconds)).toBe(true);
  expect(measured.eta_seconds).toBeGreaterThanOrEqual(0);
  // Measured from the rows the parts hold at their checkpoints (durable), not from a worker's memory.
  const parts = await stack.database.db.execute<{ rows: number }>(sql`SELECT COALESCE(sum(row_count), 0)::int AS rows FROM export_parts WHERE export_id = ${id}`);
  expect(parts.rows[0].rows).toBeGreaterThan(0);

  const details = await waitFor(async () => {
    const text = await currentDetails(exportWorkflowId(id));
    return /rows\/s/.test(text) ? text : undefined;
  }, 60_000, 100);
  // From the range activities' results, or (between two range ends) from the workflow's periodic read of the database,
  // which adds the plan's estimate: exact while the users table is small, sampled once other suites have filled it.
  expect(details).toMatch(/ranges written, \d+ rows(?: of about \d+)?; [\d.]+ rows\/s/);

  const done = await waitForExport(stack, token, id, ['COMPLETED'], 90_000);
  expect(done).toMatchObject({ row_count: 3000, rows_per_second: null, eta_seconds: null });
  // Between two range ends the workflow read the progress itself (readExportProgress, a local activity: one marker
  // each). Its details then said `… rows of about 3000`, but only until the next range ended, too short a time to
  // catch reliably by polling: the history says it happened.
  const history = await stack.client.workflow.getHandle(exportWorkflowId(id)).fetchHistory();
  const reads = (history.events ?? []).filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity');
  expect(reads.length).toBeGreaterThanOrEqual(1);
}, 150_000);
