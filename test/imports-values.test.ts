import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { sql } from 'drizzle-orm';
import { api, createTenant, startTestStack, type TestStack, type TestTenant } from './helpers/stack';
import { csvOf } from './fixtures/imports/support';
import { listPendingChunks, writeChunk } from '../src/imports/chunks';
import { poolOf } from '../src/imports/pool';
import { insertImport } from '../src/imports/queries';
import { stageImportFile } from '../src/imports/staging';
import { recordApprovedSession } from '../src/users/queries';

/**
 * Issue 9's values and modes, against the real Postgres: an import row is made as the upload makes it, its options
 * stored in imports.options (the upload route does not take them yet), staged with stageImportFile and written chunk
 * by chunk with writeChunk (what the workflow's activities call); the preview is read through the console API.
 */

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack({ worker: false });
});
afterAll(async () => {
  await stack?.stop();
});

type Tenant = TestTenant & { token: string };

async function tenant(): Promise<Tenant> {
  const t = await createTenant(stack.database.db);
  return { ...t, token: t.operators.OWNER.token };
}

/** Stages `file` as an import of `t` with `options` (stored on the import row, as the chunk write reads them). */
async function stage(t: Tenant, file: string, options: Record<string, string> = {}) {
  const id = randomUUID();
  const db = stack.database.db;
  await insertImport(db, {
    id,
    applicationId: t.applicationId,
    operatorId: t.operators.OWNER.id,
    fileName: 'values.csv',
    fileSha256: '0'.repeat(64),
    fileBytes: Buffer.byteLength(file),
    storageKey: `test/${id}`,
    workflowId: `users-import-${id}`,
  });
  await db.execute(sql`UPDATE imports SET options = ${JSON.stringify(options)}::jsonb WHERE id = ${id}`);
  const outcome = await stageImportFile(poolOf(db), {
    importId: id,
    applicationId: t.applicationId,
    openFile: async () => Readable.from([Buffer.from(file)]),
    maxRows: 1000,
    chunkRows: 2,
  });
  expect(outcome.status).toBe('AWAITING_CONFIRMATION');
  return { id, counts: outcome.status === 'AWAITING_CONFIRMATION' ? outcome.counts : undefined };
}

/** Confirms and writes every chunk, as the workflow does. */
async function write(importId: string) {
  const db = stack.database.db;
  await db.execute(sql`UPDATE imports SET status = 'RUNNING', confirmed_at = now() WHERE id = ${importId}`);
  const totals = { created: 0, updated: 0, unchanged: 0 };
  for (const chunk of await listPendingChunks(db, importId)) {
    const result = await writeChunk(db, importId, chunk.chunkNo);
    expect(result.outcome).toBe('written');
    totals.created += result.created;
    totals.updated += result.updated;
    totals.unchanged += result.unchanged;
  }
  return totals;
}

async function previewRows(t: Tenant, importId: string, token = t.token) {
  const res = await api(stack, 'GET', `/console/users/imports/${importId}/rows?limit=100`, { token });
  expect(res.status).toBe(200);
  return res.body.results as any[];
}

async function usersOf(applicationId: string) {
  const result = await stack.database.db.execute<Record<string, any>>(sql`
    SELECT vendor_data, display_name, full_name, date_of_birth, email, phone, country, status, tags, metadata,
      verified_fields, session_count, approved_count, declined_count, in_review_count, created_at, updated_at
    FROM users WHERE application_id = ${applicationId} ORDER BY vendor_data_key`);
  return Object.fromEntries(result.rows.map((u) => [u.vendor_data as string, u])) as Record<string, Record<string, any>>;
}

/** A user with every field set, a verified full_name and counters (one approved session). */
async function seedUser(t: Tenant, vendorData: string) {
  const res = await api(stack, 'POST', '/v3/users/create/', {
    apiKey: t.apiKey,
    body: {
      vendor_data: vendorData,
      display_name: 'Shown',
      email: `${vendorData}@example.com`,
      phone: '+34600000001',
      country: 'FRA',
      status: 'FLAGGED',
      tags: ['a', 'b'],
      metadata: { plan: 'pro', region: 'eu' },
    },
  });
  expect(res.status).toBe(201);
  await recordApprovedSession(stack.database.db, { applicationId: t.applicationId, vendorData, fullName: 'Verified Name' });
}

