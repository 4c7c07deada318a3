import { MockActivityEnvironment } from '@temporalio/testing';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { sql } from 'drizzle-orm';
import { createImportActivities } from '../activities/imports';
import type { ActivityDeps } from '../activities/deps';
import { insertImport, getImport } from '../src/imports/queries';
import { createStorage } from '../src/storage';
import { importWorkflowId } from '../workflows/import-definitions';
import { createTenant, startTestStack, type TestStack } from './helpers/stack';
import { csvOf } from './fixtures/imports/support';

/** The import activities on their own (MockActivityEnvironment), against the real Postgres. */

let stack: TestStack;
let activities: ReturnType<typeof createImportActivities>;

beforeAll(async () => {
  stack = await startTestStack({ worker: false, env: { IMPORT_CHUNK_ROWS: '4' } });
  const deps: Omit<ActivityDeps, 'temporal'> = {
    db: stack.database.db,
    config: stack.config,
    storage: createStorage(stack.config),
    mailer: {} as ActivityDeps['mailer'],
  };
  activities = createImportActivities(deps);
});
afterAll(async () => {
  await stack?.stop();
});

async function stagedImport(content: string) {
  const t = await createTenant(stack.database.db);
  const id = randomUUID();
  const storage = createStorage(stack.config);
  const key = `imports/${t.applicationId}/${id}.csv`;
  await storage.putStream(key, Readable.from([Buffer.from(content)]));
  await insertImport(stack.database.db, {
    id,
    applicationId: t.applicationId,
    operatorId: t.operators.OWNER.id,
    fileName: 'users.csv',
    fileSha256: 'x',
    fileBytes: content.length,
    storageKey: key,
    workflowId: importWorkflowId(id),
  });
  const verdict = await run(activities.validateImport, { importId: id });
  return { t, id, verdict };
}

/** Runs an activity in a fresh MockActivityEnvironment, keeping its result type. */
function run<A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> {
  return new MockActivityEnvironment().run(fn, ...args) as Promise<R>;
}

async function userCount(applicationId: string) {
  const result = await stack.database.db.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM users WHERE application_id = ${applicationId}`);
  return result.rows[0].n;
}

const file = csvOf(['vendor_data', 'display_name'], Array.from({ length: 10 }, (_, i) => [`a-${i}`, `n ${i}`]));

it('validateImport stages once; a retry finds the verdict and stages nothing twice', async () => {
  const { id, verdict } = await stagedImport(file);
  expect(verdict).toMatchObject({ status: 'AWAITING_CONFIRMATION', totalRows: 10, validRows: 10, chunksTotal: 3 });
  const again = await run(activities.validateImport, { importId: id });
  expect(again).toEqual(verdict);
  const rows = await stack.database.db.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM import_rows WHERE import_id = ${id}`);
  expect(rows.rows[0].n).toBe(10);
});

it('writeImportChunk is idempotent: a repeated or concurrent execution writes nothing twice', async () => {
  const { t, id } = await stagedImport(file);
  await stack.database.db.execute(sql`UPDATE imports SET status = 'RUNNING' WHERE id = ${id}`);
  // Two executions of chunk 0 at once (a timed-out attempt still running while its retry starts).
  const [a, b] = await Promise.all([
    run(activities.writeImportChunk, { importId: id, chunkNo: 0 }),
    run(activities.writeImportChunk, { importId: id, chunkNo: 0 }),
  ]);
  expect([a.outcome, b.outcome].sort()).toEqual(['already_completed', 'written']);
  expect(a.created).toBe(4);
  expect(b.created).toBe(4);
  const repeat = await run(activities.writeImportChunk, { importId: id, chunkNo: 0 });
  expect(repeat).toMatchObject({ outcome: 'already_completed', created: 4, updated: 0, unchanged: 0 });
  expect(await userCount(t.applicationId)).toBe(4);
  const record = await getImport(stack.database.db, { id });
  expect(record).toMatchObject({ processedRows: 4, createdCount: 4, chunksCompleted: 1 });
});

it('writeImportChunk writes nothing once the import is cancelled', async () => {
  const { t, id } = await stagedImport(file);
  await stack.database.db.execute(sql`UPDATE imports SET status = 'CANCELLED' WHERE id = ${id}`);
  const result = await run(activities.writeImportChunk, { importId: id, chunkNo: 1 });
  expect(result.outcome).toBe('skipped_cancelled');
  expect(await userCount(t.applicationId)).toBe(0);
});

it('writeImportChunk writes only while the import is RUNNING (not before the confirm, not after it failed)', async () => {
  const { t, id } = await stagedImport(file);
  expect((await run(activities.writeImportChunk, { importId: id, chunkNo: 0 })).outcome).toBe('skipped_cancelled');
  await stack.database.db.execute(sql`UPDATE imports SET status = 'FAILED' WHERE id = ${id}`);
  expect((await run(activities.writeImportChunk, { importId: id, chunkNo: 1 })).outcome).toBe('skipped_cancelled');
  expect(await userCount(t.applicationId)).toBe(0);
});

it('finishImport turns chunks left unwritten into failed ones (retryable), never a silent COMPLETED', async () => {
  const { id } = await stagedImport(file);
  await stack.database.db.execute(sql`UPDATE imports SET status = 'RUNNING' WHERE id = ${id}`);
  await run(activities.writeImportChunk, { importId: id, chunkNo: 0 });
  const result = await run(activities.finishImport, { importId: id, runKey: `test:${id}` });
  expect(result).toMatchObject({ status: 'COMPLETED_WITH_ERRORS', failedRows: 6 });
  const again = await run(activities.finishImport, { importId: id, runKey: `test:${id}` });
  expect(again.status).toBe('COMPLETED_WITH_ERRORS');
  const audit = await stack.database.db.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM audit_log WHERE target_id = ${id}`);
  expect(audit.rows[0].n).toBe(1);
});
