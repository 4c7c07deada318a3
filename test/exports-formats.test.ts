import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { eq } from 'drizzle-orm';
import { exportParts, exportsTable } from '../drizzle/schema';
import { EXPORT_COLUMNS, type ExportColumn } from '../src/exports/columns';
import type { UserRow } from '../src/users/queries';
import { ALL_COLUMNS, expectedCsv, runExport, seedManyUsers, seedUsers, usersInOrder } from './helpers/exports';
import { startS3Server, type S3TestServer } from './helpers/s3-server';
import { api, createTenant, startTestStack, type TestStack, type TestTenant } from './helpers/stack';

/**
 * Export formats on the real stack: NDJSON, gzip (each range and checkpoint its own gzip member) and the Excel BOM,
 * on local files and on S3 (versitygw), each file downloaded, decoded and compared with the database.
 */

jest.setTimeout(180_000);

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);

/** What an NDJSON line holds for a user: the stored values, tags a list, metadata an object. */
function expectedJson(columns: readonly ExportColumn[], u: UserRow): Record<string, unknown> {
  const all: Record<ExportColumn, [string, unknown]> = {
    id: ['id', u.id],
    vendor_data: ['vendor_data', u.vendorData],
    display_name: ['display_name', u.displayName],
    full_name: ['full_name', u.fullName],
    date_of_birth: ['date_of_birth', u.dateOfBirth],
    email: ['email', u.email],
    phone: ['phone', u.phone],
    country: ['country', u.country || null],
    status: ['status', u.status],
    tags: ['tags', u.tags],
    metadata_json: ['metadata', u.metadata],
    session_count: ['session_count', u.sessionCount],
    approved_count: ['approved_count', u.approvedCount],
    declined_count: ['declined_count', u.declinedCount],
    in_review_count: ['in_review_count', u.inReviewCount],
    created_at: ['created_at', u.createdAt.toISOString()],
    updated_at: ['updated_at', u.updatedAt.toISOString()],
  };
  return Object.fromEntries(columns.map((c) => all[c]));
}

function parseNdjson(text: string): Record<string, unknown>[] {
  expect(text === '' || text.endsWith('\n')).toBe(true);
  expect(text).not.toContain('\r');
  return text === '' ? [] : text.slice(0, -1).split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
}

async function fetchFile(url: string): Promise<{ status: number; bytes: Buffer; headers: Headers }> {
  const res = await fetch(url);
  return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

/** Checks the file against the export object: size, SHA-256 of the stored bytes. */
function checkStored(done: { file_bytes: number; file_sha256: string }, bytes: Buffer) {
  expect(done.file_bytes).toBe(bytes.length);
  expect(done.file_sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
}

const SPECIAL = [
  {
    vendorData: '=formula-user',
    displayName: 'Zoë Ñandú, "quoted"\nnext line',
    fullName: null,
    email: null,
    phone: '+34600111222',
    country: 'ESP',
    status: 'ACTIVE' as const,
    tags: ['a b', 'ü'],
    metadata: { nested: { k: [1, 2, { z: null }] }, tab: 'x\ty', ctl: '\u0001\u001f\u001e' },
    dateOfBirth: '1990-04-01',
    createdAt: new Date('2023-06-01T00:00:00.123Z'),
  },
];

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