const HEADER = ['vendor_data', 'display_name', 'full_name', 'email', 'phone', 'country', 'status', 'tags', 'metadata_json'];

describe('normalised values', () => {
  it('stores alpha-3, E.164 and upper-case statuses, and the preview reports what was normalised', async () => {
    const t = await tenant();
    const file = csvOf(['vendor_data', 'phone', 'country', 'status'], [
      ['n-1', '+34 600-11-12-22', 'ES', 'active'],
      ['n-2', '600 11 12 33', 'Spain', ''],
      ['n-3', '+34600111244', 'esp', 'Blocked'],
      ['n-4', '3.46E+10', 'spain', ''],
    ]);
    const { id, counts } = await stage(t, file, { default_phone_country: 'esp' });
    expect(counts).toMatchObject({ validRows: 3, invalidRows: 1, toCreate: 3 });
    const rows = await previewRows(t, id);
    expect(rows.map((r) => [r.row_number, r.action, r.normalized])).toEqual([
      [
        2,
        'create',
        [
          { field: 'phone', from: '+34 600-11-12-22', to: '+34600111222' },
          { field: 'country', from: 'ES', to: 'ESP' },
          { field: 'status', from: 'active', to: 'ACTIVE' },
        ],
      ],
      [
        3,
        'create',
        [
          { field: 'phone', from: '600 11 12 33', to: '+34600111233' },
          { field: 'country', from: 'Spain', to: 'ESP' },
        ],
      ],
      // Letter case is reported too: nothing is stored differently from the file without saying so.
      [
        4,
        'create',
        [
          { field: 'country', from: 'esp', to: 'ESP' },
          { field: 'status', from: 'Blocked', to: 'BLOCKED' },
        ],
      ],
      // The country of an invalid row is still reported; the phone is an error that names the spreadsheet.
      [5, 'invalid', [{ field: 'country', from: 'spain', to: 'ESP' }]],
    ]);
    expect(rows[3].errors).toEqual([{ column: 'phone', code: 'invalid_phone', message: expect.stringMatching(/scientific notation.*spreadsheet/) }]);
    expect(await write(id)).toEqual({ created: 3, updated: 0, unchanged: 0 });
    const users = await usersOf(t.applicationId);
    expect(Object.values(users).map((u) => [u.vendor_data, u.phone, u.country, u.status])).toEqual([
      ['n-1', '+34600111222', 'ESP', 'ACTIVE'],
      ['n-2', '+34600111233', 'ESP', 'ACTIVE'],
      ['n-3', '+34600111244', 'ESP', 'BLOCKED'],
    ]);
  });

  it('without default_phone_country a national number is invalid_phone', async () => {
    const t = await tenant();
    const { id } = await stage(t, csvOf(['vendor_data', 'phone'], [['p-1', '600 11 12 22']]));
    const [row] = await previewRows(t, id);
    expect(row).toMatchObject({ action: 'invalid', errors: [{ column: 'phone', code: 'invalid_phone' }] });
  });
});

describe('preview changes', () => {
  it('lists what an update row will change; personal fields only for roles that may export every column', async () => {
    const t = await tenant();
    await seedUser(t, 'c-1');
    const file = csvOf(HEADER, [['c-1', 'New shown', 'Other Name', 'new@example.com', '+34 600 000 002', 'DE', 'flagged', 'c', '{"plan":"free"}']]);
    const { id } = await stage(t, file);
    const [owner] = await previewRows(t, id);
    expect(owner).toMatchObject({ action: 'update', kept_fields: ['full_name'] });
    expect(owner.changes).toEqual([
      { field: 'display_name', from: 'Shown', to: 'New shown' },
      { field: 'email', from: 'c-1@example.com', to: 'new@example.com' },
      { field: 'phone', from: '+34600000001', to: '+34600000002' },
      { field: 'country', from: 'FRA', to: 'DEU' },
      { field: 'tags', from: ['a', 'b'], to: ['c'] },
      { field: 'metadata', from: { plan: 'pro', region: 'eu' }, to: { plan: 'free', region: 'eu' } },
    ]);
    const [reader] = await previewRows(t, id, t.operators.READER.token);
    expect(reader.changes).toEqual([
      { field: 'display_name', from: 'Shown', to: 'New shown' },
      { field: 'country', from: 'FRA', to: 'DEU' },
      { field: 'tags', from: ['a', 'b'], to: ['c'] },
    ]);
  });
});

