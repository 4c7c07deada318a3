import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { OutputTail, stopChild } from '../../dev/process-control';
import { seedManyUsers } from '../helpers/exports';
import { bigImportFile, chunkState, expectExportExact, expectImportExact, getJob, waitForJob, waitUntil } from '../helpers/faults';
import { api, createTenant, startTestStack, testEnv, type TestStack } from '../helpers/stack';
import { uploadAndValidate } from '../fixtures/imports/support';

/**
 * Two workers share the task queue: the test's own (in this process) and a second one in a child process. The child
 * is SIGKILLed while it runs one of a job's activities; the other worker takes the job over (the killed attempt times
 * out on its heartbeat and is retried there) and the job ends COMPLETED with exact users, counts, file and one audit
 * entry. (The crash tests test/imports-crash.test.ts and test/exports-crash.test.ts kill the only worker.)
 */

jest.setTimeout(150_000);

const ROOT = path.resolve(__dirname, '../..');
// temporal.api.enums.v1 values (@temporalio/proto is not a direct dependency).
const TASK_QUEUE_TYPE_ACTIVITY = 2;
const PENDING_ACTIVITY_STATE_STARTED = 2;
const CHUNK_ROWS = 1000;
const IMPORT_ROWS = 20_000;
const EXPORT_ROWS = 50_000;

let stack: TestStack;
const children: ChildProcess[] = [];

/** What the API, the in-process worker and the child worker share. */
const sharedEnv = {
  IMPORT_CHUNK_ROWS: String(CHUNK_ROWS),
  IMPORT_CHUNK_CONCURRENCY: '4',
  EXPORT_PART_ROWS: '10000',
  EXPORT_CONCURRENCY: '2',
  EXPORT_CHECKPOINT_BYTES: String(64 * 1024),
  EXPORT_HEARTBEAT_TIMEOUT: '5s',
  TEST_EXPORT_CHUNK_DELAY_MS: '20',
  LINK_SIGNING_SECRET: 'two-workers-secret',
};

beforeAll(async () => {
  stack = await startTestStack({ env: sharedEnv });
});
afterAll(async () => {
  for (const child of children) await stopChild(child, { signal: 'SIGTERM', timeoutMs: 10_000 });
  await stack?.stop();
});

/** Starts the second worker and waits until Temporal sees it polling the activity queue; returns it and its identity. */
async function startChildWorker(): Promise<{ child: ChildProcess; identity: string; output: OutputTail }> {
  const env = testEnv();
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', path.join(__dirname, '../helpers/worker-child.ts')], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'test',
      LOG_LEVEL: 'error',
      DATABASE_URL: env.databaseUrl,
      TEMPORAL_ADDRESS: env.temporalAddress,
      TEMPORAL_TASK_QUEUE: stack.config.temporal.taskQueue,
      WORKFLOW_BUNDLE_PATH: env.workflowBundlePath,
      DATA_DIR: stack.config.dataDir,
      ...sharedEnv,
    },
  });
  children.push(child);
  const output = new OutputTail();
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk));
  const identity = `${child.pid}@`;
  await waitUntil(`the child worker polling (output: ${output.toString()})`, async () => {
    if (child.exitCode !== null) throw new Error(`the child worker exited: ${output.toString()}`);
    const res = await stack.client.workflowService.describeTaskQueue({
      namespace: stack.config.temporal.namespace,
      taskQueue: { name: stack.config.temporal.taskQueue },
      taskQueueType: TASK_QUEUE_TYPE_ACTIVITY,
    });
    return res.pollers.some((p) => p.identity?.startsWith(identity)) ? true : undefined;
  }, 60_000, 100);
  return { child, identity, output };
}

