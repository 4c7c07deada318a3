import { createHash } from 'node:crypto';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { eq } from 'drizzle-orm';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { exportParts, exportsTable } from '../drizzle/schema';
import type { PartDetails } from '../activities/exports';
import { S3Storage } from '../src/storage/s3';
import { ALL_COLUMNS, download, expectedCsv, seedManyUsers, seedUsers, usersInOrder, waitForExport } from './helpers/exports';
import { startS3Server, type S3TestServer } from './helpers/s3-server';
import { api, createTenant, startTestStack, waitFor, type TestStack } from './helpers/stack';

/**
 * Exports to S3 end to end, against versitygw on loopback (it checks SigV4): multipart upload, presigned links
 * downloaded with plain HTTP and compared with the database, altered and expired links, and the S3 server
 * stopped and started again in the middle of an upload.
 */

jest.setTimeout(180_000);

let s3: S3TestServer;

beforeAll(async () => {
  s3 = await startS3Server();
});

afterAll(async () => {
  await s3?.close();
});

describe('an export to S3', () => {
  let stack: TestStack;
  let bucket: string;
  beforeAll(async () => {
    const created = await s3.bucket();
    bucket = created.bucket;
    stack = await startTestStack({
      env: { ...created.env, EXPORT_PART_ROWS: '20000', EXPORT_CHECKPOINT_BYTES: String(5 * 1024 * 1024), EXPORT_LINK_TTL_SECONDS: '6' },
    });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  test('of 50000 users in several ranges: the presigned link gives the exact file; altered or expired links fail', async () => {
    const tenant = await createTenant(stack.database.db);
    await seedManyUsers(stack.database.db, tenant.applicationId, 50_000, 's3');
    const token = tenant.operators.COMPLIANCE_OFFICER.token;
    const started = await api(stack, 'POST', '/console/users/exports', { token, body: {} });
    expect(started.status).toBe(202);
    const done = await waitForExport(stack, token, started.body.id, undefined, 120_000);
    expect(done.status).toBe('COMPLETED');
    // The API serves the link and redirects each download to a short-lived presigned URL of the object.
    expect(done.download_url.startsWith(`${stack.baseUrl}/downloads/`)).toBe(true);
    const redirect = await fetch(done.download_url, { redirect: 'manual' });
    expect(redirect.status).toBe(302);
    const presigned = redirect.headers.get('location')!;
    expect(presigned.startsWith(`${s3.endpoint}/${bucket}/exports/${tenant.applicationId}/${done.id}/`)).toBe(true);
    expect(presigned).toContain('X-Amz-Signature=');

    const file = await download(done.download_url);
    expect(file.status).toBe(200);
    const users = await usersInOrder(stack.database.db, tenant.applicationId);
    expect(file.text).toBe(expectedCsv(ALL_COLUMNS, users));
    expect(done.row_count).toBe(50_000);
    expect(done.file_bytes).toBe(file.bytes.length);
    expect(done.file_sha256).toBe(createHash('sha256').update(file.bytes).digest('hex'));
    const parts = await stack.database.db.select().from(exportParts).where(eq(exportParts.exportId, done.id));
    expect(parts.length).toBeGreaterThan(1);

    // Only the file is left in the bucket: the parts were deleted once joined.
    const storage = new S3Storage(s3.settings(bucket));
    const listed = await storage.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `exports/${tenant.applicationId}/${done.id}/` }));
    expect(listed.Contents?.map((o) => o.Key)).toEqual([`exports/${tenant.applicationId}/${done.id}/users-export-${done.id}.csv`]);
    storage.close();

    const altered = [
      presigned.replace(/X-Amz-Signature=([0-9a-f])/, (_m: string, c: string) => `X-Amz-Signature=${c === 'a' ? 'b' : 'a'}`),
      presigned.replace(/X-Amz-Expires=\d+/, 'X-Amz-Expires=604800'),
      presigned.replace(`users-export-${done.id}.csv`, 'other.csv'),
    ];
    for (const url of altered) expect((await fetch(url)).status).toBe(403);

    await waitFor(async () => (Date.now() > new Date(done.link_expires_at).getTime() + 1000 ? true : undefined), 20_000, 200);
    const expired = await fetch(done.download_url);
    expect(expired.status).toBe(403);

    // A fresh link works again, for the requester only.
    const fresh = await api(stack, 'POST', `/console/users/exports/${done.id}/link`, { token });
    expect(fresh.status).toBe(200);
    expect(fresh.body.download_url).not.toBe(done.download_url);
    expect((await download(fresh.body.download_url)).text).toBe(file.text);
    const other = await api(stack, 'GET', `/console/users/exports/${done.id}`, { token: tenant.operators.OWNER.token });
    expect(other.body.download_url).toBeNull();
  });

  test('an empty result is a header-only object', async () => {
    const tenant = await createTenant(stack.database.db);
    await seedUsers(stack.database.db, tenant.applicationId, [{ vendorData: 'only-one', status: 'ACTIVE' }]);
    const token = tenant.operators.OWNER.token;
    const started = await api(stack, 'POST', '/console/users/exports', { token, body: { filters: { status: ['BLOCKED'] }, columns: ['id', 'status'] } });
    const done = await waitForExport(stack, token, started.body.id);
    expect(done).toMatchObject({ status: 'COMPLETED', row_count: 0 });
    expect((await download(done.download_url)).text).toBe('id,status\r\n');
  });
});

