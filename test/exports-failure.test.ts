import { and, eq } from 'drizzle-orm';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { auditLog, exportParts, exportsTable } from '../drizzle/schema';
import { ALL_COLUMNS, expectedCsv, download, usersInOrder } from './helpers/exports';
import { createStorage } from '../src/storage';
import { seedManyUsers, waitForExport } from './helpers/exports';
import { ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { S3Storage } from '../src/storage/s3';
import { startS3Server, type S3TestServer } from './helpers/s3-server';
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

test('a range that cannot run fails the export: FAILED with its error, a FAILURE audit entry; its written ranges kept for a retry', async () => {
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
  // The ranges written before the failure stay (retry goes on from them); retention deletes them in time.
  const storage = createStorage(stack.config);
  expect(await storage.stat(`exports/${tenant.applicationId}/${id}/parts/00000.csv`)).toEqual({ bytes: expect.any(Number) });
  const [row] = await stack.database.db.select().from(exportsTable).where(eq(exportsTable.id, id));
  expect(row.upload).not.toBeNull();
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

/** Every file left under an export's prefix in local storage. */
async function filesOf(applicationId: string, id: string): Promise<string[]> {
  const dir = path.join(stack.config.storage.localDir, 'exports', applicationId, id);
  return (await readdir(dir, { recursive: true }).catch(() => [] as string[])).map(String);
}

test('POST .../cancel: 202 while RUNNING, then CANCELLED with no file or part left; 409 once ended; who may cancel', async () => {
  const { tenant, token, id } = await startSlowExport();
  await waitFor(async () => ((await filesOf(tenant.applicationId, id)).length > 0 ? true : undefined));
  const reader = await api(stack, 'POST', `/console/users/exports/${id}/cancel`, { token: tenant.operators.READER.token });
  expect(reader.status).toBe(403);
  const stranger = await createTenant(stack.database.db);
  expect((await api(stack, 'POST', `/console/users/exports/${id}/cancel`, { token: stranger.operators.OWNER.token })).status).toBe(404);

  const cancelled = await api(stack, 'POST', `/console/users/exports/${id}/cancel`, { token: tenant.operators.ADMIN.token });
  expect(cancelled.status).toBe(202);
  expect(cancelled.body.id).toBe(id);
  const done = await waitForExport(stack, token, id);
  expect(done).toMatchObject({ status: 'CANCELLED', error: { code: 'cancelled' }, download_url: null });
  expect(await filesOf(tenant.applicationId, id)).toEqual([]);
  const [row] = await stack.database.db.select().from(exportsTable).where(eq(exportsTable.id, id));
  expect(row).toMatchObject({ status: 'CANCELLED', upload: null, storageKey: null });

  const again = await api(stack, 'POST', `/console/users/exports/${id}/cancel`, { token });
  expect(again.status).toBe(409);
  expect(again.body.error.code).toBe('invalid_state');
  const retried = await api(stack, 'POST', `/console/users/exports/${id}/retry`, { token });
  expect(retried.status).toBe(409);
  expect(retried.body.error.code).toBe('invalid_state');
});

test('POST .../retry of a FAILED export goes on from its ranges: the finished ones are not written again, the file is exact', async () => {
  const { tenant, token, id, parts } = await startSlowExport();
  const last = parts[parts.length - 1];
  await stack.database.db.delete(exportParts).where(and(eq(exportParts.exportId, id), eq(exportParts.partNo, last.partNo)));
  const failed = await waitForExport(stack, token, id);
  expect(failed.status).toBe('FAILED');
  const written = (await stack.database.db.select().from(exportParts).where(eq(exportParts.exportId, id))).filter((p) => p.status === 'COMPLETED');
  expect(written.length).toBeGreaterThan(0);
  // The range comes back (what went wrong is repaired); then the export is retried.
  await stack.database.db.insert(exportParts).values(last);

  const reader = await api(stack, 'POST', `/console/users/exports/${id}/retry`, { token: tenant.operators.READER.token });
  expect(reader.status).toBe(403);
  const retried = await api(stack, 'POST', `/console/users/exports/${id}/retry`, { token });
  expect(retried.status).toBe(202);
  expect(retried.body).toMatchObject({ id, error: null });
  expect(['QUEUED', 'RUNNING', 'COMPLETED']).toContain(retried.body.status);
  const done = await waitForExport(stack, token, id);
  expect(done).toMatchObject({ status: 'COMPLETED', row_count: 2000 });

  const users = await usersInOrder(stack.database.db, tenant.applicationId);
  const file = await download(done.download_url);
  expect(file.text).toBe(expectedCsv(ALL_COLUMNS, users));

  // The retry's run found the ranges written before the failure complete and returned them as they were.
  const history = await stack.client.workflow.getHandle(`users-export-${id}`).fetchHistory();
  const results = (history.events ?? [])
    .map((e) => e.activityTaskCompletedEventAttributes?.result?.payloads?.[0]?.data)
    .filter((d): d is Uint8Array => !!d)
    .map((d) => JSON.parse(Buffer.from(d).toString('utf8')) as { partNo?: number; rows?: number; resumedAtRows?: number })
    .filter((r) => r.partNo !== undefined && r.resumedAtRows !== undefined);
  for (const part of written) {
    const result = results.find((r) => r.partNo === part.partNo)!;
    expect(result).toMatchObject({ rows: part.rowCount, resumedAtRows: part.rowCount });
  }
  const entries = await stack.database.db.select().from(auditLog).where(and(eq(auditLog.targetId, id), eq(auditLog.action, 'users.export')));
  expect(entries.map((e) => e.status).sort()).toEqual(['FAILURE', 'SUCCESS']);
  const again = await api(stack, 'POST', `/console/users/exports/${id}/retry`, { token });
  expect(again.status).toBe(409);
});

describe('on S3', () => {
  let s3: S3TestServer;
  let s3Stack: TestStack;
  let bucket: string;
  beforeAll(async () => {
    s3 = await startS3Server();
    const created = await s3.bucket();
    bucket = created.bucket;
    s3Stack = await startTestStack({
      env: { ...created.env, EXPORT_PART_ROWS: '400', EXPORT_CONCURRENCY: '1', EXPORT_CHECKPOINT_BYTES: String(5 * 1024 * 1024), TEST_EXPORT_CHUNK_DELAY_MS: '100' },
    });
  });
  afterAll(async () => {
    await s3Stack?.stop();
    await s3?.close();
  });

  test('cancel mid-export leaves no object, no part and no incomplete multipart upload', async () => {
    const tenant = await createTenant(s3Stack.database.db);
    await seedManyUsers(s3Stack.database.db, tenant.applicationId, 2000, 's3cancel');
    const token = tenant.operators.OWNER.token;
    const started = await api(s3Stack, 'POST', '/console/users/exports', { token, body: {} });
    const id = started.body.id as string;
    const prefix = `exports/${tenant.applicationId}/${id}/`;
    const storage = new S3Storage(s3.settings(bucket));
    try {
      // Running, with its multipart upload open and a range written.
      await waitFor(async () => {
        const parts = await s3Stack.database.db.select().from(exportParts).where(eq(exportParts.exportId, id));
        return parts.some((p) => p.status === 'COMPLETED') ? true : undefined;
      }, 60_000, 50);
      const open = await storage.client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
      expect(open.Uploads?.length ?? 0).toBe(1);

      const cancelled = await api(s3Stack, 'POST', `/console/users/exports/${id}/cancel`, { token });
      expect(cancelled.status).toBe(202);
      const done = await waitForExport(s3Stack, token, id);
      expect(done.status).toBe('CANCELLED');
      const uploads = await storage.client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
      expect(uploads.Uploads ?? []).toEqual([]);
      const objects = await storage.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
      expect(objects.Contents ?? []).toEqual([]);
    } finally {
      storage.close();
    }
  });
});
