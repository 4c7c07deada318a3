import { seedManyUsers } from '../helpers/exports';
import { chunkState, expectExportExact, expectImportExact, getJob, importUntilMidWrite, recordingLogger, waitForJob, waitUntil } from '../helpers/faults';
import { startPrivatePostgres, type PrivatePostgres } from '../helpers/private-postgres';
import { api, createTenant, startTestStack, type TestStack } from '../helpers/stack';

/**
 * SIGKILL of Postgres (the postmaster of a private cluster, never the machine's shared one) in the middle of an
 * import's chunk writes and of an export's range writes, then a restart on the same cluster and port (crash
 * recovery). The API answers 503 while it is down; the worker's activities fail and are retried; each job ends
 * COMPLETED with exactly the right users, counts, file and one audit entry.
 */

jest.setTimeout(150_000);

const CHUNK_ROWS = 1000;
const IMPORT_ROWS = 30_000;
const EXISTING = 10_000;
const EXPORT_ROWS = 200_000;

let pg: PrivatePostgres;
let stack: TestStack;
const apiLog = recordingLogger();

beforeAll(async () => {
  pg = await startPrivatePostgres();
  stack = await startTestStack({
    databaseUrl: pg.url,
    logger: apiLog.logger,
    env: {
      IMPORT_CHUNK_ROWS: String(CHUNK_ROWS),
      IMPORT_CHUNK_CONCURRENCY: '4',
      EXPORT_PART_ROWS: '25000',
      EXPORT_CONCURRENCY: '2',
      EXPORT_CHECKPOINT_BYTES: String(256 * 1024),
      EXPORT_HEARTBEAT_TIMEOUT: '5s',
    },
  });
});
afterAll(async () => {
  await stack?.stop();
  await pg?.destroy();
});

/** Kills Postgres, checks that the API says 503 for the job, and starts Postgres again. */
async function killAndRestartPostgres(token: string, kind: 'imports' | 'exports', id: string): Promise<void> {
  await pg.kill();
  // 503 database_unavailable, never a 500 nor the job read from somewhere stale.
  expect(await getJob(stack, token, kind, id, apiLog.errors)).toBeUndefined();
  await pg.restart();
}

it('import: SIGKILL of Postgres mid-write, restart: COMPLETED, exact users and counts, one audit entry', async () => {
  const tenant = await createTenant(stack.database.db);
  const token = tenant.operators.OWNER.token;
  // A third of the file's keys exist already (updates); the rest are created.
  const { preview, records, existing } = await importUntilMidWrite(stack, token, {
    applicationId: tenant.applicationId,
    prefix: 'pgkill',
    rows: IMPORT_ROWS,
    chunkRows: CHUNK_ROWS,
    existing: EXISTING,
    delayMs: 300,
  });
  await killAndRestartPostgres(token, 'imports', preview.id);

  const done = await waitForJob(stack, token, 'imports', preview.id, ['COMPLETED'], 120_000, apiLog.errors);
  await expectImportExact(stack.database.db, done, {
    applicationId: tenant.applicationId,
    records,
    rows: IMPORT_ROWS,
    chunks: IMPORT_ROWS / CHUNK_ROWS,
    existing: existing,
    usersBefore: EXISTING,
  });
  // No chunk was given up on: the ones caught by the kill waited the outage out (within their attempt, or on the
  // activity's retry when the test faults' own queries met the dead server first) and were written once.
  expect(await chunkState(stack.database.db, preview.id)).toMatchObject({ completed: IMPORT_ROWS / CHUNK_ROWS, in_flight: 0 });
});

it('export: SIGKILL of Postgres mid-export, restart: COMPLETED, the file holds every row once, one audit entry', async () => {
  const tenant = await createTenant(stack.database.db);
  const token = tenant.operators.OWNER.token;
  await seedManyUsers(stack.database.db, tenant.applicationId, EXPORT_ROWS, 'pgexp');

  const started = await api(stack, 'POST', '/console/users/exports', { token, body: {} });
  expect(started.status).toBe(202);
  const id: string = started.body.id;
  await waitUntil('the export RUNNING with progress', async () => {
    const body = await getJob(stack, token, 'exports', id);
    if (body?.status === 'COMPLETED') throw new Error('the export finished before Postgres could be killed');
    return body?.status === 'RUNNING' && body.progress > 0 && body.progress < 0.7 ? body : undefined;
  });
  await killAndRestartPostgres(token, 'exports', id);

  const done = await waitForJob(stack, token, 'exports', id, ['COMPLETED'], 120_000, apiLog.errors);
  await expectExportExact(stack.database.db, done, { applicationId: tenant.applicationId, rows: EXPORT_ROWS });
});