describe('staging in place (an application without users) and through the staging table', () => {
  /** What staging left: each row's verdict, chunk and error codes, and the chunks. */
  async function stagedOf(importId: string) {
    const db = stack.database.db;
    const rows = await db.execute<{ row_number: number; action: string; chunk_no: number | null; codes: string[] | null; kept: string[] }>(sql`
      SELECT row_number, action, chunk_no, (SELECT array_agg(e->>'code') FROM jsonb_array_elements(errors) e) AS codes,
        COALESCE(kept_fields, '{}') AS kept
      FROM import_rows WHERE import_id = ${importId} ORDER BY row_number`);
    const chunks = await db.execute(sql`SELECT chunk_no, first_row, last_row, row_count FROM import_chunks WHERE import_id = ${importId} ORDER BY chunk_no`);
    return { rows: rows.rows, chunks: chunks.rows };
  }

  it('gives the same verdicts, chunks and counts either way; duplicates and update_only in an application without users', async () => {
    const file = csvOf(['vendor_data', 'display_name', 'email'], [
      ['s-1', 'One', 'one@example.com'],
      ['s-2', 'Two', 'bad-email'],
      ['S-1', 'Again', ''],
      ['s-3', 'Three', ''],
      ['s-4', 'Four', ''],
    ]);
    const empty = await tenant();
    const inPlace = await stage(empty, file);
    // An application with a user that the file does not name: the staging table.
    const other = await tenant();
    await seedUser(other, 'unrelated');
    const staged = await stage(other, file);
    expect(inPlace.counts).toEqual(staged.counts);
    expect(inPlace.counts).toMatchObject({ totalRows: 5, validRows: 3, invalidRows: 2, toCreate: 3, chunksTotal: 2 });
    const a = await stagedOf(inPlace.id);
    expect(a).toEqual(await stagedOf(staged.id));
    expect(a.rows.map((r) => [r.row_number, r.action, r.chunk_no, r.codes])).toEqual([
      [2, 'create', 0, null],
      [3, 'invalid', null, ['invalid_email']],
      [4, 'invalid', null, ['duplicate_in_file']],
      [5, 'create', 1, null],
      [6, 'create', 1, null],
    ]);
    // Chunks of 2 rows valid when read (the duplicate was one), summed from the rows left in them.
    expect(a.chunks).toEqual([
      { chunk_no: 0, first_row: 2, last_row: 2, row_count: 1 },
      { chunk_no: 1, first_row: 5, last_row: 6, row_count: 2 },
    ]);
    expect(await write(inPlace.id)).toEqual({ created: 3, updated: 0, unchanged: 0 });

    // update_only where no user exists: every valid row is not_found, in place; no chunk is left.
    const none = await tenant();
    const updateOnly = await stage(none, file, { mode: 'update_only' });
    expect(updateOnly.counts).toMatchObject({ totalRows: 5, validRows: 0, invalidRows: 5, chunksTotal: 0 });
    expect((await stagedOf(updateOnly.id)).rows.map((r) => r.codes)).toEqual([
      ['not_found'], ['invalid_email'], ['duplicate_in_file'], ['not_found'], ['not_found'],
    ]);
  });
});

