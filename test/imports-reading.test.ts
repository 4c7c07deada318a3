import ExcelJS from 'exceljs';
import iconv from 'iconv-lite';
import { sql } from 'drizzle-orm';
import { startTestStack, type TestStack } from './helpers/stack';
import { allRows, importFile, uploadAndValidate, importedUsers, ownerTenant } from './fixtures/imports/support';

/**
 * Issue 9, reading: files from other systems (encodings, delimiters, line endings, row shapes, xlsx, ndjson) through
 * the real stack, each checked by what is stored. The binary files are made here (iconv-lite, exceljs), not committed.
 * Header names are the template's: mapping other names is another part of the issue.
 */

let stack: TestStack;

// IMPORT_MAX_BYTES is small so that an xlsx may unpack to at most 10x 300000 characters of cell text.
beforeAll(async () => {
  stack = await startTestStack({ env: { IMPORT_MAX_ROWS: '100000', IMPORT_CHUNK_ROWS: '3', IMPORT_MAX_BYTES: '300000' } });
});
afterAll(async () => {
  await stack?.stop();
});

const tenant = () => ownerTenant(stack);
const usersOf = (applicationId: string) => importedUsers(stack, applicationId);

async function rawOf(importId: string, rowNumber: number): Promise<string[]> {
  const result = await stack.database.db.execute<{ raw: string[] }>(
    sql`SELECT raw FROM import_rows WHERE import_id = ${importId} AND row_number = ${rowNumber}`,
  );
  return result.rows[0].raw;
}

/** Imports `file` and returns the users stored, as [vendor_data, display_name]. */
async function importNames(file: Buffer | string) {
  const t = await tenant();
  const done = await importFile(stack, t.token, file);
  return { done, t, names: (await usersOf(t.applicationId)).map((u) => [u.vendor_data, u.display_name]) };
}

async function expectRejected(file: Buffer, code: string) {
  const t = await tenant();
  const result = await uploadAndValidate(stack, t.token, file, 'users.xlsx');
  expect(result).toMatchObject({ status: 'REJECTED', error: { code }, total_rows: 0, valid_rows: 0 });
  expect(await allRows(stack, t.token, result.id)).toEqual([]);
  expect(await usersOf(t.applicationId)).toEqual([]);
  return result.error.message as string;
}

