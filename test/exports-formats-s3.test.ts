import { gunzipSync } from 'node:zlib';
import { eq } from 'drizzle-orm';
import { exportParts, exportsTable } from '../drizzle/schema';
import { ALL_COLUMNS, expectedCsv, runExport, seedManyUsers, seedUsers, usersInOrder } from './helpers/exports';
import { BOM, checkStored, expectedJson, fetchFile, parseNdjson, SPECIAL } from './helpers/export-formats';
import { startS3Server, type S3TestServer } from './helpers/s3-server';
import { createTenant, startTestStack, type TestStack } from './helpers/stack';

/** Export formats on S3 (versitygw): NDJSON and gzip over several ranges of one multipart upload, gzip with the BOM. */

jest.setTimeout(180_000);

describe('S3', () => {
  let s3: S3TestServer;
  let stack: TestStack;

  beforeAll(async () => {
    s3 = await startS3Server();
    const created = await s3.bucket();
    stack = await startTestStack({ env: { ...created.env, EXPORT_PART_ROWS: '15000', EXPORT_CHECKPOINT_BYTES: String(5 * 1024 * 1024) } });
  });
  afterAll(async () => {
    await stack?.stop();
    await s3?.close();
  });

  test('ndjson + gzip of 40000 users in several ranges; csv + gzip + BOM: decoded, equal to the database', async () => {
    const tenant = await createTenant(stack.database.db);
    await seedUsers(stack.database.db, tenant.applicationId, SPECIAL);
    await seedManyUsers(stack.database.db, tenant.applicationId, 40_000, 's3fmt');
    const users = await usersInOrder(stack.database.db, tenant.applicationId);
    const token = tenant.operators.COMPLIANCE_OFFICER.token;

    const done = await runExport(stack, token, { format: 'ndjson', gzip: true }, 150_000);
    expect(done).toMatchObject({ status: 'COMPLETED', format: 'ndjson', gzip: true, row_count: users.length });
    const [row] = await stack.database.db.select().from(exportsTable).where(eq(exportsTable.id, done.id));
    expect(row.storageKind).toBe('s3');
    expect(row.storageKey!.endsWith('.ndjson.gz')).toBe(true);
    const parts = await stack.database.db.select().from(exportParts).where(eq(exportParts.exportId, done.id));
    expect(parts.length).toBeGreaterThan(1);
    const file = await fetchFile(done.download_url);
    expect(file.status).toBe(200);
    checkStored(done, file.bytes);
    expect(parseNdjson(gunzipSync(file.bytes).toString('utf8'))).toEqual(users.map((u) => expectedJson(ALL_COLUMNS, u)));

    const csv = await runExport(stack, token, { gzip: true, excel_bom: true }, 150_000);
    expect(csv).toMatchObject({ status: 'COMPLETED', format: 'csv', gzip: true, excel_bom: true, row_count: users.length });
    const csvFile = await fetchFile(csv.download_url);
    checkStored(csv, csvFile.bytes);
    const plain = gunzipSync(csvFile.bytes);
    expect(plain.subarray(0, 3).equals(BOM)).toBe(true);
    expect(plain.subarray(3).toString('utf8')).toBe(expectedCsv(ALL_COLUMNS, users));
  });
});
