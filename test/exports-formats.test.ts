import { gunzipSync } from 'node:zlib';
import { eq } from 'drizzle-orm';
import { exportParts, exportsTable } from '../drizzle/schema';
import { EXPORT_COLUMNS, type ExportColumn } from '../src/exports/columns';
import type { UserRow } from '../src/users/queries';
import { ALL_COLUMNS, expectedCsv, runExport, seedManyUsers, seedUsers, usersInOrder } from './helpers/exports';
import { BOM, checkStored, expectedJson, fetchFile, GZIP_MAGIC, parseNdjson, SPECIAL } from './helpers/export-formats';
import { api, createTenant, startTestStack, type TestStack, type TestTenant } from './helpers/stack';

/**
 * Export formats on the real stack with local files: NDJSON, gzip (each range and checkpoint its own gzip member)
 * and the Excel BOM, each file downloaded, decoded and compared with the database (S3: exports-formats-s3.test.ts).
 */

jest.setTimeout(180_000);

describe('local files', () => {
  let stack: TestStack;
  let tenant: TestTenant;
  let token: string;
  let users: UserRow[];

  beforeAll(async () => {
    // Small ranges and checkpoints: several ranges, each with several checkpoints (so several gzip members).
    stack = await startTestStack({ env: { EXPORT_PART_ROWS: '700', EXPORT_CHECKPOINT_BYTES: '32768' } });
    tenant = await createTenant(stack.database.db);
    token = tenant.operators.OWNER.token;
    await seedUsers(stack.database.db, tenant.applicationId, SPECIAL);
    await seedManyUsers(stack.database.db, tenant.applicationId, 3000, 'fmt');
    users = await usersInOrder(stack.database.db, tenant.applicationId);
  });
  afterAll(async () => {
    await stack?.stop();
  });

  test('ndjson + gzip + excel_bom: a gzip of the BOM and one JSON object a line, equal to the database', async () => {
    const done = await runExport(stack, token, { format: 'ndjson', gzip: true, excel_bom: true }, 120_000);
    expect(done.status).toBe('COMPLETED');
    expect(done).toMatchObject({ format: 'ndjson', gzip: true, excel_bom: true, row_count: users.length });
    const parts = await stack.database.db.select().from(exportParts).where(eq(exportParts.exportId, done.id));
    expect(parts.length).toBeGreaterThan(1);
    const [row] = await stack.database.db.select().from(exportsTable).where(eq(exportsTable.id, done.id));
    expect(row.storageKey!.endsWith(`users-export-${done.id}.ndjson.gz`)).toBe(true);
    expect(row).toMatchObject({ format: 'ndjson', gzip: true, excelBom: true });

    const file = await fetchFile(done.download_url);
    expect(file.status).toBe(200);
    expect(file.headers.get('content-disposition')).toContain(`users-export-${done.id}.ndjson.gz`);
    checkStored(done, file.bytes);
    expect(file.bytes.subarray(0, 2).equals(GZIP_MAGIC)).toBe(true);
    const plain = gunzipSync(file.bytes);
    expect(plain.subarray(0, 3).equals(BOM)).toBe(true);
    const lines = parseNdjson(plain.subarray(3).toString('utf8'));
    expect(lines).toEqual(users.map((u) => expectedJson(ALL_COLUMNS, u)));
    expect(Object.keys(lines[0])).toEqual(ALL_COLUMNS.map((c) => (c === 'metadata_json' ? 'metadata' : c)));
  });

  test('ndjson with chosen columns, in the order given', async () => {
    const columns: ExportColumn[] = ['tags', 'vendor_data', 'metadata_json', 'session_count'];
    const done = await runExport(stack, token, { format: 'ndjson', columns });
    expect(done).toMatchObject({ status: 'COMPLETED', format: 'ndjson', gzip: false, excel_bom: false, row_count: users.length });
    const file = await fetchFile(done.download_url);
    checkStored(done, file.bytes);
    expect(file.bytes.subarray(0, 3).equals(BOM)).toBe(false);
    const lines = parseNdjson(file.bytes.toString('utf8'));
    expect(lines).toEqual(users.map((u) => expectedJson(columns, u)));
    expect(Object.keys(lines[0])).toEqual(['tags', 'vendor_data', 'metadata', 'session_count']);
  });

  test('csv + gzip: the gunzipped file is exactly the reference CSV', async () => {
    const done = await runExport(stack, token, { gzip: true });
    expect(done).toMatchObject({ status: 'COMPLETED', format: 'csv', gzip: true, excel_bom: false, row_count: users.length });
    const file = await fetchFile(done.download_url);
    expect(file.headers.get('content-disposition')).toContain(`users-export-${done.id}.csv.gz`);
    checkStored(done, file.bytes);
    expect(gunzipSync(file.bytes).toString('utf8')).toBe(expectedCsv(ALL_COLUMNS, users));
  });

  test('csv + excel_bom: the BOM, then exactly the reference CSV', async () => {
    const columns: ExportColumn[] = ['vendor_data', 'display_name', 'country'];
    const done = await runExport(stack, token, { excel_bom: true, columns });
    expect(done).toMatchObject({ status: 'COMPLETED', format: 'csv', excel_bom: true, row_count: users.length });
    const file = await fetchFile(done.download_url);
    checkStored(done, file.bytes);
    expect(file.bytes.subarray(0, 3).equals(BOM)).toBe(true);
    expect(file.bytes.subarray(3).toString('utf8')).toBe(expectedCsv(columns, users));
  });

  test('an empty ndjson + gzip export is a valid gzip of nothing; an empty csv + gzip one holds the header', async () => {
    const filters = { search: 'no-such-user-anywhere' };
    const ndjson = await runExport(stack, token, { format: 'ndjson', gzip: true, filters });
    expect(ndjson).toMatchObject({ status: 'COMPLETED', row_count: 0 });
    const nd = await fetchFile(ndjson.download_url);
    checkStored(ndjson, nd.bytes);
    expect(gunzipSync(nd.bytes).length).toBe(0);

    const csv = await runExport(stack, token, { gzip: true, filters, columns: ['id', 'status'] });
    const file = await fetchFile(csv.download_url);
    expect(gunzipSync(file.bytes).toString('utf8')).toBe('id,status\r\n');
  });

  test('bad format, gzip or excel_bom values are 400 invalid_field naming the field; nothing is stored', async () => {
    const before = await stack.database.db.select().from(exportsTable).where(eq(exportsTable.applicationId, tenant.applicationId));
    const bad: [Record<string, unknown>, string][] = [
      [{ format: 'xml' }, 'format'],
      [{ format: 'NDJSON ' }, 'format'],
      [{ format: null }, 'format'],
      [{ gzip: 'yes' }, 'gzip'],
      [{ gzip: 1 }, 'gzip'],
      [{ excel_bom: 'true' }, 'excel_bom'],
    ];
    for (const [body, field] of bad) {
      const res = await api(stack, 'POST', '/console/users/exports', { token, body });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid_field');
      expect(res.body.error.details.map((d: { field: string }) => d.field)).toContain(field);
    }
    const after = await stack.database.db.select().from(exportsTable).where(eq(exportsTable.applicationId, tenant.applicationId));
    expect(after.length).toBe(before.length);
  });

  test('the export object shows the defaults: csv, no gzip, no BOM', async () => {
    const done = await runExport(stack, token, { columns: ['id'] });
    expect(done).toMatchObject({ format: 'csv', gzip: false, excel_bom: false });
    const got = await api(stack, 'GET', `/console/users/exports/${done.id}`, { token });
    expect(got.body).toMatchObject({ format: 'csv', gzip: false, excel_bom: false });
    expect(EXPORT_COLUMNS).toContain('id');
  });
});

