import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { defaultPayloadConverter } from '@temporalio/common';
import { sql } from 'drizzle-orm';
import { api, createTenant, startTestStack, testEnv, waitFor, type TestStack } from './helpers/stack';
import { importWorkflowId } from '../workflows/import-definitions';
import { allRows, csvOf, getImport, parseCsv, uploadAndValidate, waitForStatus } from './fixtures/imports/support';

const execFileAsync = promisify(execFile);
const ROOT = path.resolve(__dirname, '..');

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack({ env: { IMPORT_CHUNK_ROWS: '5', IMPORT_CHUNK_CONCURRENCY: '2' } });
});
afterAll(async () => {
  await stack?.stop();
});

async function userKeys(applicationId: string): Promise<string[]> {
  const result = await stack.database.db.execute<{ vendor_data: string }>(
    sql`SELECT vendor_data FROM users WHERE application_id = ${applicationId} ORDER BY vendor_data`,
  );
  return result.rows.map((r) => r.vendor_data);
}

async function auditOf(importId: string) {
  const result = await stack.database.db.execute<{ status: string; details: any }>(
    sql`SELECT status, details FROM audit_log WHERE target_id = ${importId} ORDER BY created_at`,
  );
  return result.rows;
}

/** `count` rows `<prefix>-<n>`; every `every`-th row is replaced by a test-fault marker row. */
function rowsWithMarkers(prefix: string, count: number, marker: (i: number) => string | undefined) {
  return csvOf(
    ['vendor_data', 'display_name'],
    Array.from({ length: count }, (_, i) => [marker(i) ?? `${prefix}-${String(i).padStart(4, '0')}`, `name ${i}`]),
  );
}

describe('cancel', () => {
  it('while awaiting confirmation: CANCELLED at once, nothing written, the workflow ends with an audit entry', async () => {
    const t = await createTenant(stack.database.db);
    const token = t.operators.OWNER.token;
    const preview = await uploadAndValidate(stack, token, 'vendor_data\nca-1\nca-2\n');
    expect(preview.status).toBe('AWAITING_CONFIRMATION');
    expect((await api(stack, 'POST', `/console/users/imports/${preview.id}/cancel`, { token: t.operators.READER.token })).status).toBe(403);
    const cancelled = await api(stack, 'POST', `/console/users/imports/${preview.id}/cancel`, { token });
    expect(cancelled.status).toBe(202);
    expect(cancelled.body).toMatchObject({ status: 'CANCELLED' });
    expect(cancelled.body.finished_at).not.toBeNull();
    await stack.client.workflow.getHandle(importWorkflowId(preview.id)).result();
    expect(await auditOf(preview.id)).toMatchObject([{ status: 'FAILURE', details: { import_status: 'CANCELLED' } }]);
    expect(await userKeys(t.applicationId)).toEqual([]);
    const confirm = await api(stack, 'POST', `/console/users/imports/${preview.id}/confirm`, { token });
    expect(confirm.status).toBe(409);
    expect(confirm.body.error.code).toBe('invalid_state');
    expect((await api(stack, 'POST', `/console/users/imports/${preview.id}/cancel`, { token })).status).toBe(409);
  });

  it('while running: no new chunk starts, rows already written stay, counts match the users', async () => {
    const t = await createTenant(stack.database.db);
    const token = t.operators.OWNER.token;
    // 60 rows in chunks of 5: each chunk holds its transaction 400 ms (a marker row per chunk).
    const file = rowsWithMarkers('cr', 60, (i) => (i % 5 === 0 ? `test-fault:delay-400-${i}` : undefined));
    const preview = await uploadAndValidate(stack, token, file);
    expect(preview).toMatchObject({ status: 'AWAITING_CONFIRMATION', chunks: { total: 12 } });
    await api(stack, 'POST', `/console/users/imports/${preview.id}/confirm`, { token });

    const seen = new Set<number>();
    await waitFor(async () => {
      const body = await getImport(stack, token, preview.id);
      seen.add(body.processed_rows);
      return body.processed_rows >= 15 ? body : undefined;
    }, 30_000, 50);
    const cancelled = await api(stack, 'POST', `/console/users/imports/${preview.id}/cancel`, { token });
    expect(cancelled.status).toBe(202);
    expect(cancelled.body.status).toBe('CANCELLED');
    await stack.client.workflow.getHandle(importWorkflowId(preview.id)).result();
    const done = await getImport(stack, token, preview.id);
    expect(done.status).toBe('CANCELLED');
    expect(done.finished_at).not.toBeNull();
    expect(done.processed_rows).toBeLessThan(60);
    expect(done.chunks.completed).toBeLessThan(12);
    expect(done.created_count).toBe(done.processed_rows);
    expect((await userKeys(t.applicationId)).length).toBe(done.processed_rows);
    // Progress moved in steps as chunks finished.
    expect([...seen].filter((n) => n > 0 && n < 60).length).toBeGreaterThanOrEqual(1);
    expect(done.progress).toBeGreaterThan(0);
    expect(done.progress).toBeLessThan(1);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect((await userKeys(t.applicationId)).length).toBe(done.processed_rows);
    expect(await auditOf(preview.id)).toMatchObject([{ status: 'FAILURE', details: { import_status: 'CANCELLED' } }]);
  }, 60_000);
});