/** Whether a workflow has an activity running (started) on the worker whose identity starts with `identity`. */
async function runsOn(workflowId: string, identity: string): Promise<boolean> {
  const description = await stack.client.workflow.getHandle(workflowId).describe().catch(() => undefined);
  return (description?.raw.pendingActivities ?? []).some(
    (a) =>
      a.state === PENDING_ACTIVITY_STATE_STARTED &&
      (a.lastWorkerIdentity ?? '').startsWith(identity),
  );
}

async function sigkill(child: ChildProcess): Promise<void> {
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(child.pid!, 'SIGKILL');
  await exited;
}

it('import: the second worker SIGKILLed mid-chunk, the first finishes: exact users and counts, one audit entry', async () => {
  const second = await startChildWorker();
  // The job starts on the second worker alone, so that it surely holds a chunk when it is killed; the first joins
  // before the kill.
  await stack.stopWorker();
  const tenant = await createTenant(stack.database.db);
  const token = tenant.operators.OWNER.token;
  const { csv, records } = bigImportFile('two', IMPORT_ROWS, CHUNK_ROWS, 500);

  const preview = await uploadAndValidate(stack, token, csv, 'two-workers.csv');
  expect(preview).toMatchObject({ status: 'AWAITING_CONFIRMATION', to_create: IMPORT_ROWS });
  expect((await api(stack, 'POST', `/console/users/imports/${preview.id}/confirm`, { token })).status).toBe(202);

  // The chunks run in the child workflow `users-import-<id>-chunks-1-<n>`: kill once one of them runs on the second worker.
  const chunksWorkflow = `users-import-${preview.id}-chunks-1-${IMPORT_ROWS / CHUNK_ROWS}`;
  await waitUntil('a chunk running on the second worker', async () => {
    const chunks = await chunkState(stack.database.db, preview.id);
    if (chunks.completed >= IMPORT_ROWS / CHUNK_ROWS - 4) throw new Error('the import got too far before the kill');
    return chunks.completed > 0 && (await runsOn(chunksWorkflow, second.identity)) ? true : undefined;
  }, 60_000, 50);
  await stack.startWorker();
  await sigkill(second.child);
  expect((await getJob(stack, token, 'imports', preview.id)).status).toBe('RUNNING');

  const done = await waitForJob(stack, token, 'imports', preview.id, ['COMPLETED']);
  await expectImportExact(stack.database.db, done, {
    applicationId: tenant.applicationId,
    records,
    rows: IMPORT_ROWS,
    chunks: IMPORT_ROWS / CHUNK_ROWS,
    existing: 0,
    usersBefore: 0,
  });
  // The chunk the kill interrupted was tried again (by the surviving worker).
  expect((await chunkState(stack.database.db, preview.id)).retried).toBeGreaterThan(0);
});

it('export: the second worker SIGKILLed mid-range, the first finishes: the file holds every row once, one audit entry', async () => {
  const second = await startChildWorker();
  await stack.stopWorker(); // as above: the second worker alone until the kill
  const tenant = await createTenant(stack.database.db);
  const token = tenant.operators.OWNER.token;
  await seedManyUsers(stack.database.db, tenant.applicationId, EXPORT_ROWS, 'twoexp');

  const started = await api(stack, 'POST', '/console/users/exports', { token, body: {} });
  expect(started.status).toBe(202);
  const id: string = started.body.id;
  await waitUntil('a range running on the second worker', async () => {
    const body = await getJob(stack, token, 'exports', id);
    if (body.status !== 'QUEUED' && body.status !== 'RUNNING') throw new Error(`the export ended ${body.status} before the kill`);
    return body.progress > 0 && body.progress < 0.6 && (await runsOn(`users-export-${id}`, second.identity)) ? true : undefined;
  }, 60_000, 50);
  await stack.startWorker();
  await sigkill(second.child);
  expect((await getJob(stack, token, 'exports', id)).status).toBe('RUNNING');

  const done = await waitForJob(stack, token, 'exports', id, ['COMPLETED']);
  await expectExportExact(stack.database.db, done, { applicationId: tenant.applicationId, rows: EXPORT_ROWS });
});
