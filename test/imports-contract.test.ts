import ExcelJS from 'exceljs';
import { sql } from 'drizzle-orm';
import { api, startTestStack, type TestStack } from './helpers/stack';
import { allRows, importFile, parseCsv, uploadAndValidate, waitForStatus, importedUsers, ownerTenant, uploadWith } from './fixtures/imports/support';

/**
 * Points of API.md's "CSV import" and "Files from other systems" through the real stack, each checked by what is
 * stored: the `exact` source of the template's own headers, invalid-rows.csv in the template's columns (NDJSON, CSV,
 * xlsx) and uploaded again as it is, NDJSON with CR line endings, the format from the file name when the content does
 * not tell, and `skipped_count` from the preview on.
 */

const TEMPLATE = ['vendor_data', 'display_name', 'full_name', 'email', 'phone', 'country', 'status', 'tags', 'metadata_json'];

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack({ env: { IMPORT_CHUNK_ROWS: '3' } });
});
afterAll(async () => {
  await stack?.stop();
});

const tenant = () => ownerTenant(stack);
const usersOf = (applicationId: string) => importedUsers(stack, applicationId);

async function storedImport(id: string) {
  const result = await stack.database.db.execute<Record<string, any>>(sql`
    SELECT status, invalid_rows, skipped_count, options, detected, mapping FROM imports WHERE id = ${id}`);
  return result.rows[0];
}

async function invalidRowsCsv(token: string, id: string): Promise<string> {
  const res = await api(stack, 'GET', `/console/users/imports/${id}/invalid-rows.csv`, { token });
  expect(res.status).toBe(200);
  return res.text;
}

/** The invalid rows of an import as [row_number, vendor_data, error codes]. */
async function invalidCodes(token: string, id: string) {
  return (await allRows(stack, token, id, 'invalid')).map((r) => [r.row_number, r.vendor_data, r.errors.map((e: any) => e.code)]);
}

async function previewWith(token: string, content: string, fileName: string, fields: Record<string, string>) {
  const res = await uploadWith(stack, token, content, fields, fileName);
  expect(res.status).toBe(202);
  return waitForStatus(stack, token, res.body.id, ['AWAITING_CONFIRMATION']);
}

async function confirm(token: string, id: string) {
  expect((await api(stack, 'POST', `/console/users/imports/${id}/confirm`, { token })).status).toBe(202);
  return waitForStatus(stack, token, id, ['COMPLETED']);
}

describe('mapping: exact and synonym', () => {
  it("the template's header row is exact for every header, in CSV and NDJSON", async () => {
    const t = await tenant();
    const template = await api(stack, 'GET', '/console/users/import-template.csv', { token: t.token });
    expect(template.status).toBe(200);
    const csv = await uploadAndValidate(stack, t.token, `${template.text}t-1,Ana,,ana@example.com,,,,,\r\n`, 'template.csv');
    const exact = TEMPLATE.map((column) => ({ header: column, column, source: 'exact' }));
    expect(csv).toMatchObject({ status: 'AWAITING_CONFIRMATION', valid_rows: 1 });
    expect(csv.mapping).toEqual(exact);
    expect((await storedImport(csv.id)).mapping).toEqual(exact);

    const line = { vendor_data: 't-2', display_name: 'Bo', full_name: 'Bo B', email: 'bo@example.com', phone: '+34600111222', country: 'ESP', status: 'ACTIVE', tags: ['x'], metadata_json: '{"a":1}' };
    const ndjson = await uploadAndValidate(stack, t.token, `${JSON.stringify(line)}\n`, 'users.ndjson');
    expect(ndjson).toMatchObject({ status: 'AWAITING_CONFIRMATION', valid_rows: 1, options: { format: 'ndjson' } });
    expect(ndjson.mapping).toEqual(exact);
    expect((await storedImport(ndjson.id)).mapping).toEqual(exact);
  });

  it.each(['email_address', 'E-mail'])('%s is a synonym of email, and its values are stored as emails', async (header) => {
    const t = await tenant();
    const done = await importFile(stack, t.token, `vendor_data,${header}\r\ns-1,s1@example.com\r\n`);
    expect(done).toMatchObject({ status: 'COMPLETED', created_count: 1 });
    expect(done.mapping).toEqual([
      { header: 'vendor_data', column: 'vendor_data', source: 'exact' },
      { header, column: 'email', source: 'synonym' },
    ]);
    expect((await usersOf(t.applicationId)).map((u) => [u.vendor_data, u.email])).toEqual([['s-1', 's1@example.com']]);
  });
});

