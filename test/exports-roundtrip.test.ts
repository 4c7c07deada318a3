import { asc, eq } from 'drizzle-orm';
import { users } from '../drizzle/schema';
import { recordApprovedSession } from '../src/users/queries';
import { ALL_COLUMNS, download, parseCsv, runExport, seedUsers } from './helpers/exports';
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
