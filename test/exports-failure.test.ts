import { and, eq } from 'drizzle-orm';
import { auditLog, exportParts } from '../drizzle/schema';
import { createStorage } from '../src/storage';
import { seedManyUsers, waitForExport } from './helpers/exports';
import { api, createTenant, startTestStack, waitFor, type TestStack } from './helpers/stack';

/** Exports that do not complete: a failure and a cancellation are recorded (status, error, audit) and cleaned up. */

jest.setTimeout(120_000);

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack({
    env: {
      EXPORT_PART_ROWS: '400',
      EXPORT_CONCURRENCY: '1',
      EXPORT_CHECKPOINT_BYTES: String(16 * 1024),
      TEST_EXPORT_CHUNK_DELAY_MS: '100',
    },
  });
});

afterAll(async () => {
  await stack?.stop();
});

async function startSlowExport() {
  const tenant = await createTenant(stack.database.db);
  await seedManyUsers(stack.database.db, tenant.applicationId, 2000, 'slow');
  const token = tenant.operators.OWNER.token;
  const started = await api(stack, 'POST', '/console/users/exports', { token, body: { filters: { status: ['ACTIVE', 'FLAGGED', 'BLOCKED'] } } });
  expect(started.status).toBe(202);
  const parts = await waitFor(async () => {
    const rows = await stack.database.db.select().from(exportParts).where(eq(exportParts.exportId, started.body.id));
    return rows.length > 1 ? rows : undefined;
  });
  return { tenant, token, id: started.body.id as string, parts };
}

test('a range that cannot run fails the export: FAILED with its error, a FAILURE audit entry, no files left', async () => {
  const { tenant, token, id, parts } = await startSlowExport();
  // Take away the last range before it starts (ranges run one at a time here).
  const last = parts[parts.length - 1].partNo;
  await stack.database.db.delete(exportParts).where(and(eq(exportParts.exportId, id), eq(exportParts.partNo, last)));

  const done = await waitForExport(stack, token, id);
  expect(done).toMatchObject({ status: 'FAILED', download_url: null, email: null, error: { code: 'export_part_missing' } });
  expect(done.error.message).toContain(`part ${last}`);
  const entries = await stack.database.db.select().from(auditLog).where(eq(auditLog.targetId, id));
  expect(entries).toHaveLength(1);
  expect(entries[0]).toMatchObject({
    action: 'users.export',
    status: 'FAILURE',
    details: expect.objectContaining({ outcome: 'FAILED', row_count: null, error: expect.objectContaining({ code: 'export_part_missing' }) }),
  });
  const storage = createStorage(stack.config);
  expect(await storage.stat(`exports/${tenant.applicationId}/${id}/parts/00000.csv`)).toBeUndefined();
  const relink = await api(stack, 'POST', `/console/users/exports/${id}/link`, { token });
  expect(relink.status).toBe(409);
});

test('a cancelled export workflow ends CANCELLED with a FAILURE audit entry', async () => {
  const { token, id } = await startSlowExport();
  await stack.client.workflow.getHandle(`users-export-${id}`).cancel();
  const done = await waitForExport(stack, token, id);
  expect(done).toMatchObject({ status: 'CANCELLED', error: { code: 'cancelled' }, download_url: null });
  const entries = await stack.database.db.select().from(auditLog).where(eq(auditLog.targetId, id));
  expect(entries).toHaveLength(1);
  expect(entries[0]).toMatchObject({ status: 'FAILURE', details: expect.objectContaining({ outcome: 'CANCELLED' }) });
});