describe('reading: encodings', () => {
  it('Windows-1252 with accents (and the euro sign, which ISO-8859-1 lacks)', async () => {
    const text = 'vendor_data,display_name,full_name\r\nw-1,José Núñez,Müller € Ltd\r\nw-2,Çà,\r\n';
    const { done, names, t } = await importNames(iconv.encode(text, 'windows-1252'));
    expect(done).toMatchObject({ status: 'COMPLETED', created_count: 2 });
    expect(names).toEqual([
      ['w-1', 'José Núñez'],
      ['w-2', 'Çà'],
    ]);
    expect((await usersOf(t.applicationId))[0].full_name).toBe('Müller € Ltd');
  });

  it('Windows-1252 whose first accent comes after the first 64 KiB: read again as windows-1252, not rejected', async () => {
    // API.md: "UTF-8 if the bytes are valid UTF-8, else windows-1252"; detection looks at the first 64 KiB only.
    const ascii = Array.from({ length: 4000 }, (_, i) => `late-${i},Ana ${i}`).join('\r\n');
    const file = iconv.encode(`vendor_data,display_name\r\n${ascii}\r\nlate-x,José €\r\n`, 'windows-1252');
    expect(file.indexOf(0xe9)).toBeGreaterThan(64 * 1024);
    const t = await tenant();
    const preview = await uploadAndValidate(stack, t.token, file, 'users.csv');
    expect(preview).toMatchObject({ status: 'AWAITING_CONFIRMATION', total_rows: 4001, valid_rows: 4001 });
    expect(preview.options).toMatchObject({ encoding: 'windows-1252', detected: { format: 'csv', encoding: 'windows-1252', delimiter: ',' } });
    // Staged once: the first read's rows were rolled back with its transaction.
    const staged = await stack.database.db.execute<{ n: number; last: string }>(
      sql`SELECT count(*)::int AS n, max(display_name) FILTER (WHERE vendor_data = 'late-x') AS last FROM import_rows WHERE import_id = ${preview.id}`,
    );
    expect(staged.rows[0]).toEqual({ n: 4001, last: 'José €' });
    const last = await allRows(stack, t.token, preview.id);
    expect(last.at(-1)).toMatchObject({ row_number: 4002, vendor_data: 'late-x', action: 'create', raw: { display_name: 'José €' } });
  });

  it('the same for an application with users (staged through the staging table), and for a file ending in the accent', async () => {
    const t = await tenant();
    await importFile(stack, t.token, 'vendor_data,display_name\nlate-1,Old\n');
    const ascii = Array.from({ length: 4000 }, (_, i) => `late-${i},Ana ${i}`).join('\n');
    const preview = await uploadAndValidate(stack, t.token, iconv.encode(`vendor_data,display_name\n${ascii}\nlate-x,José`, 'windows-1252'), 'users.csv');
    expect(preview).toMatchObject({ status: 'AWAITING_CONFIRMATION', total_rows: 4001, to_create: 4000, to_update: 1 });
    expect(preview.options.detected).toMatchObject({ encoding: 'windows-1252' });
    const staged = await stack.database.db.execute<{ n: number; last: string }>(
      sql`SELECT count(*)::int AS n, max(display_name) FILTER (WHERE vendor_data = 'late-x') AS last FROM import_rows WHERE import_id = ${preview.id}`,
    );
    expect(staged.rows[0]).toEqual({ n: 4001, last: 'José' });
  });

  it('UTF-16LE with a BOM and tabs (Excel "Unicode text")', async () => {
    const text = 'vendor_data\tdisplay_name\temail\r\nu-1\tZoë 😀\tzoe@example.com\r\nu-2\t"a, b"\t\r\n';
    const { done, t } = await importNames(Buffer.concat([Buffer.from([0xff, 0xfe]), iconv.encode(text, 'utf-16le')]));
    expect(done).toMatchObject({ status: 'COMPLETED', created_count: 2 });
    expect((await usersOf(t.applicationId)).map((u) => [u.vendor_data, u.display_name, u.email])).toEqual([
      ['u-1', 'Zoë 😀', 'zoe@example.com'],
      ['u-2', 'a, b', null],
    ]);
  });

  it('UTF-16BE with a BOM', async () => {
    const text = 'vendor_data,display_name\nb-1,Ñandú\n';
    const { names } = await importNames(Buffer.concat([Buffer.from([0xfe, 0xff]), iconv.encode(text, 'utf-16be')]));
    expect(names).toEqual([['b-1', 'Ñandú']]);
  });
});

describe('reading: delimiters and line endings', () => {
  it.each([
    ['semicolon', ';'],
    ['tab', '\t'],
    ['pipe', '|'],
  ])('%s delimited, detected from the header line', async (_name, d) => {
    const text = `vendor_data${d}display_name${d}tags\nd-1${d}"Ana${d} B"${d}"x,y"\nd-2${d}Bo${d}\n`;
    const { done, t } = await importNames(text);
    expect(done).toMatchObject({ status: 'COMPLETED', created_count: 2 });
    expect((await usersOf(t.applicationId)).map((u) => [u.vendor_data, u.display_name, u.tags])).toEqual([
      ['d-1', `Ana${d} B`, ['x', 'y']],
      ['d-2', 'Bo', []],
    ]);
  });

  it("Excel's sep=; first line is honoured and is not the header (row numbers start after it)", async () => {
    const t = await tenant();
    const done = await importFile(stack, t.token, 'sep=;\r\nvendor_data;display_name;email\r\ns-1;Ana, B;\r\ns-2;Bo;nope\r\n');
    expect(done).toMatchObject({ status: 'COMPLETED', total_rows: 2, created_count: 1, invalid_rows: 1 });
    expect((await usersOf(t.applicationId)).map((u) => [u.vendor_data, u.display_name])).toEqual([['s-1', 'Ana, B']]);
    const [invalid] = await allRows(stack, t.token, done.id, 'invalid');
    expect(invalid).toMatchObject({ row_number: 3, vendor_data: 's-2', errors: [{ column: 'email', code: 'invalid_email' }] });
  });

  it('CR-only line endings (old Mac), a quoted CR kept as data', async () => {
    const { done, t } = await importNames('vendor_data,display_name,full_name\rc-1,Ana,"two\rlines"\rc-2,Bo,\r');
    expect(done).toMatchObject({ status: 'COMPLETED', total_rows: 2, created_count: 2 });
    expect((await usersOf(t.applicationId)).map((u) => [u.vendor_data, u.display_name, u.full_name])).toEqual([
      ['c-1', 'Ana', 'two\rlines'],
      ['c-2', 'Bo', null],
    ]);
  });
});