describe('confirm', () => {
  it('a confirm that lands before the validation activity has returned still writes the import', async () => {
    const t = await createTenant(stack.database.db);
    const token = t.operators.OWNER.token;
    // The verdict is committed, then the activity waits 1.5 s before it returns: the confirm comes in between.
    const preview = await uploadAndValidate(stack, token, 'vendor_data\nrace-1\ntest-fault:validate-delay-1500\n');
    expect(preview.status).toBe('AWAITING_CONFIRMATION');
    const confirmed = await api(stack, 'POST', `/console/users/imports/${preview.id}/confirm`, { token });
    expect(confirmed.status).toBe(202);
    const done = await waitForStatus(stack, token, preview.id, ['COMPLETED'], 30_000);
    expect(done).toMatchObject({ created_count: 2, processed_rows: 2 });
  });
});

describe('a chunk that fails after its retries', () => {
  it('is recorded FAILED, the others are written; retry (API) writes only that chunk', async () => {
    const t = await createTenant(stack.database.db);
    const token = t.operators.OWNER.token;
    // Chunk 2 (rows 7-11) fails all 4 attempts of the first run and succeeds on the retry.
    const file = rowsWithMarkers('cf', 15, (i) => (i === 7 ? 'test-fault:fail-4' : undefined));
    const preview = await uploadAndValidate(stack, token, file);
    await api(stack, 'POST', `/console/users/imports/${preview.id}/confirm`, { token });
    const partial = await waitForStatus(stack, token, preview.id, ['COMPLETED_WITH_ERRORS'], 60_000);
    expect(partial).toMatchObject({
      processed_rows: 10,
      created_count: 10,
      failed_rows: 5,
      chunks: { total: 3, completed: 2, failed: 1 },
      progress: 1,
    });
    expect((await userKeys(t.applicationId)).length).toBe(10);

    const report = parseCsv((await api(stack, 'GET', `/console/users/imports/${preview.id}/errors.csv`, { token })).text);
    expect(report.slice(1).map((l) => [l[0], l[2], l[3]])).toEqual(
      [7, 8, 9, 10, 11].map((n) => [String(n), '', 'write_failed']),
    );
    expect(report[1][4]).toMatch(/chunk 2 failed to write: test fault/);
    // The rows' cells as the file had them (staged without their raw, rebuilt from their values: src/imports/raw-cells.ts).
    expect(report.slice(1).map((l) => l[5])).toEqual(
      [5, 6, 7, 8, 9].map((i) => (i === 7 ? 'test-fault:fail-4' : `cf-${String(i).padStart(4, '0')}`) + `,name ${i}`),
    );
    expect(await auditOf(preview.id)).toMatchObject([{ status: 'FAILURE', details: { import_status: 'COMPLETED_WITH_ERRORS', failed_rows: 5 } }]);

    const retried = await api(stack, 'POST', `/console/users/imports/${preview.id}/retry`, { token: t.operators.DEVELOPER.token });
    expect(retried.status).toBe(202);
    expect(retried.body).toMatchObject({ status: 'RUNNING', finished_at: null, chunks: { completed: 2, failed: 0 } });
    const done = await waitForStatus(stack, token, preview.id, ['COMPLETED'], 60_000);
    expect(done).toMatchObject({ processed_rows: 15, created_count: 15, failed_rows: 0, chunks: { total: 3, completed: 3, failed: 0 } });
    expect((await userKeys(t.applicationId)).length).toBe(15);
    expect(parseCsv((await api(stack, 'GET', `/console/users/imports/${preview.id}/errors.csv`, { token })).text)).toHaveLength(1);
    expect((await auditOf(preview.id)).map((a) => a.status)).toEqual(['FAILURE', 'SUCCESS']);
    const again = await api(stack, 'POST', `/console/users/imports/${preview.id}/retry`, { token });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('nothing_to_retry');
  }, 90_000);

  it('retry answers at once while the run that recorded the failure is still open; that run continues as the retry', async () => {
    const t = await createTenant(stack.database.db);
    const token = t.operators.OWNER.token;
    // Chunk 1 fails all its attempts; after the run has committed COMPLETED_WITH_ERRORS, its finish step holds the
    // run open for 8 s (test-fault:finish-delay), so the retry below reaches a run that has not closed.
    const file = rowsWithMarkers('ro', 8, (i) => (i === 0 ? 'test-fault:fail-4' : i === 7 ? 'test-fault:finish-delay-8000' : undefined));
    const preview = await uploadAndValidate(stack, token, file);
    await api(stack, 'POST', `/console/users/imports/${preview.id}/confirm`, { token });
    await waitForStatus(stack, token, preview.id, ['COMPLETED_WITH_ERRORS'], 60_000);
    const handle = stack.client.workflow.getHandle(importWorkflowId(preview.id));
    const firstRun = (await handle.describe()).runId;
    expect((await handle.describe()).status.name).toBe('RUNNING');

    const started = Date.now();
    const retried = await api(stack, 'POST', `/console/users/imports/${preview.id}/retry`, { token });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(retried.status).toBe(202);
    expect(retried.body.status).toBe('RUNNING');
    const done = await waitForStatus(stack, token, preview.id, ['COMPLETED'], 60_000);
    expect(done).toMatchObject({ created_count: 8, failed_rows: 0, chunks: { failed: 0 } });
    const first = await stack.client.workflow.getHandle(importWorkflowId(preview.id), firstRun).describe();
    expect(first.status.name).toBe('CONTINUED_AS_NEW');
    expect((await auditOf(preview.id)).map((a) => a.status)).toEqual(['FAILURE', 'SUCCESS']);
  }, 90_000);

  it('a transient failure is retried by the activity and the import completes', async () => {
    const t = await createTenant(stack.database.db);
    const token = t.operators.OWNER.token;
    const file = rowsWithMarkers('tf', 10, (i) => (i === 3 ? 'test-fault:fail-1' : undefined));
    const preview = await uploadAndValidate(stack, token, file);
    await api(stack, 'POST', `/console/users/imports/${preview.id}/confirm`, { token });
    const done = await waitForStatus(stack, token, preview.id, ['COMPLETED'], 30_000);
    expect(done).toMatchObject({ created_count: 10, chunks: { failed: 0 } });
  });

  it('`npm run cli -- imports retry <id>` retries through the same service and prints the import', async () => {
    const t = await createTenant(stack.database.db);
    const token = t.operators.OWNER.token;
    const file = rowsWithMarkers('cl', 10, (i) => (i === 0 ? 'test-fault:fail-4' : undefined));
    const preview = await uploadAndValidate(stack, token, file);
    await api(stack, 'POST', `/console/users/imports/${preview.id}/confirm`, { token });
    await waitForStatus(stack, token, preview.id, ['COMPLETED_WITH_ERRORS'], 60_000);
    const env = {
      ...process.env,
      DATABASE_URL: testEnv().databaseUrl,
      TEMPORAL_ADDRESS: testEnv().temporalAddress,
      TEMPORAL_TASK_QUEUE: stack.config.temporal.taskQueue,
      DATA_DIR: stack.config.dataDir,
      LOG_LEVEL: 'silent',
    };
    const { stdout } = await execFileAsync(path.join(ROOT, 'node_modules/.bin/tsx'), ['src/cli.ts', 'imports', 'retry', preview.id], {
      cwd: ROOT,
      env,
    });
    const printed = JSON.parse(stdout);
    expect(printed).toMatchObject({ id: preview.id, status: 'RUNNING', workflow_id: `users-import-${preview.id}` });
    const done = await waitForStatus(stack, token, preview.id, ['COMPLETED'], 60_000);
    expect(done.created_count).toBe(10);
    const failure = await execFileAsync(path.join(ROOT, 'node_modules/.bin/tsx'), ['src/cli.ts', 'imports', 'retry', preview.id], {
      cwd: ROOT,
      env,
    }).catch((err: { code: number; stderr: string }) => err);
    expect((failure as { code: number }).code).not.toBe(0);
    expect((failure as { stderr: string }).stderr).toMatch(/nothing_to_retry/);
  }, 90_000);
});

