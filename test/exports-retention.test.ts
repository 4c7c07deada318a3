import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { eq } from 'drizzle-orm';
import { exportsTable, imports, webhookDeliveries, webhookEvents, webhookSubscriptions } from '../drizzle/schema';
import { ensureRetentionSchedule } from '../src/temporal/schedules';
import { createStorage } from '../src/storage';
import type { retentionWorkflow } from '../workflows/retention';
import { download, runExport, seedUsers } from './helpers/exports';
import { api, createTenant, startTestStack, waitFor, type TestStack } from './helpers/stack';

/** Retention: export files deleted after EXPORT_RETENTION_DAYS (EXPIRED), import files after IMPORT_FILE_RETENTION_DAYS. */

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack({ env: { EXPORT_RETENTION_DAYS: '7', IMPORT_FILE_RETENTION_DAYS: '30' } });
});

afterAll(async () => {
  await stack?.stop();
});

const daysAgo = (days: number) => new Date(Date.now() - days * 86_400_000);

async function runRetention() {
  return stack.client.workflow.execute<typeof retentionWorkflow>('retentionWorkflow', {
    taskQueue: stack.config.temporal.taskQueue,
    workflowId: `retention-test-${randomUUID()}`,
    args: [{}],
  });
}

test('an export older than the retention period is deleted and EXPIRED; a recent one stays', async () => {
  const tenant = await createTenant(stack.database.db);
  await seedUsers(stack.database.db, tenant.applicationId, [{ vendorData: 'kept-user' }]);
  const token = tenant.operators.OWNER.token;
  const old = await runExport(stack, token, { columns: ['id'] });
  const recent = await runExport(stack, token, { columns: ['id'] });
  await stack.database.db.update(exportsTable).set({ finishedAt: daysAgo(8) }).where(eq(exportsTable.id, old.id));
  const [oldRow] = await stack.database.db.select().from(exportsTable).where(eq(exportsTable.id, old.id));
  const storage = createStorage(stack.config);
  expect(await storage.stat(oldRow.storageKey!)).toBeDefined();

  const result = await runRetention();
  expect(result.exportsExpired).toBeGreaterThanOrEqual(1);

  const expired = await api(stack, 'GET', `/console/users/exports/${old.id}`, { token });
  expect(expired.body).toMatchObject({ status: 'EXPIRED', download_url: null, link_expires_at: null, row_count: 1 });
  expect(await storage.stat(oldRow.storageKey!)).toBeUndefined();
  expect((await download(old.download_url)).status).toBe(404);
  const relink = await api(stack, 'POST', `/console/users/exports/${old.id}/link`, { token });
  expect(relink.status).toBe(409);

  const kept = await api(stack, 'GET', `/console/users/exports/${recent.id}`, { token });
  expect(kept.body.status).toBe('COMPLETED');
  expect((await download(kept.body.download_url)).status).toBe(200);

  // The audit entry of the old export is untouched (entries never change).
  const log = await api(stack, 'GET', '/console/audit-log', { token });
  expect(log.body.results.find((e: any) => e.target_id === old.id)).toMatchObject({ status: 'SUCCESS' });

  // Running it again changes nothing more.
  await runRetention();
  const again = await api(stack, 'GET', `/console/users/exports/${recent.id}`, { token });
  expect(again.body.status).toBe('COMPLETED');
});