describe('reading: row shapes', () => {
  it('a short row has its missing trailing cells read as empty', async () => {
    const { done, t } = await importNames('vendor_data,display_name,email,country\nr-1,Ana,ana@example.com,ESP\nr-2,Bo\n');
    expect(done).toMatchObject({ status: 'COMPLETED', total_rows: 2, created_count: 2 });
    expect((await usersOf(t.applicationId)).map((u) => [u.vendor_data, u.display_name, u.email, u.country])).toEqual([
      ['r-1', 'Ana', 'ana@example.com', 'ESP'],
      ['r-2', 'Bo', null, null],
    ]);
  });

  it('a long row is the row error too_many_fields; the other rows are written', async () => {
    const t = await tenant();
    const done = await importFile(stack, t.token, 'vendor_data,display_name\nl-1,Ana\nl-2,Bo,extra\nl-3,Cy\n');
    expect(done).toMatchObject({ status: 'COMPLETED', total_rows: 3, valid_rows: 2, invalid_rows: 1, created_count: 2 });
    const [invalid] = await allRows(stack, t.token, done.id, 'invalid');
    expect(invalid).toMatchObject({ row_number: 3, vendor_data: 'l-2' });
    expect(invalid.errors).toEqual([{ column: '', code: 'too_many_fields', message: 'line 3 (row 3) has 3 fields, the header has 2' }]);
    expect(await rawOf(done.id, 3)).toEqual(['l-2', 'Bo', 'extra']);
    // The preview's raw keeps the cell past the header, named by its place.
    expect(invalid.raw).toEqual({ vendor_data: 'l-2', display_name: 'Bo', '(field 3)': 'extra' });
    expect((await usersOf(t.applicationId)).map((u) => u.vendor_data)).toEqual(['l-1', 'l-3']);
  });
});