describe('raw cells left out when they are the staged values', () => {
  const header = ['vendor_data', 'display_name', 'email', 'phone', 'country', 'status', 'tags', 'metadata_json', 'date_of_birth', 'first_name'];
  // [cells, whether they read back exactly from the staged values (raw then NULL)]
  const cases: [string[], boolean][] = [
    [['e-1', 'Ann', 'ann@example.com', '+34600000001', 'ESP', 'ACTIVE', 'a,b', '{"k":1}', '', ''], true],
    [['e-2', 'Bo', '', '', '', '', '', '{"q": "a\\"b", "n": [1, 2]}', '', ''], true],
    [['e-3', '', '', '', '', '', '', '', '', ''], true],
    [[' e-4 ', 'Spaced key', '', '', '', '', '', '', '', ''], false],
    [['e-5', 'Alpha-2', '', '', 'ES', '', '', '', '', ''], false],
    [['e-6', 'Lower case', '', '', '', 'active', '', '', '', ''], false],
    [['e-7', 'Ignored column', '', '', '', '', '', '', '1990-01-01', ''], false],
    [['e-8', 'Name part', '', '', '', '', '', '', '', 'Eve'], false],
    [['e-9', 'Tags spaced', '', '', '', '', 'a, b', '', '', ''], false],
    [['e-10', "'=1+1", '', '', '', '', '', '', '', ''], false],
    [['e-11', 'Short row'], false],
    // The same key as e-1: staged valid, then made invalid (duplicate_in_file) by the classification.
    [['e-1', 'Ann', 'ann@example.com', '+34600000001', 'ESP', 'ACTIVE', 'a,b', '{"k":1}', '', ''], true],
  ];
  const file = csvOf(header, cases.map(([cells]) => cells));
  const asObject = (cells: string[]) => Object.fromEntries(header.map((h, i) => [h, cells[i] ?? '']));

  it.each([
    ['an application without users (staged in place)', false],
    ['an application with users (through the staging table)', true],
  ])('%s: the preview, errors.csv and invalid-rows.csv show every cell as the file had it', async (_name, withUser) => {
    const t = await tenant();
    if (withUser) await seedUser(t, 'someone-else');
    const { id } = await stage(t, file);
    const stored = await stack.database.db.execute<{ row_number: number; left_out: boolean }>(
      sql`SELECT row_number, raw IS NULL AS left_out FROM import_rows WHERE import_id = ${id} ORDER BY row_number`,
    );
    expect(stored.rows.map((r) => r.left_out)).toEqual(cases.map(([, leftOut]) => leftOut));

    const rows = await previewRows(t, id);
    // (A short row's missing cells are shown empty, as before.)
    expect(rows.map((r) => r.raw)).toEqual(cases.map(([cells]) => asObject(cells)));
    const duplicate = rows[rows.length - 1];
    expect(duplicate).toMatchObject({ action: 'invalid', errors: [{ code: 'duplicate_in_file' }] });

    const report = async (name: string) => {
      const res = await fetch(`${stack.baseUrl}/console/users/imports/${id}/${name}`, { headers: { authorization: `Bearer ${t.token}` } });
      expect(res.status).toBe(200);
      return (await res.text()).split('\r\n').filter(Boolean);
    };
    const rowOfDuplicate = cases.length + 1;
    const errorLines = (await report('errors.csv')).filter((line) => line.startsWith(`${rowOfDuplicate},`));
    expect(errorLines).toEqual([
      `${rowOfDuplicate},e-1,vendor_data,duplicate_in_file,vendor_data already appears in row 2,"e-1,Ann,ann@example.com,+34600000001,ESP,ACTIVE,""a,b"",""{""""k"""":1}"",,"`,
    ]);
    const invalidRows = await report('invalid-rows.csv');
    expect(invalidRows.at(-1)).toBe('e-1,Ann,,ann@example.com,+34600000001,ESP,ACTIVE,"a,b","{""k"":1}",vendor_data: vendor_data already appears in row 2');
  });
});

