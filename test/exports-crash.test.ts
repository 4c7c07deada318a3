import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { and, eq, gt } from 'drizzle-orm';
import { exportParts } from '../drizzle/schema';
import type { PartDetails } from '../activities/exports';
import { OutputTail, stopChild } from '../dev/process-control';
import { reconcileScheduleId, retentionScheduleId } from '../workflows/definitions';
import { ALL_COLUMNS, download, expectedCsv, seedManyUsers, usersInOrder, waitForExport } from './helpers/exports';
import { api, createTenant, startTestStack, waitFor, type TestStack } from './helpers/stack';
import { startWorkerProcess } from './helpers/worker-process';

/**
 * A worker process killed with SIGKILL in the middle of an export, and the production worker (src/worker.ts) started:
 * the export completes and its file holds every row exactly once, in order (the ranges resume from their checkpoints).
 */

jest.setTimeout(180_000);

let stack: TestStack;
let dataDir: string;
const taskQueue = `crash-${randomUUID()}`;

/** The configuration the API and both worker processes share. */
const sharedEnv = () => ({
  TEMPORAL_TASK_QUEUE: taskQueue,
  LINK_SIGNING_SECRET: 'crash-test-secret',
  EXPORT_PART_ROWS: '2500',
  EXPORT_CONCURRENCY: '2',
  EXPORT_CHECKPOINT_BYTES: String(64 * 1024),
  EXPORT_HEARTBEAT_TIMEOUT: '3s',
  TEST_EXPORT_CHUNK_DELAY_MS: '150',
});

/**
 * `killed` is the worker SIGKILLed mid-export: test/helpers/worker-child.ts, the factory production uses with the test
 * faults, since only TEST_EXPORT_CHUNK_DELAY_MS (a fault) slows its ranges enough to be caught mid-write. `finisher`
 * takes the export over: the production entry src/worker.ts itself, which needs no fault (it only has to resume the
 * ranges from their checkpoints).
 */
function startWorker(kind: 'killed' | 'finisher'): { child: ChildProcess; output: OutputTail } {
  return startWorkerProcess({
    entry: kind === 'killed' ? 'faults' : 'production',
    env: {
      DATA_DIR: dataDir,
      // The production worker puts its retention and reconcile Schedules on this task queue at start: never due
      // during the test (each runs across the shared database), and deleted in afterAll.
      RETENTION_INTERVAL: '36500d',
      RECONCILE_INTERVAL: '36500d',
      ...sharedEnv(),
    },
  });
}

const workers: ChildProcess[] = [];

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'kyc-crash-'));
  stack = await startTestStack({ worker: false, env: { DATA_DIR: dataDir, ...sharedEnv() } });
});

afterAll(async () => {
  for (const child of workers) await stopChild(child, { signal: 'SIGTERM', timeoutMs: 10_000, group: true });
  for (const scheduleId of [retentionScheduleId(taskQueue), reconcileScheduleId(taskQueue)]) {
    await stack?.client.schedule.getHandle(scheduleId).delete().catch(() => undefined);
  }
  await stack?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test('SIGKILL of the worker mid-export: another worker finishes it, and the file is exact', async () => {
  const tenant = await createTenant(stack.database.db);
  await seedManyUsers(stack.database.db, tenant.applicationId, 10_000, 'crash');
  const token = tenant.operators.OWNER.token;

  const first = startWorker('killed');
  workers.push(first.child);
  const started = await api(stack, 'POST', '/console/users/exports', { token, body: {} });
  expect(started.status).toBe(202);
  const exportId: string = started.body.id;

  // Kill it once a range has checkpointed part of its rows (and is not finished).
  await waitFor(
    async () => {
      const rows = await stack.database.db
        .select()
        .from(exportParts)
        .where(and(eq(exportParts.exportId, exportId), eq(exportParts.status, 'PENDING'), gt(exportParts.rowCount, 0)));
      return rows.length > 0 ? true : undefined;
    },
    90_000,
    50,
  ).catch((err: unknown) => {
    throw new Error(`${String(err)}\nworker output:\n${first.output.toString()}`);
  });
  process.kill(-first.child.pid!, 'SIGKILL');
  await new Promise<void>((resolve) => first.child.once('exit', () => resolve()));
  const before = await api(stack, 'GET', `/console/users/exports/${exportId}`, { token });
  expect(before.body.status).toBe('RUNNING');

  const second = startWorker('finisher');
  workers.push(second.child);
  const done = await waitForExport(stack, token, exportId, undefined, 150_000).catch((err: unknown) => {
    throw new Error(`${String(err)}\nworker output:\n${second.output.toString()}`);
  });
  expect(done.status).toBe('COMPLETED');
  expect(done.row_count).toBe(10_000);

  const file = await download(done.download_url);
  expect(file.status).toBe(200);
  const users = await usersInOrder(stack.database.db, tenant.applicationId);
  expect(file.text).toBe(expectedCsv(ALL_COLUMNS, users));

  // At least one range went on from its checkpoint rather than from the start.
  const parts = await stack.database.db.select().from(exportParts).where(eq(exportParts.exportId, exportId));
  expect(parts.length).toBeGreaterThan(1);
  const resumes = parts.flatMap((p) => (p.details as unknown as PartDetails).resumes ?? []);
  expect(resumes.length).toBeGreaterThan(0);
  expect(resumes.every((r) => r.atRows > 0 && r.attempt > 1)).toBe(true);
});
