import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { createTenant, api, startTestStack, type TestStack } from './helpers/stack';
import { recordApprovedSession } from '../src/users/queries';
import {
  allRows,
  csvOf,
  fixture,
  getImport,
  importFile,
  ownerTenant,
  parseCsv,
  upload,
  uploadAndValidate,
  waitForStatus,
} from './fixtures/imports/support';

const HEADER = ['vendor_data', 'display_name', 'full_name', 'email', 'phone', 'country', 'status', 'tags', 'metadata_json'];

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack({ env: { IMPORT_MAX_ROWS: '1000', IMPORT_CHUNK_ROWS: '3' } });
});
afterAll(async () => {
  await stack?.stop();
});

const tenant = () => ownerTenant(stack);

async function usersOf(applicationId: string) {
  const result = await stack.database.db.execute<Record<string, any>>(sql`
    SELECT vendor_data, display_name, full_name, email, phone, country, status, tags, metadata, verified_fields,
      session_count, approved_count, created_at, updated_at
    FROM users WHERE application_id = ${applicationId} ORDER BY vendor_data`);
  return result.rows;
}

async function userCount(applicationId: string): Promise<number> {
  const result = await stack.database.db.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM users WHERE application_id = ${applicationId}`);
  return result.rows[0].n;
}

describe('import: create, update, unchanged', () => {
  it('creates users from a file, with the import object of API.md and an audit entry', async () => {
    const t = await tenant();
    const file = csvOf(HEADER, [
      ['user-1', 'Ana', 'Ana García', 'ana@example.com', '+34600111222', 'esp', 'active', 'vip, early,vip', '{"plan":"pro"}'],
      ['user-2', '', '', '', '', '', '', '', ''],
      ['user-3', 'Cy', '', '', '', 'usa', 'blocked', '', ''],
      ['user-4', 'Di', '', '', '', '', 'FLAGGED', '', ''],
    ]);
    const preview = await uploadAndValidate(stack, t.token, file, 'roster.csv');
    expect(preview).toMatchObject({
      status: 'AWAITING_CONFIRMATION',
      file_name: 'roster.csv',
      file_bytes: Buffer.byteLength(file),
      operator: { id: t.operators.OWNER.id, email: t.operators.OWNER.email },
      total_rows: 4,
      valid_rows: 4,
      invalid_rows: 0,
      to_create: 4,
      to_update: 0,
      to_unchanged: 0,
      processed_rows: 0,
      chunks: { total: 2, completed: 0, failed: 0 },
      progress: 0,
      error: null,
      workflow_id: `users-import-${preview.id}`,
      confirmed_at: null,
      finished_at: null,
    });
    expect(preview.file_sha256).toBe(createHash('sha256').update(file).digest('hex'));
    expect(await userCount(t.applicationId)).toBe(0);

    const confirmed = await api(stack, 'POST', `/console/users/imports/${preview.id}/confirm`, { token: t.token });
    expect(confirmed.status).toBe(202);
    expect(confirmed.body.status).toBe('RUNNING');
    const done = await waitForStatus(stack, t.token, preview.id, ['COMPLETED']);
    expect(done).toMatchObject({
      processed_rows: 4,
      created_count: 4,
      updated_count: 0,
      unchanged_count: 0,
      skipped_count: 0,
      failed_rows: 0,
      chunks: { total: 2, completed: 2, failed: 0 },
      progress: 1,
    });
    expect(Date.parse(done.confirmed_at)).toBeGreaterThan(0);
    expect(Date.parse(done.finished_at)).toBeGreaterThanOrEqual(Date.parse(done.confirmed_at));

    const users = await usersOf(t.applicationId);
    expect(users.map((u) => [u.vendor_data, u.display_name, u.country, u.status, u.tags, u.metadata])).toEqual([
      ['user-1', 'Ana', 'ESP', 'ACTIVE', ['vip', 'early'], { plan: 'pro' }],
      ['user-2', null, null, 'ACTIVE', [], {}],
      ['user-3', 'Cy', 'USA', 'BLOCKED', [], {}],
      ['user-4', 'Di', null, 'FLAGGED', [], {}],
    ]);
    const user1 = await api(stack, 'GET', '/v3/users/USER-1/', { apiKey: t.apiKey });
    expect(user1.body).toMatchObject({ full_name: 'Ana García', email: 'ana@example.com', phone: '+34600111222' });

    const audit = await stack.database.db.execute<Record<string, any>>(sql`
      SELECT action, status, operator_id, target_id, details FROM audit_log WHERE target_id = ${preview.id}`);
    expect(audit.rows).toHaveLength(1);
    expect(audit.rows[0]).toMatchObject({ action: 'users.import', status: 'SUCCESS', operator_id: t.operators.OWNER.id });
    expect(audit.rows[0].details).toMatchObject({ total_rows: 4, created_count: 4, updated_count: 0, skipped_count: 0 });
  });

  it('updates the given fields, merges metadata key by key, leaves absent and empty fields alone', async () => {
    const t = await tenant();
    await importFile(
      stack,
      t.token,
      csvOf(HEADER, [['m-1', 'Old', 'Old Name', 'old@example.com', '+34600000001', 'ESP', 'FLAGGED', 'a,b', '{"keep":1,"over":"old"}']]),
    );
    const before = (await usersOf(t.applicationId))[0];
    const done = await importFile(
      stack,
      t.token,
      csvOf(['vendor_data', 'display_name', 'email', 'metadata_json', 'tags'], [[' M-1 ', 'New', '', '{"over":"new","add":true}', 'c']]),
    );
    expect(done).toMatchObject({ status: 'COMPLETED', to_update: 1, updated_count: 1, created_count: 0 });
    const after = (await usersOf(t.applicationId))[0];
    expect(after).toMatchObject({
      vendor_data: 'm-1',
      display_name: 'New',
      full_name: 'Old Name',
      email: 'old@example.com',
      phone: '+34600000001',
      country: 'ESP',
      status: 'FLAGGED',
      tags: ['c'],
      metadata: { keep: 1, over: 'new', add: true },
    });
    expect(Date.parse(after.updated_at)).toBeGreaterThan(Date.parse(before.updated_at));
    expect(after.created_at).toEqual(before.created_at);
  });

  it('keeps a verified full_name and names it in kept_fields; counters are never touched', async () => {
    const t = await tenant();
    await recordApprovedSession(stack.database.db, { applicationId: t.applicationId, vendorData: 'v-1', fullName: 'Verified Name' });
    await recordApprovedSession(stack.database.db, { applicationId: t.applicationId, vendorData: 'v-2', fullName: 'Same Name' });
    const preview = await uploadAndValidate(
      stack,
      t.token,
      csvOf(['vendor_data', 'full_name', 'display_name'], [
        ['v-1', 'Changed Name', ''],
        ['v-2', 'Changed Too', 'Now with a display name'],
        ['v-3', 'Brand New', ''],
      ]),
    );
    expect(preview).toMatchObject({ to_create: 1, to_update: 1, to_unchanged: 1 });
    const rows = await allRows(stack, t.token, preview.id);
    expect(rows).toEqual([
      {
        row_number: 2,
        vendor_data: 'v-1',
        action: 'unchanged',
        errors: [],
        kept_fields: ['full_name'],
        normalized: [],
        changes: [],
        raw: { vendor_data: 'v-1', full_name: 'Changed Name', display_name: '' },
      },
      {
        row_number: 3,
        vendor_data: 'v-2',
        action: 'update',
        errors: [],
        kept_fields: ['full_name'],
        normalized: [],
        // What the write will change: the display name; not the verified full_name.
        changes: [{ field: 'display_name', from: null, to: 'Now with a display name' }],
        raw: { vendor_data: 'v-2', full_name: 'Changed Too', display_name: 'Now with a display name' },
      },
      {
        row_number: 4,
        vendor_data: 'v-3',
        action: 'create',
        errors: [],
        kept_fields: [],
        normalized: [],
        changes: [],
        raw: { vendor_data: 'v-3', full_name: 'Brand New', display_name: '' },
      },
    ]);
    await api(stack, 'POST', `/console/users/imports/${preview.id}/confirm`, { token: t.token });
    const done = await waitForStatus(stack, t.token, preview.id, ['COMPLETED']);
    expect(done).toMatchObject({ created_count: 1, updated_count: 1, unchanged_count: 1 });
    const users = await usersOf(t.applicationId);
    expect(users.map((u) => [u.vendor_data, u.full_name, u.display_name, u.verified_fields, u.session_count, u.approved_count])).toEqual([
      ['v-1', 'Verified Name', null, ['full_name'], 1, 1],
      ['v-2', 'Same Name', 'Now with a display name', ['full_name'], 1, 1],
      ['v-3', 'Brand New', null, [], 0, 0],
    ]);
  });

  it('leaves unchanged rows alone (updated_at too); the same file twice gives the same users, all unchanged', async () => {
    const t = await tenant();
    const file = csvOf(HEADER, [
      ['s-1', 'One', 'Full One', 'one@example.com', '+34600000011', 'FRA', 'ACTIVE', 'x,y', '{"a":{"b":[1,2]},"c":null}'],
      ['s-2', 'Two', '', '', '', '', 'blocked', '', ''],
      ['s-3', '', '', '', '', '', '', '', '{}'],
    ]);
    const first = await importFile(stack, t.token, file);
    expect(first).toMatchObject({ status: 'COMPLETED', created_count: 3 });
    const usersBefore = await usersOf(t.applicationId);
    const second = await importFile(stack, t.token, file);
    expect(second).toMatchObject({
      status: 'COMPLETED',
      to_create: 0,
      to_update: 0,
      to_unchanged: 3,
      created_count: 0,
      updated_count: 0,
      unchanged_count: 3,
      processed_rows: 3,
    });
    expect(await usersOf(t.applicationId)).toEqual(usersBefore);
  });

  it('matches users by trimmed, case-insensitive vendor_data and keeps the stored spelling', async () => {
    const t = await tenant();
    await importFile(stack, t.token, 'vendor_data,display_name\nUSER-A,First\n');
    const done = await importFile(stack, t.token, 'vendor_data,display_name\n  user-a  ,Second\n');
    expect(done).toMatchObject({ updated_count: 1, created_count: 0 });
    expect((await usersOf(t.applicationId)).map((u) => [u.vendor_data, u.display_name])).toEqual([['USER-A', 'Second']]);
  });

  it('accepts an edited export: read-only columns are ignored, the formula escape is undone', async () => {
    const t = await tenant();
    const done = await importFile(stack, t.token, fixture('export-roundtrip.csv'));
    expect(done).toMatchObject({ status: 'COMPLETED', created_count: 2, invalid_rows: 0 });
    const users = await usersOf(t.applicationId);
    expect(users[0]).toMatchObject({ vendor_data: 'fx-1', phone: '+34600111222', session_count: 0, metadata: { k: 1 } });
    const formulas = await importFile(stack, t.token, fixture('formula-cells.csv'));
    expect(formulas).toMatchObject({ status: 'COMPLETED', invalid_rows: 0 });
    const byKey = Object.fromEntries((await usersOf(t.applicationId)).map((u) => [u.vendor_data, u]));
    expect(byKey['fx-1']).toMatchObject({ display_name: '=SUM(A1:A2)', full_name: '@ana', phone: '+34600111222' });
    expect(byKey['fx-2']).toMatchObject({ display_name: '=HYPERLINK("x")', full_name: '-minus' });
    expect(byKey['fx-3']).toMatchObject({ display_name: "'plain quote", full_name: 'tabbed' });
  });
});

describe('import: row errors', () => {
  it('reports every row error code with its column, skips those rows and writes the others', async () => {
    const t = await tenant();
    const preview = await uploadAndValidate(stack, t.token, fixture('row-errors.csv'));
    expect(preview).toMatchObject({ status: 'AWAITING_CONFIRMATION', total_rows: 12, valid_rows: 1, invalid_rows: 11 });
    const invalid = await allRows(stack, t.token, preview.id, 'invalid');
    const codes = Object.fromEntries(invalid.map((r) => [r.row_number, r.errors.map((e: any) => `${e.column}:${e.code}`)]));
    expect(codes).toEqual({
      2: ['vendor_data:required'],
      3: ['display_name:too_long'],
      4: ['vendor_data:invalid_characters'],
      5: ['email:invalid_email'],
      6: ['phone:invalid_phone'],
      7: ['country:invalid_country'],
      8: ['status:invalid_status'],
      9: ['tags:invalid_tags'],
      10: ['metadata_json:invalid_metadata_json'],
      11: ['vendor_data:duplicate_in_file'],
      12: [
        'full_name:too_long',
        'email:invalid_email',
        'phone:invalid_phone',
        'country:invalid_country',
        'status:invalid_status',
        'tags:invalid_tags',
        'metadata_json:invalid_metadata_json',
      ],
    });
    expect(invalid.find((r) => r.row_number === 11).errors[0].message).toMatch(/row 5\b/);
    expect(await allRows(stack, t.token, preview.id, 'create')).toEqual([
      {
        row_number: 13,
        vendor_data: 'fx-ok',
        action: 'create',
        errors: [],
        kept_fields: [],
        normalized: [],
        changes: [],
        raw: { vendor_data: 'fx-ok', display_name: 'Fine', full_name: '', email: '', phone: '', country: '', status: '', tags: '', metadata_json: '' },
      },
    ]);

    const report = await api(stack, 'GET', `/console/users/imports/${preview.id}/errors.csv`, { token: t.token });
    expect(report.status).toBe(200);
    expect(report.headers.get('content-type')).toMatch(/^text\/csv/);
    const lines = parseCsv(report.text);
    expect(lines[0]).toEqual(['row_number', 'vendor_data', 'column', 'code', 'message', 'raw_row']);
    expect(lines.length - 1).toBe(17); // one line per error
    expect(lines.filter((l) => l[0] === '12')).toHaveLength(7);
    // raw_row: the row as the file had it (here with the trailing space the value was trimmed of).
    expect(lines.find((l) => l[0] === '11')).toEqual(['11', 'FX-EMAIL', 'vendor_data', 'duplicate_in_file', expect.stringMatching(/row 5/), 'FX-EMAIL ,,,,,,,,']);

    // invalid-rows.csv: each invalid row once, in the template's columns, with its errors: fix and upload again.
    const invalidReport = await api(stack, 'GET', `/console/users/imports/${preview.id}/invalid-rows.csv`, { token: t.token });
    expect(invalidReport.status).toBe(200);
    const invalidLines = parseCsv(invalidReport.text);
    expect(invalidLines[0]).toEqual([...HEADER, 'error']);
    expect(invalidLines).toHaveLength(1 + 11);
    const row11 = invalidLines.find((l) => l[0] === 'FX-EMAIL ');
    expect(row11?.slice(0, 9)).toEqual(['FX-EMAIL ', '', '', '', '', '', '', '', '']);
    expect(row11?.[9]).toMatch(/vendor_data: vendor_data already appears in row 5/);
    // Uploaded again as it is, with one row fixed: the error column is ignored, the fixed row is valid.
    const fixed = invalidReport.text.replace(/^"FX-EMAIL ",/m, 'fx-fixed,');
    expect(fixed).not.toBe(invalidReport.text);
    const again = await uploadAndValidate(stack, t.token, fixed, 'invalid-rows.csv');
    expect(again.status).toBe('AWAITING_CONFIRMATION');
    expect(again.mapping.at(-1)).toEqual({ header: 'error', column: null, source: 'ignored' });
    expect(again.valid_rows).toBe(1);

    await api(stack, 'POST', `/console/users/imports/${preview.id}/confirm`, { token: t.token });
    const done = await waitForStatus(stack, t.token, preview.id, ['COMPLETED']);
    expect(done).toMatchObject({ created_count: 1, skipped_count: 11, processed_rows: 1 });
    expect((await usersOf(t.applicationId)).map((u) => u.vendor_data)).toEqual(['fx-ok']);
  });

  it('names the first row of a duplicate; the first occurrence stays valid', async () => {
    const t = await tenant();
    const preview = await uploadAndValidate(stack, t.token, 'vendor_data,display_name\nDup-1,first\nother,x\n dup-1 ,second\nDUP-1,third\n');
    const rows = await allRows(stack, t.token, preview.id);
    expect(rows.map((r) => [r.row_number, r.action, r.errors.map((e: any) => e.code)])).toEqual([
      [2, 'create', []],
      [3, 'create', []],
      [4, 'invalid', ['duplicate_in_file']],
      [5, 'invalid', ['duplicate_in_file']],
    ]);
    expect(rows[2].errors[0]).toEqual({ column: 'vendor_data', code: 'duplicate_in_file', message: 'vendor_data already appears in row 2' });
    expect(rows[3].errors[0].message).toBe('vendor_data already appears in row 2');
  });

  it.each([
    ['vendor-data-2001-bytes.csv', { valid: 1, codes: ['vendor_data:too_long', 'vendor_data:too_long'] }],
    ['control-characters.csv', { valid: 1, codes: ['vendor_data:invalid_characters', 'vendor_data:invalid_characters', 'display_name:invalid_characters', 'vendor_data:invalid_characters'] }],
    ['metadata-json-array.csv', { valid: 1, codes: ['metadata_json:invalid_metadata_json'] }],
  ])('%s: row errors, nothing written before confirm', async (name, expected) => {
    const t = await tenant();
    const preview = await uploadAndValidate(stack, t.token, fixture(name));
    expect(preview.status).toBe('AWAITING_CONFIRMATION');
    expect(preview.valid_rows).toBe(expected.valid);
    const invalid = await allRows(stack, t.token, preview.id, 'invalid');
    expect(invalid.flatMap((r) => r.errors.map((e: any) => `${e.column}:${e.code}`)).sort()).toEqual([...expected.codes].sort());
    expect(await userCount(t.applicationId)).toBe(0);
  });

  it('metadata_json must be a JSON object Postgres can store', async () => {
    const t = await tenant();
    const preview = await uploadAndValidate(stack, t.token, fixture('metadata-json-hostile.csv'));
    const rows = await allRows(stack, t.token, preview.id);
    expect(rows.map((r) => [r.vendor_data, r.action])).toEqual([
      ['fx-1', 'invalid'],
      ['fx-2', 'invalid'],
      ['fx-3', 'invalid'],
      ['fx-4', 'invalid'],
      ['fx-5', 'invalid'],
      ['fx-6', 'invalid'],
      ['fx-7', 'invalid'],
      ['fx-8', 'create'],
    ]);
    for (const row of rows.slice(0, 7)) expect(row.errors[0].code).toBe('invalid_metadata_json');
  });

  it('a 10 MB cell is a row error, not a crash', async () => {
    const t = await tenant();
    const big = 'x'.repeat(10 * 1024 * 1024);
    const preview = await uploadAndValidate(stack, t.token, `vendor_data,display_name\nbig,${big}\nsmall,ok\n`);
    expect(preview).toMatchObject({ status: 'AWAITING_CONFIRMATION', valid_rows: 1, invalid_rows: 1 });
    const [row] = await allRows(stack, t.token, preview.id, 'invalid');
    expect(row).toMatchObject({ row_number: 2, vendor_data: 'big', errors: [{ column: 'display_name', code: 'too_long' }] });
  }, 60_000);
});

describe('import: files accepted as they are', () => {
  it.each([
    ['bom.csv', 2],
    ['crlf.csv', 2],
    ['quoted-line-breaks.csv', 2],
    ['no-final-newline.csv', 1],
    ['blank-lines-between.csv', 2],
    ['utf8-multibyte.csv', 2],
    ['columns-any-order.csv', 2],
    ['header-case-and-spaces.csv', 1],
  ])('%s', async (name, rows) => {
    const t = await tenant();
    const done = await importFile(stack, t.token, fixture(name));
    expect(done).toMatchObject({ status: 'COMPLETED', total_rows: rows, valid_rows: rows, created_count: rows });
    expect(await userCount(t.applicationId)).toBe(rows);
  });

  it('keeps quoted commas, quotes and line breaks', async () => {
    const t = await tenant();
    await importFile(stack, t.token, fixture('quoted-line-breaks.csv'));
    const users = await usersOf(t.applicationId);
    expect(users[0]).toMatchObject({ display_name: 'Ana, "the boss"', full_name: 'Ana\nGarcía', tags: ['a', 'b'], metadata: { note: 'line1\nline2' } });
    expect(users[1]).toMatchObject({ display_name: 'multi\r\nline' });
  });
});

describe('import: files that used to be rejected and are now read (issue 9, reading)', () => {
  it('too-few-fields.csv: the short row is read with its missing trailing cells empty', async () => {
    const t = await tenant();
    const done = await importFile(stack, t.token, fixture('too-few-fields.csv'));
    expect(done).toMatchObject({ status: 'COMPLETED', total_rows: 2, valid_rows: 2, created_count: 2 });
    expect((await usersOf(t.applicationId)).map((u) => [u.vendor_data, u.display_name])).toEqual([
      ['fx-1', 'Ana'],
      ['fx-2', 'Bo'],
    ]);
  });

  it('too-many-fields.csv: the long row is the row error too_many_fields, the other row is written', async () => {
    const t = await tenant();
    const done = await importFile(stack, t.token, fixture('too-many-fields.csv'));
    expect(done).toMatchObject({ status: 'COMPLETED', total_rows: 2, valid_rows: 1, invalid_rows: 1, created_count: 1 });
    const [invalid] = await allRows(stack, t.token, done.id, 'invalid');
    expect(invalid).toMatchObject({ row_number: 3, vendor_data: 'fx-2', errors: [{ code: 'too_many_fields' }] });
    expect((await usersOf(t.applicationId)).map((u) => u.vendor_data)).toEqual(['fx-1']);
  });

  it.each([
    ['latin1.csv', 'José Núñez'],
    ['utf16le.csv', 'Ana'],
    ['semicolon-delimited.csv', 'Ana'],
  ])('%s is detected and written', async (name, displayName) => {
    const t = await tenant();
    const done = await importFile(stack, t.token, fixture(name));
    expect(done).toMatchObject({ status: 'COMPLETED', total_rows: 1, created_count: 1 });
    expect((await usersOf(t.applicationId)).map((u) => [u.vendor_data, u.display_name])).toEqual([['fx-1', displayName]]);
  });
});

describe('import: file-level rejections', () => {
  it.each([
    ['empty.csv', 'empty_file'],
    ['bom-only.csv', 'empty_file'],
    ['whitespace-only.csv', 'empty_file'],
    ['header-only.csv', 'no_rows'],
    ['header-only-blank-lines.csv', 'no_rows'],
    ['unclosed-quote.csv', 'malformed_csv'],
    ['text-after-quote.csv', 'malformed_csv'],
    ['binary.bin.csv', 'invalid_encoding'],
    ['truncated-utf8.csv', 'invalid_encoding'],
    ['duplicate-header.csv', 'duplicate_column'],
    ['duplicate-header-case.csv', 'duplicate_column'],
    ['unknown-header.csv', 'unknown_column'],
    ['empty-header-cell.csv', 'unknown_column'],
    ['missing-vendor-data.csv', 'missing_column'],
  ])('%s is REJECTED with %s and nothing is written', async (name, code) => {
    const t = await tenant();
    const result = await uploadAndValidate(stack, t.token, fixture(name));
    expect(result).toMatchObject({ status: 'REJECTED', error: { code }, total_rows: 0, valid_rows: 0 });
    expect(result.error.message.length).toBeGreaterThan(0);
    expect(Date.parse(result.finished_at)).toBeGreaterThan(0);
    expect(await allRows(stack, t.token, result.id)).toEqual([]);
    expect(await userCount(t.applicationId)).toBe(0);
    const confirm = await api(stack, 'POST', `/console/users/imports/${result.id}/confirm`, { token: t.token });
    expect(confirm.status).toBe(409);
    expect(confirm.body.error.code).toBe('invalid_state');
  });

  it('names the line of a malformed file and lists unknown columns', async () => {
    const t = await tenant();
    expect((await uploadAndValidate(stack, t.token, fixture('unclosed-quote.csv'))).error.message).toMatch(/line 3/);
    expect((await uploadAndValidate(stack, t.token, fixture('unknown-header.csv'))).error.message).toMatch(/shoe_size, favourite_color/);
  });

  it('too_many_rows over IMPORT_MAX_ROWS', async () => {
    const t = await tenant();
    const rows = Array.from({ length: 1001 }, (_, i) => [`r-${i}`]);
    const result = await uploadAndValidate(stack, t.token, csvOf(['vendor_data'], rows));
    expect(result).toMatchObject({ status: 'REJECTED', error: { code: 'too_many_rows' } });
    expect(await userCount(t.applicationId)).toBe(0);
    const ok = await uploadAndValidate(stack, t.token, csvOf(['vendor_data'], rows.slice(0, 1000)));
    expect(ok).toMatchObject({ status: 'AWAITING_CONFIRMATION', total_rows: 1000 });
  });
});

describe('import: HTTP contract', () => {
  it('serves the template to operators', async () => {
    const t = await tenant();
    const res = await api(stack, 'GET', '/console/users/import-template.csv', { token: t.operators.READER.token });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(res.text.trim()).toBe(HEADER.join(','));
    expect((await api(stack, 'GET', '/console/users/import-template.csv')).status).toBe(401);
  });

  it('keeps a file name sent as raw UTF-8 (what browsers send), as well as one sent as filename*', async () => {
    const t = await tenant();
    const raw = await upload(stack, t.token, 'vendor_data\nñ-1\n', 'usuarios_españa.csv');
    expect(raw.status).toBe(202);
    expect(raw.body.file_name).toBe('usuarios_españa.csv');
    const boundary = 'b0undary';
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.csv\r\n`),
      Buffer.from(`Content-Type: text/csv\r\n\r\nvendor_data\nj-1\n\r\n--${boundary}--\r\n`),
    ]);
    const res = await fetch(`${stack.baseUrl}/console/users/imports`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.token}`, 'content-type': `multipart/form-data; boundary=${boundary}` },
      body,
    });
    expect(res.status).toBe(202);
    expect(((await res.json()) as { file_name: string }).file_name).toBe('日本.csv');
  });

  it('415 for a body that is not multipart, 400 without a file part, 401/403 by role', async () => {
    const t = await tenant();
    const json = await api(stack, 'POST', '/console/users/imports', { token: t.token, body: { file: 'x' } });
    expect(json.status).toBe(415);
    expect(json.body.error.code).toBe('unsupported_media_type');
    const text = await api(stack, 'POST', '/console/users/imports', { token: t.token, body: 'vendor_data\nx\n', headers: { 'content-type': 'text/csv' } });
    expect(text.status).toBe(415);
    const wrongField = await upload(stack, t.token, 'vendor_data\nx\n', 'users.csv', 'document');
    expect(wrongField.status).toBe(400);
    expect(wrongField.body.error.code).toBe('missing_file');
    expect((await upload(stack, 'not-a-token', 'vendor_data\nx\n')).status).toBe(401);
    for (const role of ['COMPLIANCE_OFFICER', 'DEVELOPER', 'READER'] as const) {
      const res = await upload(stack, t.operators[role].token, 'vendor_data\nx\n');
      expect(res.status).toBe(403);
    }
    const admin = await upload(stack, t.operators.ADMIN.token, 'vendor_data\nx\n');
    expect(admin.status).toBe(202);
    expect(admin.body).toMatchObject({ status: 'VALIDATING', operator: { email: t.operators.ADMIN.email } });
  });

  it('hides another application\'s imports (404) and lists history newest first with cursors', async () => {
    const a = await tenant();
    const b = await tenant();
    const first = await uploadAndValidate(stack, a.token, 'vendor_data\nh-1\n');
    const second = await uploadAndValidate(stack, a.token, 'vendor_data\nh-2\n');
    const third = await uploadAndValidate(stack, a.token, 'vendor_data\nh-3\n');
    for (const p of ['', '/rows', '/errors.csv']) {
      expect((await api(stack, 'GET', `/console/users/imports/${first.id}${p}`, { token: b.token })).status).toBe(404);
    }
    for (const action of ['confirm', 'cancel', 'retry']) {
      expect((await api(stack, 'POST', `/console/users/imports/${first.id}/${action}`, { token: b.token })).status).toBe(404);
    }
    expect((await api(stack, 'GET', `/console/users/imports/${randomUUID()}`, { token: a.token })).status).toBe(404);
    expect((await api(stack, 'GET', '/console/users/imports/not-a-uuid', { token: a.token })).status).toBe(404);

    const page1 = await api(stack, 'GET', '/console/users/imports?limit=2', { token: a.operators.READER.token });
    expect(page1.status).toBe(200);
    expect(page1.body.results.map((r: any) => r.id)).toEqual([third.id, second.id]);
    const page2 = await api(stack, 'GET', `/console/users/imports?limit=2&cursor=${page1.body.next_cursor}`, { token: a.token });
    expect(page2.body.results.map((r: any) => r.id)).toEqual([first.id]);
    expect(page2.body.next_cursor).toBeNull();
    expect((await api(stack, 'GET', '/console/users/imports', { token: b.token })).body.results).toEqual([]);
    expect((await api(stack, 'GET', '/console/users/imports?limit=0', { token: a.token })).status).toBe(400);
  });

  it('pages the preview in file order and refuses a bad action or cursor', async () => {
    const t = await tenant();
    const rows = Array.from({ length: 7 }, (_, i) => [`p-${i}`, i % 3 === 0 ? 'bad-email' : `p${i}@example.com`]);
    const preview = await uploadAndValidate(stack, t.token, csvOf(['vendor_data', 'email'], rows));
    const page = await api(stack, 'GET', `/console/users/imports/${preview.id}/rows?limit=3`, { token: t.token });
    expect(page.body.results.map((r: any) => r.row_number)).toEqual([2, 3, 4]);
    const next = await api(stack, 'GET', `/console/users/imports/${preview.id}/rows?limit=3&cursor=${page.body.next_cursor}`, { token: t.token });
    expect(next.body.results.map((r: any) => r.row_number)).toEqual([5, 6, 7]);
    expect((await allRows(stack, t.token, preview.id, 'invalid')).map((r) => r.row_number)).toEqual([2, 5, 8]);
    const bad = await api(stack, 'GET', `/console/users/imports/${preview.id}/rows?action=delete`, { token: t.token });
    expect(bad.status).toBe(400);
    expect((await api(stack, 'GET', `/console/users/imports/${preview.id}/rows?cursor=zzz`, { token: t.token })).status).toBe(400);
  });

  it('confirm is 409 invalid_state unless AWAITING_CONFIRMATION; retry is 409 nothing_to_retry when no chunk failed', async () => {
    const t = await tenant();
    const done = await importFile(stack, t.token, 'vendor_data\nc-1\n');
    const again = await api(stack, 'POST', `/console/users/imports/${done.id}/confirm`, { token: t.token });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('invalid_state');
    const retry = await api(stack, 'POST', `/console/users/imports/${done.id}/retry`, { token: t.operators.DEVELOPER.token });
    expect(retry.status).toBe(409);
    expect(retry.body.error.code).toBe('nothing_to_retry');
    expect((await api(stack, 'POST', `/console/users/imports/${done.id}/retry`, { token: t.operators.READER.token })).status).toBe(403);
    const cancel = await api(stack, 'POST', `/console/users/imports/${done.id}/cancel`, { token: t.token });
    expect(cancel.status).toBe(409);
    const awaiting = await uploadAndValidate(stack, t.token, 'vendor_data\nc-2\n');
    const retryAwaiting = await api(stack, 'POST', `/console/users/imports/${awaiting.id}/retry`, { token: t.token });
    expect(retryAwaiting.status).toBe(409);
    expect(retryAwaiting.body.error.code).toBe('invalid_state');
    expect((await api(stack, 'POST', `/console/users/imports/${awaiting.id}/confirm`, { token: t.operators.DEVELOPER.token })).status).toBe(403);
  });

  it('documents every import endpoint in the OpenAPI document', async () => {
    const res = await api(stack, 'GET', '/openapi.json');
    for (const p of [
      '/console/users/import-template.csv',
      '/console/users/imports',
      '/console/users/imports/{id}',
      '/console/users/imports/{id}/rows',
      '/console/users/imports/{id}/errors.csv',
      '/console/users/imports/{id}/confirm',
      '/console/users/imports/{id}/cancel',
      '/console/users/imports/{id}/retry',
    ]) {
      expect(res.body.paths[p]).toBeDefined();
    }
  });
});

describe('import: upload limits', () => {
  let small: TestStack;
  beforeAll(async () => {
    small = await startTestStack({ env: { IMPORT_MAX_BYTES: '4096' }, worker: false });
  });
  afterAll(async () => {
    await small?.stop();
  });

  it('413 file_too_large over IMPORT_MAX_BYTES: no import row, no stored file', async () => {
    const t = await createTenant(small.database.db);
    const token = t.operators.OWNER.token;
    const big = csvOf(['vendor_data'], Array.from({ length: 1000 }, (_, i) => [`big-${i}`]));
    expect(Buffer.byteLength(big)).toBeGreaterThan(4096);
    const res = await upload(small, token, big);
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('file_too_large');
    const rows = await small.database.db.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM imports WHERE application_id = ${t.applicationId}`);
    expect(rows.rows[0].n).toBe(0);
    const dir = path.join(small.config.storage.localDir, 'imports', t.applicationId);
    expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);

    const exactly = 'vendor_data\n' + 'x'.repeat(4096 - 'vendor_data\n'.length);
    const fits = await upload(small, token, exactly);
    expect(fits.status).toBe(202);
    expect(fits.body.file_bytes).toBe(4096);
    expect(await getImport(small, token, fits.body.id)).toMatchObject({ status: 'VALIDATING' });
  });
});