describe('what an operator sees in Temporal', () => {
  it("the README's Web UI query finds a running import", async () => {
    const readme = readFileSync(path.join(__dirname, '../README.md'), 'utf8');
    const query = /e\.g\. `(KycJobKind = [^`]+)`/.exec(readme)?.[1];
    expect(query).toBe('KycJobKind = "import" AND ExecutionStatus = "Running"');
    const t = await createTenant(stack.database.db);
    const token = t.operators.OWNER.token;
    // Waiting for its confirmation, the import's run is open.
    const preview = await uploadAndValidate(stack, token, rowsWithMarkers('q', 3, () => undefined), 'query.csv');
    const found = await waitFor(async () => {
      const ids: string[] = [];
      for await (const run of stack.client.workflow.list({ query: `${query} AND KycJobId = "${preview.id}"` })) ids.push(run.workflowId);
      return ids.length > 0 ? ids : undefined; // visibility lags the start by a moment
    });
    expect(found).toEqual([importWorkflowId(preview.id)]);
    await api(stack, 'POST', `/console/users/imports/${preview.id}/cancel`, { token });
  });

  it('summaries, search attributes, current details; each run\'s history stays small', async () => {
    const t = await createTenant(stack.database.db);
    const token = t.operators.OWNER.token;
    const preview = await uploadAndValidate(stack, token, rowsWithMarkers('vis', 23, () => undefined), 'visible.csv');
    await api(stack, 'POST', `/console/users/imports/${preview.id}/confirm`, { token });
    await waitForStatus(stack, token, preview.id, ['COMPLETED']);
    const handle = stack.client.workflow.getHandle(importWorkflowId(preview.id));
    await handle.result();
    const description = await handle.describe();
    expect(await description.staticSummary()).toMatch(new RegExp(`^import ${preview.id.slice(0, 8)}…: ~23 rows, file visible\\.csv`));
    const attributes = Object.fromEntries(description.typedSearchAttributes.getAll().map((pair) => [pair.key.name, pair.value]));
    expect(attributes).toMatchObject({ KycApplicationId: t.applicationId, KycJobId: preview.id, KycJobKind: 'import' });

    const parentHistory = await handle.fetchHistory();
    const parentEvents = parentHistory.events ?? [];
    const children = parentEvents.filter((e) => e.startChildWorkflowExecutionInitiatedEventAttributes);
    expect(children).toHaveLength(1);
    const childId = children[0].startChildWorkflowExecutionInitiatedEventAttributes!.workflowId!;
    const childHistory = await stack.client.workflow.getHandle(childId).fetchHistory();
    const scheduled = (childHistory.events ?? []).filter((e) => e.activityTaskScheduledEventAttributes);
    expect(scheduled).toHaveLength(5);
    const summaries = await Promise.all(
      scheduled.map((e) => defaultPayloadConverter.fromPayload(e.userMetadata!.summary!)),
    );
    expect(summaries).toContain('chunk 1 of 5, rows 2-6');
    expect(summaries).toContain('chunk 5 of 5, rows 22-24');
    // Events per chunk in a child, and per child in the parent: a million rows (1,000 chunks, 10 children of 100)
    // stay far below 10,240 events in every run.
    const perChunk = (childHistory.events ?? []).length / 5;
    expect(perChunk * 100 + 20).toBeLessThan(10_240);
    // The parent: about 25 per child, plus the live-progress read's patch marker and first timer (3), and about 6
    // per read after (first after 5 s, then at most one a minute: workflows/live-progress.ts).
    expect(parentEvents.length).toBeLessThan(50);
  });
});

describe('expiry', () => {
  let short: TestStack;
  beforeAll(async () => {
    short = await startTestStack({ env: { IMPORT_CONFIRM_TIMEOUT: '2s' } });
  });
  afterAll(async () => {
    await short?.stop();
  });

  it('an import not confirmed within IMPORT_CONFIRM_TIMEOUT is EXPIRED; nothing written, confirm is 409', async () => {
    const t = await createTenant(short.database.db);
    const token = t.operators.OWNER.token;
    const preview = await uploadAndValidate(short, token, 'vendor_data\nex-1\n');
    expect(preview.status).toBe('AWAITING_CONFIRMATION');
    const expired = await waitForStatus(short, token, preview.id, ['EXPIRED'], 20_000);
    expect(expired.finished_at).not.toBeNull();
    expect((await allRows(short, token, preview.id)).length).toBe(1);
    const confirm = await api(short, 'POST', `/console/users/imports/${preview.id}/confirm`, { token });
    expect(confirm.status).toBe(409);
    const count = await short.database.db.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM users WHERE application_id = ${t.applicationId}`);
    expect(count.rows[0].n).toBe(0);
  });
});
