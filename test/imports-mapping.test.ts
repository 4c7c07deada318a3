import fs from 'node:fs';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { api, createTenant, startTestStack, type TestStack, type TestTenant } from './helpers/stack';
import { csvOf, uploadWith as uploadFile, waitForStatus } from './fixtures/imports/support';

/** Files from other systems: upload options, header resolution (mapping, saved, preset, synonym, exact), saved mappings. */

let stack: TestStack;
let tenant: TestTenant;

beforeAll(async () => {
  stack = await startTestStack();
  tenant = await createTenant(stack.database.db);
});
afterAll(async () => {
  await stack?.stop();
});

function uploadWith(content: string | Buffer, fields: Record<string, string>, fileName = 'vendor.csv', token = tenant.operators.ADMIN.token) {
  return uploadFile(stack, token, content, fields, fileName);
}

async function importCount(): Promise<number> {
  const result = await stack.database.db.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM imports WHERE application_id = ${tenant.applicationId}`);
  return result.rows[0].n;
}

function storedUploads(): string[] {
  const dir = path.join(stack.config.storage.localDir, 'imports', tenant.applicationId);
  return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
}

describe('upload options', () => {
  it.each([
    [{ mode: 'overwrite' }, 'mode', 'invalid_option'],
    [{ encoding: 'ebcdic' }, 'encoding', 'invalid_option'],
    [{ delimiter: '#' }, 'delimiter', 'invalid_option'],
    [{ mapping: '[1,2]' }, 'mapping', 'invalid_option'],
    [{ mapping: '{"Ref": "shoe_size"}' }, 'mapping', 'unknown_column'],
    [{ default_phone_country: 'Spain' }, 'default_phone_country', 'invalid_option'],
    [{ colour: 'blue' }, 'colour', 'unknown_field'],
    [{ delimiter: ' ' }, 'delimiter', 'invalid_option'],
    [{ constructor: '' }, 'constructor', 'unknown_field'],
  ])('refuses %j with 400 invalid_field naming the field, and stores nothing', async (fields, field, code) => {
    const before = { imports: await importCount(), files: storedUploads().length };
    const res = await uploadWith(csvOf(['vendor_data'], [['opt-1']]), fields);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_field');
    expect(res.body.error.details).toEqual([expect.objectContaining({ field, code })]);
    expect(await importCount()).toBe(before.imports);
    expect(storedUploads()).toHaveLength(before.files);
  });

  it('takes an option sent empty as not given (a form sends its empty fields)', async () => {
    const res = await uploadWith(csvOf(['vendor_data'], [['opt-empty']]), { mode: '', encoding: '', delimiter: '', mapping: '', sheet: '' });
    expect(res.status).toBe(202);
    const done = await waitForStatus(stack, tenant.operators.ADMIN.token, res.body.id, ['AWAITING_CONFIRMATION']);
    expect(done.options).toMatchObject({ mode: 'upsert', encoding: 'utf-8', delimiter: ',', mapping: null });
    const stored = await stack.database.db.execute<{ options: Record<string, unknown> }>(sql`SELECT options FROM imports WHERE id = ${res.body.id}`);
    expect(stored.rows[0].options).toEqual({});
  });

  it('shows the options on the import object, given or default, and what the reader detected', async () => {
    const res = await uploadWith(csvOf(['vendor_data'], [['opt-2']]), { mode: 'CREATE_ONLY', tags_mode: 'add', default_phone_country: 'es' });
    expect(res.status).toBe(202);
    const done = await waitForStatus(stack, tenant.operators.ADMIN.token, res.body.id, ['AWAITING_CONFIRMATION']);
    expect(done.options).toMatchObject({
      mode: 'create_only',
      tags_mode: 'add',
      default_phone_country: 'ES',
      empty_cells: 'keep',
      metadata_mode: 'merge',
      save_mapping: false,
      preset: null,
      mapping: null,
      format: 'csv',
      encoding: 'utf-8',
      delimiter: ',',
      detected: { format: 'csv', encoding: 'utf-8', delimiter: ',', sheet: null },
    });
    const stored = await stack.database.db.execute<{ options: Record<string, unknown> }>(sql`SELECT options FROM imports WHERE id = ${res.body.id}`);
    expect(stored.rows[0].options).toEqual({ mode: 'create_only', tags_mode: 'add', default_phone_country: 'ES' });
  });

  it('a REJECTED import still shows what the file was read as (the delimiter or encoding that explains the error)', async () => {
    // Semicolons with Windows-1252 accents: an unknown column, which the detected delimiter and encoding explain.
    const res = await uploadWith(Buffer.from('vendor_data;Straße\r\nr-1;x\r\n', 'latin1'), {});
    const rejected = await waitForStatus(stack, tenant.operators.ADMIN.token, res.body.id, ['REJECTED']);
    expect(rejected.error.code).toBe('unknown_column');
    expect(rejected.options).toMatchObject({
      format: 'csv',
      encoding: 'windows-1252',
      delimiter: ';',
      detected: { format: 'csv', encoding: 'windows-1252', delimiter: ';', sheet: null },
    });
    // Not a workbook, though named so: the format it was read as.
    const notZip = await uploadWith('vendor_data\nx\n', { format: 'xlsx' });
    const notXlsx = await waitForStatus(stack, tenant.operators.ADMIN.token, notZip.body.id, ['REJECTED']);
    expect([notXlsx.error.code, notXlsx.options.detected]).toEqual(['invalid_xlsx', { format: 'xlsx', encoding: null, delimiter: null, sheet: null }]);
  });
});

it('reads a file with the encoding and delimiter given, over what it would detect', async () => {
  // Windows-1252 bytes, semicolons: given explicitly (an override wins over detection).
  const text = 'external_id;display_name\r\nw-1;Jos\u00e9 Mu\u00f1oz\r\n';
  const bytes = Buffer.from(text, 'latin1');
  const form = new FormData();
  form.append('file', new Blob([bytes], { type: 'text/csv' }), 'excel.csv');
  form.append('encoding', 'windows-1252');
  form.append('delimiter', ';');
  const res = await fetch(`${stack.baseUrl}/console/users/imports`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tenant.operators.ADMIN.token}` },
    body: form,
  });
  expect(res.status).toBe(202);
  const id = ((await res.json()) as any).id;
  const preview = await waitForStatus(stack, tenant.operators.ADMIN.token, id, ['AWAITING_CONFIRMATION']);
  expect(preview.options).toMatchObject({ format: 'csv', encoding: 'windows-1252', delimiter: ';' });
  const rows = await api(stack, 'GET', `/console/users/imports/${id}/rows`, { token: tenant.operators.ADMIN.token });
  expect(rows.body.results[0].raw).toEqual({ external_id: 'w-1', display_name: 'José Muñoz' });
});