test('uploaded import files are deleted after their retention period, and storage_key set to null', async () => {
  const tenant = await createTenant(stack.database.db);
  const storage = createStorage(stack.config);
  const make = async (name: string, createdAt: Date, status: 'COMPLETED' | 'RUNNING' | 'REJECTED') => {
    const key = `imports/${tenant.applicationId}/${randomUUID()}/${name}`;
    await storage.putStream(key, Readable.from([Buffer.from('vendor_data\r\nx\r\n')]));
    const [row] = await stack.database.db
      .insert(imports)
      .values({
        applicationId: tenant.applicationId,
        operatorId: tenant.operators.ADMIN.id,
        status,
        fileName: name,
        fileSha256: 'x',
        fileBytes: 16,
        storageKey: key,
        createdAt,
      })
      .returning();
    return { id: row.id, key };
  };
  const old = await make('old.csv', daysAgo(31), 'COMPLETED');
  const oldRejected = await make('rejected.csv', daysAgo(40), 'REJECTED');
  const oldButRunning = await make('running.csv', daysAgo(31), 'RUNNING');
  const recent = await make('recent.csv', daysAgo(29), 'COMPLETED');

  const result = await runRetention();
  expect(result.importFilesDeleted).toBeGreaterThanOrEqual(2);
  const keyOf = async (id: string) => (await stack.database.db.select().from(imports).where(eq(imports.id, id)))[0].storageKey;
  for (const gone of [old, oldRejected]) {
    expect(await keyOf(gone.id)).toBeNull();
    expect(await storage.stat(gone.key)).toBeUndefined();
  }
  for (const kept of [oldButRunning, recent]) {
    expect(await keyOf(kept.id)).toBe(kept.key);
    expect(await storage.stat(kept.key)).toBeDefined();
  }
});

test('the worker keeps a Temporal Schedule that runs retention', async () => {
  const scheduleId = await ensureRetentionSchedule(stack.client, stack.config);
  try {
    // A second call (another worker starting) updates it rather than failing.
    expect(await ensureRetentionSchedule(stack.client, stack.config)).toBe(scheduleId);
    const handle = stack.client.schedule.getHandle(scheduleId);
    const description = await handle.describe();
    expect(description.action).toMatchObject({ type: 'startWorkflow', workflowType: 'retentionWorkflow', taskQueue: stack.config.temporal.taskQueue });
    expect(description.spec.intervals?.[0].every).toBe(3_600_000);
    await handle.trigger();
    const run = await waitFor(async () => {
      const { info } = await handle.describe();
      return info.recentActions.length > 0 ? info.recentActions[0] : undefined;
    });
    const result = await stack.client.workflow.getHandle(run.action.workflow.workflowId).result();
    expect(result).toEqual({ exportsExpired: expect.any(Number), importFilesDeleted: expect.any(Number), undoImagesDeleted: expect.any(Number), webhookEventsDeleted: expect.any(Number) });
  } finally {
    await stack.client.schedule.getHandle(scheduleId).delete();
  }
});

test('webhook events and their delivery log are deleted after WEBHOOK_RETENTION_DAYS, once dispatched and past the delivery window', async () => {
  const tenant = await createTenant(stack.database.db);
  const db = stack.database.db;
  const [subscription] = await db
    .insert(webhookSubscriptions)
    .values({ applicationId: tenant.applicationId, url: 'https://hooks.example.com/kyc', events: ['import.completed'], secret: 'whsec_test' })
    .returning();
  const event = (days: number, dispatched: boolean) => ({
    id: randomUUID(),
    applicationId: tenant.applicationId,
    type: 'import.completed' as const,
    jobId: randomUUID(),
    payload: { days },
    createdAt: new Date(Date.now() - days * 86_400_000),
    dispatchedAt: dispatched ? new Date(Date.now() - days * 86_400_000) : null,
  });
  // Default WEBHOOK_RETENTION_DAYS: 30.
  const old = event(31, true);
  const recent = event(29, true);
  const neverDispatched = event(31, false);
  await db.insert(webhookEvents).values([old, recent, neverDispatched]);
  await db.insert(webhookDeliveries).values(
    [old, recent].flatMap((e) => [1, 2].map((attempt) => ({ subscriptionId: subscription.id, eventId: e.id, attempt, statusCode: 500, durationMs: 3 }))),
  );

  const result = await runRetention();
  expect(result.webhookEventsDeleted).toBeGreaterThanOrEqual(1);
  const kept = await db.select({ id: webhookEvents.id }).from(webhookEvents).where(eq(webhookEvents.applicationId, tenant.applicationId));
  expect(kept.map((r) => r.id).sort()).toEqual([recent.id, neverDispatched.id].sort());
  const deliveries = await db.select({ eventId: webhookDeliveries.eventId }).from(webhookDeliveries).where(eq(webhookDeliveries.subscriptionId, subscription.id));
  expect(deliveries.map((d) => d.eventId)).toEqual([recent.id, recent.id]);
});