describe('personal data in the preview and the error reports', () => {
  it('DEVELOPER and READER see only the restricted columns of raw, normalized, errors.csv and invalid-rows.csv', async () => {
    const t = await tenant();
    const header = ['vendor_data', 'display_name', 'first_name', 'last_name', 'email', 'phone', 'country', 'tags'];
    const file = csvOf(header, [
      ['r-1', 'Shown', 'Ana', 'Diaz', 'ana@example.com', '+34 600 11 12 22', 'es', 'a'],
      ['r-2', 'Two', 'Bo', 'Li', 'not-an-email', '+34600111233', 'FR', 'b'],
    ]);
    const { id } = await stage(t, file);
    const [owner] = await previewRows(t, id);
    expect(owner.raw).toEqual(Object.fromEntries(header.map((h, i) => [h, ['r-1', 'Shown', 'Ana', 'Diaz', 'ana@example.com', '+34 600 11 12 22', 'es', 'a'][i]])));
    expect(owner.normalized).toEqual([
      { field: 'phone', from: '+34 600 11 12 22', to: '+34600111222' },
      { field: 'country', from: 'es', to: 'ESP' },
    ]);
    const report = async (name: string, token: string) => {
      const res = await fetch(`${stack.baseUrl}/console/users/imports/${id}/${name}`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
      return (await res.text()).split('\r\n').filter(Boolean);
    };
    expect((await report('errors.csv', t.token))[1]).toBe('3,r-2,email,invalid_email,email is not a valid address,"r-2,Two,Bo,Li,not-an-email,+34600111233,FR,b"');
    expect((await report('invalid-rows.csv', t.token))[1]).toBe('r-2,Two,Bo Li,not-an-email,+34600111233,FR,,b,,email: email is not a valid address');
    for (const role of ['DEVELOPER', 'READER'] as const) {
      const token = t.operators[role].token;
      const [row] = await previewRows(t, id, token);
      expect(row.raw).toEqual({ vendor_data: 'r-1', display_name: 'Shown', country: 'es', tags: 'a' });
      expect(row.normalized).toEqual([{ field: 'country', from: 'es', to: 'ESP' }]);
      expect((await report('errors.csv', token))[1]).toBe('3,r-2,email,invalid_email,email is not a valid address,"r-2,Two,,,,,FR,b"');
      const invalidRows = await report('invalid-rows.csv', token);
      expect(invalidRows.slice(0, 2)).toEqual(['vendor_data,display_name,country,status,tags,error', 'r-2,Two,FR,,b,email: email is not a valid address']);
    }
    // COMPLIANCE_OFFICER may export every column: it sees the row whole.
    expect((await previewRows(t, id, t.operators.COMPLIANCE_OFFICER.token))[0].raw).toEqual(owner.raw);

    // A CSV row shorter than the header keeps its cells' columns (only the hidden ones go).
    const short = await stage(t, 'vendor_data,display_name,email\nq-1,Short\n');
    expect((await previewRows(t, short.id, t.operators.READER.token))[0].raw).toEqual({ vendor_data: 'q-1', display_name: 'Short' });
    // A longer one: the cells past the header are hidden from them (nothing says what they hold).
    const long = await stage(t, 'vendor_data,display_name\nq-2,Long,ana@example.com\n');
    expect((await previewRows(t, long.id))[0].raw).toEqual({ vendor_data: 'q-2', display_name: 'Long', '(field 3)': 'ana@example.com' });
    expect((await previewRows(t, long.id, t.operators.READER.token))[0].raw).toEqual({ vendor_data: 'q-2', display_name: 'Long' });

    // An NDJSON line that could not be read is staged as its whole text: hidden whole.
    const ndjson = await stage(t, '{"vendor_data":"j-1","display_name":"J"}\n{"vendor_data":"j-2","email":"ana@example.com",\n');
    const [, broken] = await previewRows(t, ndjson.id);
    expect(Object.values(broken.raw).join('')).toContain('ana@example.com');
    const [, hiddenLine] = await previewRows(t, ndjson.id, t.operators.READER.token);
    expect(hiddenLine.raw).toEqual({});
    const res = await fetch(`${stack.baseUrl}/console/users/imports/${ndjson.id}/errors.csv`, { headers: { authorization: `Bearer ${t.operators.READER.token}` } });
    expect(await res.text()).not.toContain('ana@example.com');
  });
});

describe('import modes', () => {
  /** Everything but the fields the mode may write: verified full_name, date of birth, counters, created_at. */
  const untouched = (u: Record<string, any>) => ({
    full_name: u.full_name,
    date_of_birth: u.date_of_birth,
    verified_fields: u.verified_fields,
    session_count: u.session_count,
    approved_count: u.approved_count,
    declined_count: u.declined_count,
    in_review_count: u.in_review_count,
    created_at: u.created_at,
  });

  it('create_only: an existing user is already_exists (invalid, not written); a new one is created', async () => {
    const t = await tenant();
    await seedUser(t, 'm-1');
    const before = await usersOf(t.applicationId);
    const { id, counts } = await stage(t, csvOf(['vendor_data', 'display_name'], [['M-1', 'Changed'], ['m-2', 'New']]), { mode: 'create_only' });
    expect(counts).toMatchObject({ validRows: 1, invalidRows: 1, toCreate: 1, toUpdate: 0 });
    const rows = await previewRows(t, id);
    expect(rows[0]).toMatchObject({ action: 'invalid', errors: [{ column: 'vendor_data', code: 'already_exists' }] });
    expect(await write(id)).toEqual({ created: 1, updated: 0, unchanged: 0 });
    const after = await usersOf(t.applicationId);
    expect(after['m-1']).toEqual(before['m-1']);
    expect(after['m-2']).toMatchObject({ display_name: 'New', status: 'ACTIVE' });
  });

  it('update_only: a missing user is not_found (invalid, not created); an existing one is updated', async () => {
    const t = await tenant();
    await seedUser(t, 'm-1');
    const before = await usersOf(t.applicationId);
    const { id, counts } = await stage(t, csvOf(['vendor_data', 'display_name', 'full_name'], [['m-1', 'Changed', 'Try'], ['m-2', 'New', '']]), {
      mode: 'update_only',
    });
    expect(counts).toMatchObject({ validRows: 1, invalidRows: 1, toCreate: 0, toUpdate: 1 });
    const rows = await previewRows(t, id);
    expect(rows[1]).toMatchObject({ action: 'invalid', errors: [{ column: 'vendor_data', code: 'not_found' }] });
    expect(await write(id)).toEqual({ created: 0, updated: 1, unchanged: 0 });
    const after = await usersOf(t.applicationId);
    expect(Object.keys(after)).toEqual(['m-1']);
    expect(after['m-1']).toMatchObject({ display_name: 'Changed' });
    expect(untouched(after['m-1'])).toEqual(untouched(before['m-1']));
  });

  it('create_only: a user created between the preview and the write is left as it is (unchanged), not overwritten', async () => {
    const t = await tenant();
    const { id, counts } = await stage(t, csvOf(['vendor_data', 'display_name'], [['r-1', 'From file'], ['r-2', 'New']]), { mode: 'create_only' });
    expect(counts).toMatchObject({ toCreate: 2, toUpdate: 0 });
    await seedUser(t, 'r-1'); // created by someone else after the preview said "create"
    const before = await usersOf(t.applicationId);
    expect(await write(id)).toEqual({ created: 1, updated: 0, unchanged: 1 });
    const after = await usersOf(t.applicationId);
    expect(after['r-1']).toEqual(before['r-1']);
    expect(after['r-2']).toMatchObject({ display_name: 'New' });
  });

  it('update_only: a user deleted between the preview and the write is not made again (unchanged)', async () => {
    const t = await tenant();
    await seedUser(t, 'r-1');
    await seedUser(t, 'r-2');
    const { id, counts } = await stage(t, csvOf(['vendor_data', 'display_name'], [['r-1', 'Changed'], ['r-2', 'Changed too']]), { mode: 'update_only' });
    expect(counts).toMatchObject({ toCreate: 0, toUpdate: 2 });
    await stack.database.db.execute(sql`DELETE FROM users WHERE application_id = ${t.applicationId} AND vendor_data = 'r-2'`);
    expect(await write(id)).toEqual({ created: 0, updated: 1, unchanged: 1 });
    const after = await usersOf(t.applicationId);
    expect(Object.keys(after)).toEqual(['r-1']);
    expect(after['r-1']).toMatchObject({ display_name: 'Changed' });
  });

  it('empty_cells=clear: an empty cell clears the optional fields (not a verified full_name, not status); an absent column keeps', async () => {
    const t = await tenant();
    await seedUser(t, 'm-1');
    await seedUser(t, 'm-2');
    const before = await usersOf(t.applicationId);
    const file = csvOf(['vendor_data', 'display_name', 'full_name', 'email', 'phone', 'country', 'status', 'tags', 'metadata_json'], [
      ['m-1', '', '', '', '', '', '', '', ''],
      ['m-3', '', 'New Person', '', '', '', '', '', ''],
    ]);
    const { id, counts } = await stage(t, file, { empty_cells: 'clear' });
    expect(counts).toMatchObject({ validRows: 2, toCreate: 1, toUpdate: 1 });
    const rows = await previewRows(t, id);
    expect(rows[0].changes.map((c: any) => c.field)).toEqual(['display_name', 'email', 'phone', 'country', 'tags', 'metadata']);
    expect(await write(id)).toEqual({ created: 1, updated: 1, unchanged: 0 });
    const after = await usersOf(t.applicationId);
    expect(after['m-1']).toMatchObject({ display_name: null, email: null, phone: null, country: null, tags: [], metadata: {}, status: 'FLAGGED' });
    expect(untouched(after['m-1'])).toEqual(untouched(before['m-1']));
    expect(after['m-1'].full_name).toBe('Verified Name');
    expect(after['m-2']).toEqual(before['m-2']);
    expect(after['m-3']).toMatchObject({ full_name: 'New Person', display_name: null, email: null, tags: [], metadata: {}, status: 'ACTIVE' });

    // A column that is absent keeps the stored value, in clear mode too; a second run changes nothing.
    const again = await stage(t, csvOf(['vendor_data', 'display_name'], [['m-2', '']]), { empty_cells: 'clear' });
    expect(again.counts).toMatchObject({ toUpdate: 1 });
    await write(again.id);
    expect((await usersOf(t.applicationId))['m-2']).toMatchObject({ display_name: null, email: 'm-2@example.com', tags: ['a', 'b'] });
    const third = await stage(t, csvOf(['vendor_data', 'display_name'], [['m-2', '']]), { empty_cells: 'clear' });
    expect(third.counts).toMatchObject({ toUpdate: 0, toUnchanged: 1 });
  });

  it('empty_cells=keep (default): an empty cell means not given', async () => {
    const t = await tenant();
    await seedUser(t, 'm-1');
    const before = await usersOf(t.applicationId);
    const { id, counts } = await stage(t, csvOf(HEADER, [['m-1', '', '', '', '', '', '', '', '']]));
    expect(counts).toMatchObject({ toUnchanged: 1 });
    await write(id);
    expect((await usersOf(t.applicationId))['m-1']).toEqual(before['m-1']);
  });

  it('tags_mode=add: the cell adds its tags after the stored ones, without duplicates; past 50 is invalid_tags', async () => {
    const t = await tenant();
    await seedUser(t, 'm-1');
    await seedUser(t, 'm-2');
    await seedUser(t, 'm-3');
    const before = await usersOf(t.applicationId);
    const many = Array.from({ length: 49 }, (_, i) => `t${i}`).join(',');
    const file = csvOf(['vendor_data', 'tags'], [
      ['m-1', 'c,a,d'],
      ['m-2', 'b,a'],
      ['m-3', many],
      ['m-4', 'x,y'],
    ]);
    const { id, counts } = await stage(t, file, { tags_mode: 'add' });
    expect(counts).toMatchObject({ toUpdate: 1, toUnchanged: 1, toCreate: 1, invalidRows: 1 });
    const rows = await previewRows(t, id);
    expect(rows[0].changes).toEqual([{ field: 'tags', from: ['a', 'b'], to: ['a', 'b', 'c', 'd'] }]);
    expect(rows[2]).toMatchObject({ action: 'invalid', errors: [{ column: 'tags', code: 'invalid_tags', message: expect.stringMatching(/more than 50/) }] });
    expect(await write(id)).toEqual({ created: 1, updated: 1, unchanged: 1 });
    const after = await usersOf(t.applicationId);
    expect(after['m-1'].tags).toEqual(['a', 'b', 'c', 'd']);
    expect(untouched(after['m-1'])).toEqual(untouched(before['m-1']));
    expect(after['m-2']).toEqual(before['m-2']);
    expect(after['m-3']).toEqual(before['m-3']);
    expect(after['m-4'].tags).toEqual(['x', 'y']);
  });

  it('metadata_mode=replace: the cell replaces the stored object; merge (default) merges key by key', async () => {
    const t = await tenant();
    await seedUser(t, 'm-1');
    await seedUser(t, 'm-2');
    const before = await usersOf(t.applicationId);
    const replaced = await stage(t, csvOf(['vendor_data', 'metadata_json'], [['m-1', '{"plan":"free"}']]), { metadata_mode: 'replace' });
    expect((await previewRows(t, replaced.id))[0].changes).toEqual([
      { field: 'metadata', from: { plan: 'pro', region: 'eu' }, to: { plan: 'free' } },
    ]);
    await write(replaced.id);
    const merged = await stage(t, csvOf(['vendor_data', 'metadata_json'], [['m-2', '{"plan":"free"}']]));
    await write(merged.id);
    const after = await usersOf(t.applicationId);
    expect(after['m-1'].metadata).toEqual({ plan: 'free' });
    expect(after['m-2'].metadata).toEqual({ plan: 'free', region: 'eu' });
    expect(untouched(after['m-1'])).toEqual(untouched(before['m-1']));
    // The same object again is unchanged, under replace.
    const again = await stage(t, csvOf(['vendor_data', 'metadata_json'], [['m-1', '{"plan":"free"}']]), { metadata_mode: 'replace' });
    expect(again.counts).toMatchObject({ toUnchanged: 1 });
  });

  it('every mode at once never touches a verified full_name or the counters, and a row that changes nothing is unchanged', async () => {
    const t = await tenant();
    await seedUser(t, 'm-1');
    const before = await usersOf(t.applicationId);
    const options = { mode: 'update_only', empty_cells: 'clear', tags_mode: 'add', metadata_mode: 'replace' } as const;
    const { id } = await stage(t, csvOf(['vendor_data', 'full_name', 'tags', 'metadata_json'], [['m-1', '', 'b', '{"plan":"pro","region":"eu"}']]), options);
    const [row] = await previewRows(t, id);
    expect(row).toMatchObject({ action: 'unchanged', kept_fields: ['full_name'], changes: [] });
    expect(await write(id)).toEqual({ created: 0, updated: 0, unchanged: 1 });
    expect(await usersOf(t.applicationId)).toEqual(before);
  });
});


describe('tags may not hold a comma (the field rule shared with the API)', () => {
  it('NDJSON: a list element with a comma is a row error invalid_tags, listed with the row\'s other problems; the other rows go on', async () => {
    const t = await tenant();
    const file = [
      JSON.stringify({ vendor_data: 'nd-1', tags: ['ok', 'not,ok'] }),
      JSON.stringify({ vendor_data: 'nd-2', email: 'nope', tags: ['a,b'] }),
      JSON.stringify({ vendor_data: 'nd-3', tags: ['x', 'y'], display_name: "'=as given" }),
    ].join('\n');
    const { id, counts } = await stage(t, file);
    expect(counts).toMatchObject({ validRows: 1, invalidRows: 2, toCreate: 1 });
    const rows = await previewRows(t, id);
    expect(rows.map((r) => [r.row_number, r.vendor_data, r.action, r.errors])).toEqual([
      [2, 'nd-1', 'invalid', [{ column: 'tags', code: 'invalid_tags', message: 'a tag may not hold a comma ("not,ok")' }]],
      [
        3,
        'nd-2',
        'invalid',
        [
          { column: 'email', code: 'invalid_email', message: 'email is not a valid address' },
          { column: 'tags', code: 'invalid_tags', message: 'a tag may not hold a comma ("a,b")' },
        ],
      ],
      [4, 'nd-3', 'create', []],
    ]);
    expect(await write(id)).toEqual({ created: 1, updated: 0, unchanged: 0 });
    const after = await usersOf(t.applicationId);
    expect(Object.keys(after)).toEqual(['nd-3']);
    // NDJSON values are not formula-escaped: a leading quote is kept.
    expect(after['nd-3']).toMatchObject({ tags: ['x', 'y'], display_name: "'=as given" });
  });

  it('CSV: the cell is comma-separated, so a quoted "a,b" is two tags (never one with a comma)', async () => {
    const t = await tenant();
    const { id } = await stage(t, csvOf(['vendor_data', 'tags'], [['cs-1', 'a,b']]));
    expect(await write(id)).toEqual({ created: 1, updated: 0, unchanged: 0 });
    expect((await usersOf(t.applicationId))['cs-1'].tags).toEqual(['a', 'b']);
  });
});
