import { asc, eq } from 'drizzle-orm';
import { users } from '../drizzle/schema';
import { recordApprovedSession } from '../src/users/queries';
import { ALL_COLUMNS, download, expectedCsv, parseCsv, runExport, seedUsers, usersInOrder } from './helpers/exports';
import { api, createTenant, startTestStack, waitFor, type TestStack } from './helpers/stack';

/**
 * An export imported back changes no user: formula cells (escaped on the way out, unescaped on the way in), unicode,
 * quotes, commas and line breaks, metadata, tags, verified fields and the read-only columns all survive.
 */

jest.setTimeout(120_000);

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack();
});

afterAll(async () => {
  await stack?.stop();
});

async function importCsv(token: string, csv: string, fileName = 'exported.csv'): Promise<any> {
  const form = new FormData();
  form.append('file', new Blob([csv], { type: fileName.endsWith('.ndjson') ? 'application/x-ndjson' : 'text/csv' }), fileName);
  const res = await fetch(`${stack.baseUrl}/console/users/imports`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form });
  const body = (await res.json()) as any;
  if (res.status !== 202) throw new Error(`import: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

async function waitForImport(token: string, id: string, statuses: string[]) {
  return waitFor(async () => {
    const res = await api(stack, 'GET', `/console/users/imports/${id}`, { token });
    return statuses.includes(res.body?.status) ? res.body : undefined;
  }, 60_000, 150);
}

const snapshot = async (applicationId: string) =>
  stack.database.db.select().from(users).where(eq(users.applicationId, applicationId)).orderBy(asc(users.vendorDataKey));

test('exporting every column and importing the file back changes no user', async () => {
  const tenant = await createTenant(stack.database.db);
  const token = tenant.operators.OWNER.token;
  await seedUsers(stack.database.db, tenant.applicationId, [
    {
      vendorData: '=HYPERLINK("http://evil")',
      displayName: '+SUM(A1:A2)',
      fullName: '-2+3 cmd',
      email: '-dash@example.com',
      phone: '+34600111222',
      country: 'ESP',
      status: 'FLAGGED',
      tags: ['-neg', '@at', 'plain'],
      metadata: { formula: '=1+1', nested: { list: [1, 'two', null] } },
    },
    { vendorData: '@mention', displayName: '-12.5', fullName: '+100', tags: ['=eq'], metadata: {} },
    {
      vendorData: 'Zoë-ÜNÏCØDÉ',
      displayName: 'Bob, "the builder"\nsecond line',
      fullName: '日本語 😀',
      email: 'zoe@example.com',
      country: 'FRA',
      status: 'BLOCKED',
      tags: ['café', 'x y'],
      metadata: { emoji: '😀', quote: 'say "hi", ok' },
    },
    { vendorData: 'plain-4' },
  ]);
  // A user with verified fields and counters (an import never touches them).
  await recordApprovedSession(stack.database.db, { applicationId: tenant.applicationId, vendorData: 'verified-5', fullName: '=Verified Name', dateOfBirth: '1990-01-02' });
  const before = await snapshot(tenant.applicationId);

  const exported = await runExport(stack, token, {});
  expect(exported.status).toBe('COMPLETED');
  const file = await download(exported.download_url);
  const rows = parseCsv(file.text);
  expect(rows[0]).toEqual(ALL_COLUMNS);
  expect(rows.find((r) => r[1] === "'=HYPERLINK(\"http://evil\")")).toBeDefined();

  const started = await importCsv(token, file.text);
  const preview = await waitForImport(token, started.id, ['AWAITING_CONFIRMATION', 'REJECTED', 'FAILED']);
  expect(preview).toMatchObject({ status: 'AWAITING_CONFIRMATION', total_rows: 5, invalid_rows: 0, to_create: 0, to_update: 0, to_unchanged: 5 });
  const confirmed = await api(stack, 'POST', `/console/users/imports/${started.id}/confirm`, { token });
  expect(confirmed.status).toBe(202);
  const finished = await waitForImport(token, started.id, ['COMPLETED', 'COMPLETED_WITH_ERRORS', 'FAILED']);
  expect(finished).toMatchObject({ status: 'COMPLETED', created_count: 0, updated_count: 0, unchanged_count: 5 });

  expect(await snapshot(tenant.applicationId)).toEqual(before);

  // The same users as NDJSON (values as stored, tags a list, metadata an object) come back unchanged too.
  const ndjson = await runExport(stack, token, { format: 'ndjson' });
  expect(ndjson).toMatchObject({ status: 'COMPLETED', format: 'ndjson', row_count: 5 });
  const lines = await download(ndjson.download_url);
  expect(lines.text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l).vendor_data)).toContain('=HYPERLINK("http://evil")');
  const again = await importCsv(token, lines.text, 'exported.ndjson');
  const preview2 = await waitForImport(token, again.id, ['AWAITING_CONFIRMATION', 'REJECTED', 'FAILED']);
  expect(preview2).toMatchObject({ status: 'AWAITING_CONFIRMATION', total_rows: 5, invalid_rows: 0, to_create: 0, to_update: 0, to_unchanged: 5 });
  expect((await api(stack, 'POST', `/console/users/imports/${again.id}/confirm`, { token })).status).toBe(202);
  const finished2 = await waitForImport(token, again.id, ['COMPLETED', 'COMPLETED_WITH_ERRORS', 'FAILED']);
  expect(finished2).toMatchObject({ status: 'COMPLETED', unchanged_count: 5 });
  expect(await snapshot(tenant.applicationId)).toEqual(before);
});

/** Imports `text`, confirms it and expects every one of its `rows` rows `unchanged`. */
async function importUnchanged(token: string, text: string, fileName: string, rows: number) {
  const started = await importCsv(token, text, fileName);
  const preview = await waitForImport(token, started.id, ['AWAITING_CONFIRMATION', 'REJECTED', 'FAILED']);
  expect(preview).toMatchObject({ status: 'AWAITING_CONFIRMATION', total_rows: rows, invalid_rows: 0, to_create: 0, to_update: 0, to_unchanged: rows });
  expect((await api(stack, 'POST', `/console/users/imports/${started.id}/confirm`, { token })).status).toBe(202);
  const finished = await waitForImport(token, started.id, ['COMPLETED', 'COMPLETED_WITH_ERRORS', 'FAILED']);
  expect(finished).toMatchObject({ status: 'COMPLETED', created_count: 0, updated_count: 0, unchanged_count: rows });
}

test('values that begin with quotes and formula starts come back exactly: the escape and the unescape are inverses', async () => {
  const tenant = await createTenant(stack.database.db);
  const token = tenant.operators.OWNER.token;
  // Every text field that is escaped, with the values API.md's two rules must keep apart: a quote the import would
  // drop unless the export doubles it, numbers and E.164 phones written as they are, a lone quote, unicode.
  const tricky: [string, string][] = [
    // [the stored value, its cell in the CSV]
    ["'=", "''="],
    ["''+", "'''+"],
    ["'''", "''''"],
    ["'", "'"],
    ["'-5", "''-5"],
    ['=1+1', "'=1+1"],
    ['-5', '-5'],
    ['@x', "'@x"],
    ["'@x", "''@x"],
    ["'+34600111222", "''+34600111222"],
    ['+34600111222', '+34600111222'],
    ["'plain", "'plain"],
    ["'😀=", "'😀="],
    ['=日本', "'=日本"],
  ];
  await seedUsers(
    stack.database.db,
    tenant.applicationId,
    tricky.map(([value], i) => ({
      vendorData: `${value}${i}`,
      displayName: value,
      fullName: `${value} full`,
      email: `${value.replace(/[^'=+-]/g, '')}a${i}@example.com`,
      phone: i % 2 === 0 ? '+34600111222' : null,
      tags: [value, `${value}b`],
      metadata: { value },
      createdAt: new Date(Date.UTC(2024, 0, 1, 0, 0, i)),
    })),
  );
  const before = await snapshot(tenant.applicationId);
  expect(before).toHaveLength(tricky.length);

  const exported = await runExport(stack, token, {});
  expect(exported).toMatchObject({ status: 'COMPLETED', row_count: tricky.length });
  const file = await download(exported.download_url);
  // What Postgres wrote (src/exports/sql.ts) is what the reference formatter (escapeFormula) writes.
  expect(file.text).toBe(expectedCsv(ALL_COLUMNS, await usersInOrder(stack.database.db, tenant.applicationId)));
  const rows = parseCsv(file.text).slice(1);
  // Rows in created_at order: the seeded order. display_name (column 3) is the value's cell, as API.md's rule says.
  expect(rows.map((r) => r[2])).toEqual(tricky.map(([, cell]) => cell));

  await importUnchanged(token, file.text, 'exported.csv', tricky.length);
  // Whole rows, updated_at included: nothing was written.
  expect(await snapshot(tenant.applicationId)).toEqual(before);

  // NDJSON holds the values as stored (no escape) and is read as given.
  const ndjson = await runExport(stack, token, { format: 'ndjson' });
  const lines = (await download(ndjson.download_url)).text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
  expect(lines.map((l) => l.display_name)).toEqual(tricky.map(([value]) => value));
  await importUnchanged(token, lines.map((l) => JSON.stringify(l)).join('\n'), 'exported.ndjson', tricky.length);
  expect(await snapshot(tenant.applicationId)).toEqual(before);
});