describe('header resolution', () => {
  it("reads a vendor's headers through the synonyms, joins first and last name, and says how each header was read", async () => {
    const file = csvOf(
      ['external_id', 'first_name', 'last_name', 'email_address', 'phone_number', 'country_code', 'created_at'],
      [['syn-1', 'Ana', 'García', 'ana@example.com', '+34600111222', 'ESP', '2024-01-01']],
    );
    const res = await uploadWith(file, {});
    const preview = await waitForStatus(stack, tenant.operators.ADMIN.token, res.body.id, ['AWAITING_CONFIRMATION']);
    expect(preview.mapping).toEqual([
      { header: 'external_id', column: 'vendor_data', source: 'synonym' },
      { header: 'first_name', column: 'first_name', source: 'synonym' },
      { header: 'last_name', column: 'last_name', source: 'synonym' },
      { header: 'email_address', column: 'email', source: 'synonym' },
      { header: 'phone_number', column: 'phone', source: 'synonym' },
      { header: 'country_code', column: 'country', source: 'synonym' },
      { header: 'created_at', column: null, source: 'ignored' },
    ]);
    await api(stack, 'POST', `/console/users/imports/${preview.id}/confirm`, { token: tenant.operators.ADMIN.token });
    await waitForStatus(stack, tenant.operators.ADMIN.token, preview.id, ['COMPLETED']);
    const user = await stack.database.db.execute<Record<string, unknown>>(
      sql`SELECT full_name, email, phone, country FROM users WHERE application_id = ${tenant.applicationId} AND vendor_data = 'syn-1'`,
    );
    expect(user.rows[0]).toEqual({ full_name: 'Ana García', email: 'ana@example.com', phone: '+34600111222', country: 'ESP' });
  });

  it('maps a Clerk export with the clerk preset', async () => {
    const file = csvOf(
      ['id', 'first_name', 'last_name', 'username', 'primary_email_address', 'primary_phone_number', 'verified_email_addresses', 'password_digest', 'password_hasher'],
      [['user_2abc', 'Bo', 'Li', 'bo', 'bo@example.com', '+4915112345678', 'bo@example.com', '$2a$10$x', 'bcrypt']],
    );
    const res = await uploadWith(file, { preset: 'clerk' }, 'clerk-export.csv');
    const preview = await waitForStatus(stack, tenant.operators.ADMIN.token, res.body.id, ['AWAITING_CONFIRMATION']);
    expect(preview.mapping.map((m: any) => [m.header, m.column, m.source])).toEqual([
      ['id', 'vendor_data', 'preset'],
      ['first_name', 'first_name', 'preset'],
      ['last_name', 'last_name', 'preset'],
      ['username', 'display_name', 'preset'],
      ['primary_email_address', 'email', 'preset'],
      ['primary_phone_number', 'phone', 'preset'],
      ['verified_email_addresses', null, 'preset'],
      ['password_digest', null, 'preset'],
      ['password_hasher', null, 'preset'],
    ]);
    expect(preview).toMatchObject({ to_create: 1, invalid_rows: 0 });
  });

  it('saves a mapping, resolves the next file with the same headers from it, lists and deletes it', async () => {
    const token = tenant.operators.ADMIN.token;
    const headers = ['Ref', 'Given', 'Mail'];
    const mapping = JSON.stringify({ Ref: 'vendor_data', Given: 'display_name', Mail: 'email' });
    const first = await uploadWith(csvOf(headers, [['sv-1', 'One', 'one@example.com']]), { mapping, save_mapping: 'true' });
    const firstPreview = await waitForStatus(stack, token, first.body.id, ['AWAITING_CONFIRMATION']);
    expect(firstPreview.mapping.every((m: any) => m.source === 'mapping')).toBe(true);

    const second = await uploadWith(csvOf(['mail', 'ref', 'given'].map((h) => h[0].toUpperCase() + h.slice(1)), [['two@example.com', 'sv-2', 'Two']]), {});
    const secondPreview = await waitForStatus(stack, token, second.body.id, ['AWAITING_CONFIRMATION']);
    expect(secondPreview.mapping).toEqual([
      { header: 'Mail', column: 'email', source: 'saved' },
      { header: 'Ref', column: 'vendor_data', source: 'saved' },
      { header: 'Given', column: 'display_name', source: 'saved' },
    ]);

    const listed = await api(stack, 'GET', '/console/users/import-mappings', { token });
    expect(listed.status).toBe(200);
    const saved = listed.body.results.find((m: any) => m.headers.join() === headers.join());
    expect(saved).toMatchObject({ mapping: { Ref: 'vendor_data', Given: 'display_name', Mail: 'email' }, operator: { email: tenant.operators.ADMIN.email } });
    expect((await api(stack, 'GET', '/console/users/import-mappings', { token: tenant.operators.READER.token })).status).toBe(403);
    const other = await createTenant(stack.database.db);
    expect((await api(stack, 'DELETE', `/console/users/import-mappings/${saved.id}`, { token: other.operators.ADMIN.token })).status).toBe(404);
    expect((await api(stack, 'DELETE', `/console/users/import-mappings/${saved.id}`, { token })).status).toBe(204);

    const third = await uploadWith(csvOf(headers, [['sv-3', 'Three', 'three@example.com']]), {});
    const rejected = await waitForStatus(stack, token, third.body.id, ['REJECTED']);
    expect(rejected.error.code).toBe('unknown_column');
  });

  it('lists saved mappings a page at a time, newest first (limit, cursor), and refuses a bad limit', async () => {
    const own = await createTenant(stack.database.db);
    const token = own.operators.ADMIN.token;
    for (const [i, at] of ['2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z', '2026-01-03T00:00:00Z'].entries()) {
      await stack.database.db.execute(sql`INSERT INTO import_mappings (application_id, headers_key, headers, mapping, created_at)
        VALUES (${own.applicationId}, ${`k${i}`}, ARRAY[${`H${i}`}], ${JSON.stringify({ [`H${i}`]: 'vendor_data' })}::jsonb, ${at})`);
    }
    const first = await api(stack, 'GET', '/console/users/import-mappings?limit=2', { token });
    expect(first.status).toBe(200);
    expect(first.body.results.map((m: any) => m.headers)).toEqual([['H2'], ['H1']]);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const next = await api(stack, 'GET', `/console/users/import-mappings?limit=2&cursor=${first.body.next_cursor}`, { token });
    expect(next.body).toEqual({ results: [expect.objectContaining({ headers: ['H0'] })], next_cursor: null });
    for (const limit of ['0', '201', 'x']) {
      const bad = await api(stack, 'GET', `/console/users/import-mappings?limit=${limit}`, { token });
      expect([limit, bad.status, bad.body.error.code]).toEqual([limit, 400, 'invalid_limit']);
    }
    expect((await api(stack, 'GET', '/console/users/import-mappings?cursor=nope', { token })).body.error.code).toBe('invalid_cursor');
  });

  it('refuses two headers that resolve to one column', async () => {
    const res = await uploadWith(csvOf(['vendor_data', 'email', 'email_address'], [['dup-1', 'a@example.com', 'b@example.com']]), {});
    const rejected = await waitForStatus(stack, tenant.operators.ADMIN.token, res.body.id, ['REJECTED']);
    expect(rejected.error).toMatchObject({ code: 'duplicate_column' });
    expect(rejected.error.message).toMatch(/email \(email \/ email_address\)/);
  });
});
