import type { ChildProcess } from 'node:child_process';
import { sql } from 'drizzle-orm';
import { stopChild } from '../dev/process-control';
import { api, createTenant, startTestStack, waitFor, type TestStack } from './helpers/stack';
import { startWorkerProcess } from './helpers/worker-process';
import { csvOf, getImport, uploadAndValidate, waitForStatus } from './fixtures/imports/support';

type Row = Record<string, unknown>;

/**
 * The worker process is killed with SIGKILL in the middle of an undo and another one is started: the undo completes
 * with exactly the same users as an undo never interrupted (every updated user's whole row as before the import, every
 * created user deleted), counted once.
 */

const ROWS = 200;
const CHUNK_ROWS = 10;

let stack: TestStack;
const workers: ChildProcess[] = [];

/** The worker factory production uses, with the test faults (test/helpers/worker-child.ts). */
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

async function usersOf(applicationId: string): Promise<Map<string, Row>> {
  const result = await stack.database.db.execute<{ vendor_data: string; row: Row }>(
    sql`SELECT vendor_data, to_jsonb(u) AS row FROM users u WHERE application_id = ${applicationId}`,
  );
  return new Map(result.rows.map((r) => [r.vendor_data, r.row]));
}

it('survives SIGKILL of the worker mid-undo: the same exact users, counted once', async () => {
  const t = await createTenant(stack.database.db);
  const token = t.operators.OWNER.token;
  for (let i = 0; i < ROWS; i += 2) {
    await stack.database.db.execute(sql`
      INSERT INTO users (application_id, vendor_data, vendor_data_key, display_name, tags, metadata, updated_at)
      VALUES (${t.applicationId}, ${`k-${i}`}, ${`k-${i}`}, 'before', ARRAY['t'], '{"m": 1}'::jsonb, now() - interval '1 day')`);
  }
  const before = await usersOf(t.applicationId);
  // Each chunk's undo holds its transaction 300 ms (the marker row, created by the import, is deleted by the undo).
  const rows = Array.from({ length: ROWS }, (_, i) =>
    i % CHUNK_ROWS === 1 ? [`test-fault:undo-delay-300-${i}`, 'marker'] : [`k-${i}`, `after ${i}`],
  );
  const existing = rows.filter(([key]) => key.startsWith('k-') && Number(key.slice(2)) % 2 === 0).length;

  let worker = startWorker();
  const preview = await uploadAndValidate(stack, token, csvOf(['vendor_data', 'display_name'], rows));
  await api(stack, 'POST', `/console/users/imports/${preview.id}/confirm`, { token });
  const done = await waitForStatus(stack, token, preview.id, ['COMPLETED'], 120_000);
  expect(done).toMatchObject({ created_count: ROWS - existing, updated_count: existing });

  const undo = await api(stack, 'POST', `/console/users/imports/${preview.id}/undo`, { token });
  expect(undo.status).toBe(202);
  // Kill once some chunks are undone and others not.
  await waitFor(async () => {
    const state = await stack.database.db.execute<{ done: number; total: number }>(sql`
      SELECT (count(*) FILTER (WHERE undone_at IS NOT NULL))::int AS done, count(*)::int AS total
      FROM import_undo_chunks WHERE import_id = ${preview.id}`);
    const { done: undone, total } = state.rows[0];
    return undone >= 4 && undone < total ? true : undefined;
  }, 60_000, 20);
  await kill(worker, 'SIGKILL');
  const atKill = await getImport(stack, token, preview.id);
  expect(atKill.status).toBe('UNDOING');
  expect(atKill.undo.restored + atKill.undo.deleted).toBeLessThan(ROWS);

  worker = startWorker();
  const undone = await waitForStatus(stack, token, preview.id, ['UNDONE'], 120_000);
  expect(undone.undo).toMatchObject({ status: 'COMPLETED', restored: existing, deleted: ROWS - existing, conflicts: 0 });
  const after = await usersOf(t.applicationId);
  expect(after).toEqual(before);
  await kill(worker, 'SIGTERM');
}, 240_000);
