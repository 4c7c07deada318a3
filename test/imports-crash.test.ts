import type { ChildProcess } from 'node:child_process';
import { sql } from 'drizzle-orm';
import { stopChild } from '../dev/process-control';
import { api, createTenant, startTestStack, waitFor, type TestStack } from './helpers/stack';
import { startWorkerProcess } from './helpers/worker-process';
import { csvOf, getImport, uploadAndValidate, waitForStatus } from './fixtures/imports/support';

/**
 * The worker process is killed with SIGKILL in the middle of the chunk writes and another one is started: the import
 * completes with exactly the right users and counts, nothing written twice.
 */

const ROWS = 300;
const CHUNK_ROWS = 10;

let stack: TestStack;
const workers: ChildProcess[] = [];

/**
 * The worker factory production uses, with the test faults, for both workers, not src/worker.ts: the killed one must
 * hold a chunk's transaction open (the delay-300 rows), and the one after it counts the attempts
 * (import_chunks.attempts, counted by the fault interceptor) that the end of the test reads.
 */
function startWorker(): ChildProcess {
  const { child } = startWorkerProcess({
    entry: 'faults',
    env: {
      TEMPORAL_TASK_QUEUE: stack.config.temporal.taskQueue,
      DATA_DIR: stack.config.dataDir,
      IMPORT_CHUNK_ROWS: String(CHUNK_ROWS),
      IMPORT_CHUNK_CONCURRENCY: '3',
    },
  });
  workers.push(child);
  return child;
}

const kill = (child: ChildProcess, signal: NodeJS.Signals) => stopChild(child, { signal, group: true });

beforeAll(async () => {
  stack = await startTestStack({ worker: false, env: { IMPORT_CHUNK_ROWS: String(CHUNK_ROWS) } });
});
afterAll(async () => {
  for (const child of workers) await kill(child, 'SIGKILL');
  await stack?.stop();
});

it('survives SIGKILL of the worker mid-write: exact users and counts, no duplicates', async () => {
  const t = await createTenant(stack.database.db);
  const token = t.operators.OWNER.token;
  // Existing users: half of the file updates them, the other half creates; every chunk holds its transaction 300 ms.
  for (let i = 0; i < ROWS; i += 2) {
    await stack.database.db.execute(sql`
      INSERT INTO users (application_id, vendor_data, vendor_data_key, display_name)
      VALUES (${t.applicationId}, ${`k-${i}`}, ${`k-${i}`}, 'before')`);
  }
  const rows = Array.from({ length: ROWS }, (_, i) =>
    i % CHUNK_ROWS === 0 ? [`test-fault:delay-300-${i}`, 'marker'] : [`k-${i}`, `after ${i}`],
  );
  const existing = rows.filter(([key]) => key.startsWith('k-') && Number(key.slice(2)) % 2 === 0).length;

  let worker = startWorker();
  const preview = await uploadAndValidate(stack, token, csvOf(['vendor_data', 'display_name'], rows));
  expect(preview).toMatchObject({ status: 'AWAITING_CONFIRMATION', to_update: existing, to_create: ROWS - existing });
  await api(stack, 'POST', `/console/users/imports/${preview.id}/confirm`, { token });

  // Kill while a chunk is inside its transaction: attempted (attempts >= 1) and not yet committed (PENDING).
  const before = await waitFor(async () => {
    const body = await getImport(stack, token, preview.id);
    if (body.processed_rows < 40) return undefined;
    const inFlight = await stack.database.db.execute(
      sql`SELECT 1 FROM import_chunks WHERE import_id = ${preview.id} AND status = 'PENDING' AND attempts >= 1`,
    );
    return inFlight.rows.length > 0 ? body : undefined;
  }, 60_000, 20);
  expect(before.processed_rows).toBeLessThan(ROWS);
  await kill(worker, 'SIGKILL');
  const atKill = await getImport(stack, token, preview.id);
  expect(atKill.status).toBe('RUNNING');
  expect(atKill.processed_rows).toBeLessThan(ROWS);

  worker = startWorker();
  const done = await waitForStatus(stack, token, preview.id, ['COMPLETED'], 120_000);
  expect(done).toMatchObject({
    processed_rows: ROWS,
    created_count: ROWS - existing,
    updated_count: existing,
    unchanged_count: 0,
    failed_rows: 0,
    chunks: { total: ROWS / CHUNK_ROWS, completed: ROWS / CHUNK_ROWS, failed: 0 },
  });
  const users = await stack.database.db.execute<{ vendor_data: string; display_name: string; n: number }>(sql`
    SELECT vendor_data, display_name, count(*) OVER (PARTITION BY vendor_data_key)::int AS n
    FROM users WHERE application_id = ${t.applicationId}`);
  // The users inserted before, plus the rows the file creates (its markers included).
  expect(users.rows).toHaveLength(ROWS / 2 + (ROWS - existing));
  expect(users.rows.every((u) => u.n === 1)).toBe(true);
  const byKey = new Map(users.rows.map((u) => [u.vendor_data, u.display_name]));
  for (const [key, name] of rows) expect(byKey.get(key)).toBe(name);
  const chunkRows = await stack.database.db.execute<{ attempts: number }>(
    sql`SELECT attempts FROM import_chunks WHERE import_id = ${preview.id}`,
  );
  // At least one chunk was attempted again after the kill.
  expect(chunkRows.rows.some((c) => c.attempts > 1)).toBe(true);
  await kill(worker, 'SIGTERM');
}, 180_000);
