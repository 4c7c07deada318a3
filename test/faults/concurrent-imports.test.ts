import { sql } from 'drizzle-orm';
import { Client } from 'pg';
import { writeChunk } from '../../src/imports/chunks';
import { seedManyUsers } from '../helpers/exports';
import { createTenant, startTestStack, testEnv, waitFor, type TestStack, type TestTenant } from '../helpers/stack';
import { csvOf, importFile, uploadAndValidate } from '../fixtures/imports/support';

/**
 * Imports that update the same users at once: their chunks must take the users' row locks in one order, so they
 * cannot deadlock, and a transient failure must be retried rather than fail a chunk.
 */

jest.setTimeout(180_000);

let stack: TestStack;
let tenant: TestTenant;

beforeAll(async () => {
  stack = await startTestStack({ env: { IMPORT_CHUNK_ROWS: '5000', IMPORT_CHUNK_CONCURRENCY: '4' } });
  tenant = await createTenant(stack.database.db);
  await seedManyUsers(stack.database.db, tenant.applicationId, 20000, 'shared');
});
afterAll(async () => {
  await stack?.stop();
});

/** A deterministic shuffle, so that each file orders (and chunks) the same users differently. */
function shuffled<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let state = seed;
  for (let i = out.length - 1; i > 0; i--) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    const j = state % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

async function deadlocks(): Promise<number> {
  const result = await stack.database.db.execute<{ n: string }>(sql`SELECT deadlocks AS n FROM pg_stat_database WHERE datname = current_database()`);
  return Number(result.rows[0].n);
}

it('runs four imports over the same 20,000 users at once without a deadlock or a failed chunk', async () => {
  const token = tenant.operators.ADMIN.token;
  const keys = Array.from({ length: 20000 }, (_, i) => `shared-${i + 1}`);
  const before = await deadlocks();
  const results = await Promise.all(
    [1, 2, 3, 4].map((n) =>
      importFile(stack, token, csvOf(['vendor_data', 'display_name', 'tags', 'status'], shuffled(keys, n).map((k) => [k, `Import ${n} ${k}`, `run-${n}`, (Number(k.slice(7)) + n) % 2 === 0 ? '' : 'ACTIVE'])), `concurrent-${n}.csv`),
    ),
  );
  for (const result of results) {
    expect(result).toMatchObject({ status: 'COMPLETED', failed_rows: 0, chunks: { total: 4, completed: 4, failed: 0 } });
    expect(result.created_count).toBe(0);
    expect(result.updated_count + result.unchanged_count).toBe(20000);
  }
  // No chunk needed a second attempt, and Postgres saw no deadlock.
  const attempts = await stack.database.db.execute<{ chunks: number; retried: number }>(sql`
    SELECT count(*)::int AS chunks, count(*) FILTER (WHERE attempts > 1)::int AS retried FROM import_chunks c
    JOIN imports i ON i.id = c.import_id WHERE i.application_id = ${tenant.applicationId}`);
  expect(attempts.rows[0]).toEqual({ chunks: 16, retried: 0 });
  expect((await deadlocks()) - before).toBe(0);
  // Every user holds the values of one of the four files, whole (display name and tag from the same import).
  const mixed = await stack.database.db.execute<{ n: number }>(sql`
    SELECT count(*)::int AS n FROM users WHERE application_id = ${tenant.applicationId}
      AND NOT (display_name = 'Import ' || substr(tags[1], 5) || ' ' || vendor_data)`);
  expect(mixed.rows[0].n).toBe(0);
});

it('runs a chunk again when Postgres picks it as the victim of a deadlock, within the same attempt', async () => {
  const token = tenant.operators.ADMIN.token;
  const preview = await uploadAndValidate(stack, token, csvOf(['vendor_data', 'display_name'], [['dl-a', 'A2'], ['dl-b', 'B2']]), 'deadlock.csv');
  expect(preview).toMatchObject({ status: 'AWAITING_CONFIRMATION', to_create: 2 });
  await stack.database.db.execute(sql`
    INSERT INTO users (application_id, vendor_data, vendor_data_key, display_name)
    VALUES (${tenant.applicationId}, 'dl-a', 'dl-a', 'A1'), (${tenant.applicationId}, 'dl-b', 'dl-b', 'B1')`);
  // Written here, not by the workflow: the import is marked running without a confirm.
  await stack.database.db.execute(sql`UPDATE imports SET status = 'RUNNING' WHERE id = ${preview.id}`);

  const other = new Client({ connectionString: testEnv().databaseUrl });
  await other.connect();
  try {
    await other.query('BEGIN');
    await other.query(`SELECT 1 FROM users WHERE application_id = $1 AND vendor_data_key = 'dl-b' FOR UPDATE`, [tenant.applicationId]);
    // The chunk locks dl-a, then waits for dl-b ...
    const writing = writeChunk(stack.database.db, preview.id, 0);
    await waitForLockWait();
    // ... while this transaction now wants dl-a: a cycle. The chunk waited first, so its deadlock check runs first
    // and Postgres aborts the chunk's transaction; the chunk runs again, waits, and goes through after the commit.
    await other.query(`SELECT 1 FROM users WHERE application_id = $1 AND vendor_data_key = 'dl-a' FOR UPDATE`, [tenant.applicationId]);
    await other.query(`UPDATE users SET display_name = 'B-other' WHERE application_id = $1 AND vendor_data_key = 'dl-b'`, [tenant.applicationId]);
    await other.query('COMMIT');
    const result = await writing;
    expect(result).toMatchObject({ outcome: 'written', created: 0, updated: 2 });
  } finally {
    await other.end();
  }
  const users = await stack.database.db.execute<{ vendor_data: string; display_name: string }>(sql`
    SELECT vendor_data, display_name FROM users WHERE application_id = ${tenant.applicationId} AND vendor_data LIKE 'dl-%'
    ORDER BY vendor_data`);
  expect(users.rows).toEqual([
    { vendor_data: 'dl-a', display_name: 'A2' },
    { vendor_data: 'dl-b', display_name: 'B2' },
  ]);
});

/** Until a backend of this database waits for a row lock (the chunk, blocked by the other transaction). */
async function waitForLockWait(): Promise<void> {
  await waitFor(async () => {
    const result = await stack.database.db.execute<{ n: number }>(sql`
      SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND wait_event_type = 'Lock' AND application_name = 'kyc-test'`);
    return result.rows[0].n > 0 ? true : undefined;
  }, 10_000, 20);
}
