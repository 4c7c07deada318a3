import { seedManyUsers } from '../helpers/exports';
import { expectExportExact, expectImportExact, getJob, importUntilMidWrite, waitForJob, waitUntil } from '../helpers/faults';
import { startPrivateTemporal, type PrivateTemporal } from '../helpers/private-temporal';
import { api, createTenant, startTestStack, type TestStack } from '../helpers/stack';

/**
 * SIGKILL of the Temporal server (a private dev server persisted in a SQLite file) in the middle of an import's chunk
 * writes and of an export's range writes, then a restart on the same port and file. The worker and the API's client
 * reconnect by themselves; the API keeps answering from Postgres meanwhile; each job ends COMPLETED with exactly the
 * right users, counts, file and one audit entry.
 */

jest.setTimeout(150_000);

const CHUNK_ROWS = 1000;
const IMPORT_ROWS = 20_000;
const EXISTING = 5_000;
const EXPORT_ROWS = 50_000;

let temporal: PrivateTemporal;
let stack: TestStack;

beforeAll(async () => {
  temporal = await startPrivateTemporal();
  stack = await startTestStack({
    temporalAddress: temporal.address,
    env: {
      IMPORT_CHUNK_ROWS: String(CHUNK_ROWS),
      IMPORT_CHUNK_CONCURRENCY: '4',
      EXPORT_PART_ROWS: '10000',
      EXPORT_CONCURRENCY: '2',
      EXPORT_CHECKPOINT_BYTES: String(64 * 1024),
      EXPORT_HEARTBEAT_TIMEOUT: '5s',
      TEST_EXPORT_CHUNK_DELAY_MS: '20',
    },
  });
});
afterAll(async () => {
  await stack?.stop();
  await temporal?.destroy();
});

it('import: SIGKILL of Temporal mid-write, restart: COMPLETED, exact users and counts, one audit entry', async () => {
  const tenant = await createTenant(stack.database.db);
  const token = tenant.operators.OWNER.token;
  const { preview, records, existing } = await importUntilMidWrite(stack, token, {
    applicationId: tenant.applicationId,
    prefix: 'tkill',
    rows: IMPORT_ROWS,
    chunkRows: CHUNK_ROWS,
    existing: EXISTING,
    delayMs: 400,
  });
  await temporal.kill();
  // The API reads Postgres: polling goes on while Temporal is down.
  expect((await getJob(stack, token, 'imports', preview.id)).status).toBe('RUNNING');
  await temporal.restart();

  const done = await waitForJob(stack, token, 'imports', preview.id, ['COMPLETED']);
  await expectImportExact(stack.database.db, done, {
    applicationId: tenant.applicationId,
    records,
    rows: IMPORT_ROWS,
    chunks: IMPORT_ROWS / CHUNK_ROWS,
    existing: existing,
    usersBefore: EXISTING,
  });
});

it('export: SIGKILL of Temporal mid-export, restart: COMPLETED, the file holds every row once, one audit entry', async () => {
  const tenant = await createTenant(stack.database.db);
  const token = tenant.operators.OWNER.token;
  await seedManyUsers(stack.database.db, tenant.applicationId, EXPORT_ROWS, 'texp');

  const started = await api(stack, 'POST', '/console/users/exports', { token, body: {} });
  expect(started.status).toBe(202);
  const id: string = started.body.id;
  await waitUntil('the export RUNNING with progress', async () => {
    const body = await getJob(stack, token, 'exports', id);
    if (body.status === 'COMPLETED') throw new Error('the export finished before Temporal could be killed');
    return body.status === 'RUNNING' && body.progress > 0 && body.progress < 0.6 ? body : undefined;
  });
  await temporal.kill();
  expect((await getJob(stack, token, 'exports', id)).status).toBe('RUNNING');
  await temporal.restart();

  const done = await waitForJob(stack, token, 'exports', id, ['COMPLETED']);
  await expectExportExact(stack.database.db, done, { applicationId: tenant.applicationId, rows: EXPORT_ROWS });
});