describe('reading: xlsx', () => {
  it('reads the first sheet; numbers, a date and a phone stored as a number as the text a person sees', async () => {
    const workbook = new ExcelJS.Workbook();
    const sheet = workbook.addWorksheet('Users');
    sheet.addRow(['vendor_data', 'display_name', 'full_name', 'phone', 'tags']);
    sheet.addRow([1234567890123, 12.5, new Date(Date.UTC(1990, 4, 17)), '+34600111222', 'a,b']);
    sheet.getCell('C2').numFmt = 'dd/mm/yyyy';
    sheet.addRow(['x-2', { richText: [{ text: 'Rich ' }, { text: 'Text', font: { bold: true } }] }, { formula: '1+1', result: 2 }, 34600111222]);
    sheet.addRow([]);
    sheet.addRow(['x-4', 'after a blank row']);
    workbook.addWorksheet('Other').addRow(['vendor_data', 'display_name']).commit();
    const file = Buffer.from(await workbook.xlsx.writeBuffer());

    const t = await tenant();
    const done = await importFile(stack, t.token, file);
    expect(done).toMatchObject({ status: 'COMPLETED', total_rows: 3, created_count: 2, invalid_rows: 1 });
    expect((await usersOf(t.applicationId)).map((u) => [u.vendor_data, u.display_name, u.full_name, u.phone, u.tags])).toEqual([
      ['1234567890123', '12.5', '1990-05-17', '+34600111222', ['a', 'b']],
      ['x-4', 'after a blank row', null, null, []],
    ]);
    // The phone stored as a number is read as its digits (not 3.46E+10); without a + it breaks the phone rule.
    const [invalid] = await allRows(stack, t.token, done.id, 'invalid');
    expect(invalid).toMatchObject({ row_number: 3, vendor_data: 'x-2', errors: [{ column: 'phone', code: 'invalid_phone' }] });
    expect(await rawOf(done.id, 3)).toEqual(['x-2', 'Rich Text', '2', '34600111222']);
    expect((await rawOf(done.id, 5)).slice(0, 2)).toEqual(['x-4', 'after a blank row']);
  });

  it('a file that looks like a zip but is not a workbook is REJECTED invalid_xlsx, nothing written', async () => {
    const message = await expectRejected(Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(2000, 7)]), 'invalid_xlsx');
    expect(message).toMatch(/not a readable xlsx workbook/);
  });

  it('a small workbook whose content is huge (a zip bomb) is REJECTED invalid_xlsx, nothing written', async () => {
    const workbook = new ExcelJS.Workbook();
    const sheet = workbook.addWorksheet('Bomb');
    sheet.addRow(['vendor_data', 'display_name']);
    const big = 'x'.repeat(1000);
    for (let i = 0; i < 4000; i++) sheet.addRow([`b-${i}`, big]);
    const file = Buffer.from(await workbook.xlsx.writeBuffer());
    expect(file.length).toBeLessThan(300_000);
    const message = await expectRejected(file, 'invalid_xlsx');
    expect(message).toMatch(/unpacks to more than 3000000 characters of cell text/);
  });
});

describe('reading: ndjson', () => {
  it('one JSON object a line; tags a list, metadata an object; a line that is not an object is a row error', async () => {
    const lines = [
      JSON.stringify({ vendor_data: 'n-1', display_name: 'Ana', email_address: 'ana@example.com', tags: ['vip', 'eu'], metadata: { plan: 'pro', n: 1 }, source_system: 'legacy' }),
      '',
      '[1, 2]',
      JSON.stringify({ vendor_data: 'n-2', status: 'flagged', country: 'esp', phone: '+34600111222' }),
      '{"vendor_data": "n-3", broken',
      JSON.stringify({ vendor_data: 'n-4', tags: [1, 2] }),
    ];
    const t = await tenant();
    const done = await importFile(stack, t.token, lines.join('\n') + '\n');
    expect(done).toMatchObject({ status: 'COMPLETED', total_rows: 5, valid_rows: 2, invalid_rows: 3, created_count: 2 });
    // The keys as they were read: another system's names through the synonyms, and the one not read, shown as such.
    expect(done.mapping.map((m: any) => [m.header, m.column, m.source])).toEqual([
      ['vendor_data', 'vendor_data', 'exact'],
      ['display_name', 'display_name', 'exact'],
      ['email_address', 'email', 'synonym'],
      ['tags', 'tags', 'exact'],
      ['metadata', 'metadata_json', 'synonym'],
      ['source_system', null, 'ignored'],
      ['status', 'status', 'exact'],
      ['country', 'country', 'exact'],
      ['phone', 'phone', 'exact'],
    ]);
    expect((await usersOf(t.applicationId)).map((u) => [u.vendor_data, u.display_name, u.email, u.status, u.country, u.phone, u.tags, u.metadata])).toEqual([
      ['n-1', 'Ana', 'ana@example.com', 'ACTIVE', null, null, ['vip', 'eu'], { plan: 'pro', n: 1 }],
      ['n-2', null, null, 'FLAGGED', 'ESP', '+34600111222', [], {}],
    ]);
    const invalid = await allRows(stack, t.token, done.id, 'invalid');
    expect(invalid.map((r: any) => [r.row_number, r.errors.map((e: any) => e.code)])).toEqual([
      [4, ['invalid_json_line']],
      [6, ['invalid_json_line']],
      [7, ['invalid_tags']],
    ]);
    expect(invalid[0].errors[0].message).toBe('line 3 is a list, not a JSON object');
    expect(await rawOf(done.id, 4)).toEqual(['[1, 2]']);
  });
});