describe('the storage setting changes: each export keeps the store it was written to', () => {
  let local: TestStack;
  let onS3: TestStack;
  beforeAll(async () => {
    // Two services on one database and one data directory: one keeps files locally, the other is configured for S3.
    const dataDir = mkdtempSync(path.join(tmpdir(), 'kyc-switch-'));
    local = await startTestStack({ env: { DATA_DIR: dataDir } });
    onS3 = await startTestStack({ env: { ...(await s3.bucket()).env, DATA_DIR: dataDir } });
  });
  afterAll(async () => {
    await local?.stop();
    await onS3?.stop();
  });

  test('a local export keeps its local link once S3 is configured; an S3 export gets no link where S3 is not', async () => {
    const tenant = await createTenant(local.database.db);
    // Distinct creation times: the file is ordered by created_at, then by the (random) id.
    await seedUsers(local.database.db, tenant.applicationId, [
      { vendorData: 'switch-1', createdAt: new Date('2024-01-01T00:00:00Z') },
      { vendorData: 'switch-2', createdAt: new Date('2024-01-02T00:00:00Z') },
    ]);
    const token = tenant.operators.OWNER.token;
    const started = await api(local, 'POST', '/console/users/exports', { token, body: { columns: ['vendor_data'] } });
    const done = await waitForExport(local, token, started.body.id);
    expect(done.download_url.startsWith(`${local.baseUrl}/downloads/`)).toBe(true);
    const [row] = await local.database.db.select().from(exportsTable).where(eq(exportsTable.id, done.id));
    expect(row.storageKind).toBe('local');

    const seenFromS3 = await api(onS3, 'GET', `/console/users/exports/${done.id}`, { token });
    expect(seenFromS3.body.download_url.startsWith(`${onS3.baseUrl}/downloads/`)).toBe(true);
    const file = await download(seenFromS3.body.download_url);
    expect(file.status).toBe(200);
    expect(file.text).toBe('vendor_data\r\nswitch-1\r\nswitch-2\r\n');
    const relinked = await api(onS3, 'POST', `/console/users/exports/${done.id}/link`, { token });
    expect(relinked.status).toBe(200);
    expect(relinked.body.download_url.startsWith(`${onS3.baseUrl}/downloads/`)).toBe(true);

    const startedOnS3 = await api(onS3, 'POST', '/console/users/exports', { token, body: { columns: ['vendor_data'] } });
    const doneOnS3 = await waitForExport(onS3, token, startedOnS3.body.id);
    expect(doneOnS3.download_url.startsWith(`${onS3.baseUrl}/downloads/`)).toBe(true);
    const redirected = await fetch(doneOnS3.download_url, { redirect: 'manual' });
    expect(redirected.headers.get('location')!.startsWith(s3.endpoint)).toBe(true);
    const seenLocally = await api(local, 'GET', `/console/users/exports/${doneOnS3.id}`, { token });
    expect(seenLocally.body).toMatchObject({ status: 'COMPLETED', download_url: null });
    const refused = await api(local, 'POST', `/console/users/exports/${doneOnS3.id}/link`, { token });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('storage_unavailable');
  });
});

describe('the S3 server stopped and started in the middle of an upload', () => {
  let stack: TestStack;
  beforeAll(async () => {
    const created = await s3.bucket();
    stack = await startTestStack({
      env: {
        ...created.env,
        EXPORT_PART_ROWS: '30000',
        EXPORT_CHECKPOINT_BYTES: String(5 * 1024 * 1024),
        EXPORT_HEARTBEAT_TIMEOUT: '5s',
        TEST_EXPORT_CHUNK_DELAY_MS: '150',
      },
    });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  test('the export completes, and its file is exact', async () => {
    const tenant = await createTenant(stack.database.db);
    await seedManyUsers(stack.database.db, tenant.applicationId, 60_000, 'outage');
    const token = tenant.operators.OWNER.token;
    const started = await api(stack, 'POST', '/console/users/exports', { token, body: {} });
    expect(started.status).toBe(202);

    // Wait for a first part to be uploaded (a checkpoint), then take the server away for a while.
    await waitFor(async () => {
      const parts = await stack.database.db.select().from(exportParts).where(eq(exportParts.exportId, started.body.id));
      return parts.some((p) => p.rowCount > 0 && p.status === 'PENDING') ? true : undefined;
    }, 60_000, 50);
    await s3.stop();
    const during = await api(stack, 'GET', `/console/users/exports/${started.body.id}`, { token });
    expect(during.body.status).toBe('RUNNING');
    await new Promise((resolve) => setTimeout(resolve, 4000));
    await s3.start();

    const done = await waitForExport(stack, token, started.body.id, undefined, 150_000);
    expect(done.status).toBe('COMPLETED');
    const file = await download(done.download_url);
    expect(file.status).toBe(200);
    const users = await usersInOrder(stack.database.db, tenant.applicationId);
    expect(file.text).toBe(expectedCsv(ALL_COLUMNS, users));
    expect(done.file_sha256).toBe(createHash('sha256').update(file.bytes).digest('hex'));
    // The range that had uploaded a part went on from it (the multipart upload was resumed, not restarted).
    const parts = await stack.database.db.select().from(exportParts).where(eq(exportParts.exportId, done.id));
    const resumes = parts.flatMap((p) => (p.details as unknown as PartDetails).resumes ?? []);
    expect(resumes.length).toBeGreaterThan(0);
  });
});