describe("invalid-rows.csv: the template's columns, uploaded again as it is", () => {
  it('NDJSON: each value under its template column whatever the order of the keys; a line that is no object keeps its text in error', async () => {
    const t = await tenant();
    const lines = [
      '{"vendor_data":"n1","email":"bad","display_name":"D"}',
      JSON.stringify({ metadata: { k: 1 }, tags: ['a', 'b'], country: 'esp', phone: '600111222', vendor_data: 'n2' }),
      JSON.stringify({ last_name: 'Pérez', first_name: 'Ana', status: 'nope', vendor_data: 'n3' }),
      '{"vendor_data": "n4", broken',
      JSON.stringify({ display_name: 'Fine', vendor_data: 'n5' }),
    ];
    const preview = await uploadAndValidate(stack, t.token, `${lines.join('\n')}\n`, 'users.ndjson');
    expect(preview).toMatchObject({ status: 'AWAITING_CONFIRMATION', total_rows: 5, valid_rows: 1, invalid_rows: 4 });

    const report = await invalidRowsCsv(t.token, preview.id);
    const records = parseCsv(report);
    expect(records[0]).toEqual([...TEMPLATE, 'error']);
    expect(records.slice(1).map((r) => r.slice(0, 9))).toEqual([
      ['n1', 'D', '', 'bad', '', '', '', '', ''],
      ['n2', '', '', '', '600111222', 'esp', '', 'a,b', '{"k":1}'],
      ['n3', '', 'Ana Pérez', '', '', '', 'nope', '', ''],
      ['', '', '', '', '', '', '', '', ''],
    ]);
    expect(records[1][9]).toMatch(/^email: /);
    expect(records[4][9]).toMatch(/line 4 is not JSON .*; the line: \{"vendor_data": "n4", broken$/);

    // As it is: the same rows, with the same problems (the unreadable line has no vendor_data now).
    const asIs = await uploadAndValidate(stack, t.token, report, 'invalid-rows.csv');
    expect(asIs).toMatchObject({ status: 'AWAITING_CONFIRMATION', total_rows: 4, valid_rows: 0, invalid_rows: 4 });
    expect(asIs.mapping.at(-1)).toEqual({ header: 'error', column: null, source: 'ignored' });
    expect(await invalidCodes(t.token, asIs.id)).toEqual([
      [2, 'n1', ['invalid_email']],
      [3, 'n2', ['invalid_phone']],
      [4, 'n3', ['invalid_status']],
      [5, null, ['required']],
    ]);

    // Fixed in place: each fixed value is stored in its field.
    const fixed = report
      .replace(/^n1,D,,bad,/m, 'n1,D,,n1@example.com,')
      .replace(/^n2,,,,600111222,/m, 'n2,,,,+34600111222,')
      .replace(/^n3,,Ana Pérez,,,,nope,/m, 'n3,,Ana Pérez,,,,flagged,');
    const done = await importFile(stack, t.token, fixed, 'invalid-rows.csv');
    expect(done).toMatchObject({ status: 'COMPLETED', total_rows: 4, created_count: 3, invalid_rows: 1, skipped_count: 1 });
    expect((await usersOf(t.applicationId)).map((u) => [u.vendor_data, u.display_name, u.full_name, u.email, u.phone, u.country, u.status, u.tags, u.metadata])).toEqual([
      ['n1', 'D', null, 'n1@example.com', null, null, 'ACTIVE', [], {}],
      ['n2', null, null, null, '+34600111222', 'ESP', 'ACTIVE', ['a', 'b'], { k: 1 }],
      ['n3', null, 'Ana Pérez', null, null, null, 'FLAGGED', [], {}],
    ]);
  });

  async function workbookOf(rows: string[][]): Promise<Buffer> {
    const wb = new ExcelJS.Workbook();
    const ws = wb.addWorksheet('Users');
    for (const row of rows) ws.addRow(row);
    return Buffer.from(await wb.xlsx.writeBuffer());
  }

  it.each(['csv', 'xlsx'])('%s: headers in another order, synonyms and first/last name under their template columns', async (format) => {
    const t = await tenant();
    const rows = [
      ['email_address', 'external_id', 'last_name', 'first_name', 'country_code', 'labels'],
      ['bad@', 'x-1', 'Pérez', 'Ana', 'esp', 'a,b'],
      ['ok@example.com', 'x-2', '', 'Bo', 'zz', ''],
    ];
    const file = format === 'xlsx' ? await workbookOf(rows) : rows.map((r) => r.map((c) => (c.includes(',') ? `"${c}"` : c)).join(',')).join('\r\n');
    const preview = await uploadAndValidate(stack, t.token, file, `users.${format}`);
    expect(preview).toMatchObject({ status: 'AWAITING_CONFIRMATION', invalid_rows: 2, options: { format } });
    const report = await invalidRowsCsv(t.token, preview.id);
    expect(parseCsv(report).map((r) => r.slice(0, 9))).toEqual([
      TEMPLATE,
      ['x-1', '', 'Ana Pérez', 'bad@', '', 'esp', '', 'a,b', ''],
      ['x-2', '', 'Bo', 'ok@example.com', '', 'zz', '', '', ''],
    ]);
    const fixed = report.replace(/,bad@,/, ',ana@example.com,').replace(/,zz,/, ',ESP,');
    const done = await importFile(stack, t.token, fixed, 'invalid-rows.csv');
    expect(done).toMatchObject({ status: 'COMPLETED', created_count: 2, invalid_rows: 0 });
    expect((await usersOf(t.applicationId)).map((u) => [u.vendor_data, u.full_name, u.email, u.country, u.tags])).toEqual([
      ['x-1', 'Ana Pérez', 'ana@example.com', 'ESP', ['a', 'b']],
      ['x-2', 'Bo', 'ok@example.com', 'ESP', []],
    ]);
  });
});

describe('invalid-rows.csv and the formula escape', () => {
  it.each(['csv', 'xlsx'])('%s: a cell is written as its value, escaped once, so the file comes back with the same values', async (format) => {
    const t = await tenant();
    // `'=SUM(1)` is the export's escape of the value `=SUM(1)`; `@cmd` is a value that was never escaped.
    const rows = [
      ['vendor_data', 'display_name', 'full_name', 'email'],
      ['f-1', "'=SUM(1)", '@cmd', 'not-an-email'],
    ];
    const workbook = new ExcelJS.Workbook();
    workbook.addWorksheet('Users').addRows(rows);
    const file = format === 'xlsx' ? Buffer.from(await workbook.xlsx.writeBuffer()) : rows.map((r) => r.join(',')).join('\r\n');
    const preview = await uploadAndValidate(stack, t.token, file, `users.${format}`);
    expect(preview).toMatchObject({ status: 'AWAITING_CONFIRMATION', invalid_rows: 1 });
    const report = await invalidRowsCsv(t.token, preview.id);
    expect(parseCsv(report)[1].slice(0, 4)).toEqual(['f-1', "'=SUM(1)", "'@cmd", 'not-an-email']);
    const done = await importFile(stack, t.token, report.replace('not-an-email', 'f1@example.com'), 'invalid-rows.csv');
    expect(done).toMatchObject({ status: 'COMPLETED', created_count: 1, invalid_rows: 0 });
    expect((await usersOf(t.applicationId)).map((u) => [u.vendor_data, u.display_name, u.full_name, u.email])).toEqual([
      ['f-1', '=SUM(1)', '@cmd', 'f1@example.com'],
    ]);
  });
});

describe('NDJSON line endings', () => {
  it('CR alone ends a line: each line is a row (blank lines counted), not the whole file one line', async () => {
    const t = await tenant();
    const lines = ['{"vendor_data":"cr-1","display_name":"Ana"}', '', '{"vendor_data":"cr-2","email":"nope"}', '{"vendor_data":"cr-3","tags":["x"]}'];
    const done = await importFile(stack, t.token, `${lines.join('\r')}\r`, 'export.txt');
    expect(done).toMatchObject({ status: 'COMPLETED', total_rows: 3, valid_rows: 2, invalid_rows: 1, created_count: 2 });
    expect(done.options.detected).toEqual({ format: 'ndjson', encoding: 'utf-8', delimiter: null, sheet: null });
    expect(await invalidCodes(t.token, done.id)).toEqual([[4, 'cr-2', ['invalid_email']]]);
    expect((await usersOf(t.applicationId)).map((u) => [u.vendor_data, u.display_name, u.tags])).toEqual([
      ['cr-1', 'Ana', []],
      ['cr-3', null, ['x']],
    ]);
  });
});

describe('format: detected from the content, then the file name', () => {
  const file = '{"vendor_data": "b-1", broken\n{"vendor_data":"b-2","display_name":"Bo"}\n{"vendor_data":"b-3"}\n';

  it('users.ndjson whose first line is broken JSON is NDJSON: that line an invalid row, the rest imported', async () => {
    const t = await tenant();
    const preview = await uploadAndValidate(stack, t.token, file, 'users.ndjson');
    expect(preview).toMatchObject({ status: 'AWAITING_CONFIRMATION', total_rows: 3, valid_rows: 2, invalid_rows: 1 });
    expect(preview.options).toMatchObject({
      format: 'ndjson',
      encoding: 'utf-8',
      delimiter: null,
      sheet: null,
      detected: { format: 'ndjson', encoding: 'utf-8', delimiter: null, sheet: null },
    });
    const stored = await storedImport(preview.id);
    expect(stored.options).toEqual({});
    expect(stored.detected).toEqual({ format: 'ndjson', encoding: 'utf-8', delimiter: null, sheet: null });
    expect(await invalidCodes(t.token, preview.id)).toEqual([[2, null, ['invalid_json_line']]]);

    const done = await confirm(t.token, preview.id);
    expect(done).toMatchObject({ created_count: 2, skipped_count: 1 });
    expect((await usersOf(t.applicationId)).map((u) => [u.vendor_data, u.display_name])).toEqual([
      ['b-2', 'Bo'],
      ['b-3', null],
    ]);
  });

  it('the same bytes named users.csv are a CSV (REJECTED: its header is no column); format given wins over the name', async () => {
    const t = await tenant();
    const asCsv = await uploadAndValidate(stack, t.token, file, 'users.csv');
    expect(asCsv).toMatchObject({
      status: 'REJECTED',
      error: { code: 'unknown_column' },
      options: { format: 'csv', detected: { format: 'csv', encoding: 'utf-8', delimiter: ',', sheet: null } },
    });
    const given = await previewWith(t.token, 'vendor_data\ng-1\n', 'users.ndjson', { format: 'csv' });
    expect(given.options).toMatchObject({ format: 'csv', detected: { format: 'csv', delimiter: ',' } });
    expect(given).toMatchObject({ valid_rows: 1, invalid_rows: 0 });
    expect(await usersOf(t.applicationId)).toEqual([]);
  });
});

describe('skipped_count', () => {
  it('counts the invalid rows from the preview on, stored with the staging, and stays so once written', async () => {
    const t = await tenant();
    const preview = await uploadAndValidate(stack, t.token, 'vendor_data,email\ns-1,ok@example.com\ns-2,nope\n,x@example.com\nS-1,dup@example.com\n');
    expect(preview).toMatchObject({ status: 'AWAITING_CONFIRMATION', total_rows: 4, valid_rows: 1, invalid_rows: 3, skipped_count: 3, created_count: 0 });
    expect(await storedImport(preview.id)).toMatchObject({ invalid_rows: 3, skipped_count: 3 });
    const done = await confirm(t.token, preview.id);
    expect(done).toMatchObject({ created_count: 1, invalid_rows: 3, skipped_count: 3 });
    const audit = await stack.database.db.execute<{ details: Record<string, unknown> }>(sql`
      SELECT details FROM audit_log WHERE target_id = ${preview.id} AND action = 'users.import'`);
    expect(audit.rows.map((r) => r.details.skipped_count)).toEqual([3]);

    // Rows made invalid by the mode (create_only over an existing user) are counted too.
    const again = await previewWith(t.token, 'vendor_data\ns-1\ns-9\n', 'users.csv', { mode: 'create_only' });
    expect(again).toMatchObject({ valid_rows: 1, invalid_rows: 1, skipped_count: 1 });
    expect(await invalidCodes(t.token, again.id)).toEqual([[2, 's-1', ['already_exists']]]);
    expect(await storedImport(again.id)).toMatchObject({ skipped_count: 1 });
  });
});
