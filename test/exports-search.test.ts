import { eq } from 'drizzle-orm';
import { exportsTable } from '../drizzle/schema';
import { parseCsv, runExport, seedUsers } from './helpers/exports';
import { createTenant, startTestStack, type TestStack, type TestTenant } from './helpers/stack';

/**
 * The export's search filter by role: OWNER, ADMIN and COMPLIANCE_OFFICER search vendor_data, display_name,
 * full_name, email and phone; DEVELOPER and READER only vendor_data and display_name, so a search cannot reveal
 * personal data the role may not export.
 */

jest.setTimeout(120_000);

let stack: TestStack;
let tenant: TestTenant;

beforeAll(async () => {
  stack = await startTestStack();
  tenant = await createTenant(stack.database.db);
  await seedUsers(stack.database.db, tenant.applicationId, [
    { vendorData: 'v-findme-1', displayName: 'Plain', createdAt: new Date('2024-01-01T00:00:00Z') },
    { vendorData: 'v-2', displayName: 'Mr FindMe', createdAt: new Date('2024-01-02T00:00:00Z') },
    { vendorData: 'v-3', fullName: 'Findme Fullname', createdAt: new Date('2024-01-03T00:00:00Z') },
    { vendorData: 'v-4', email: 'secret.findme@example.com', createdAt: new Date('2024-01-04T00:00:00Z') },
    { vendorData: 'v-5', phone: '+34600999888', createdAt: new Date('2024-01-05T00:00:00Z') },
  ]);
});

afterAll(async () => {
  await stack?.stop();
});

async function searched(role: keyof TestTenant['operators'], search: string): Promise<string[]> {
  const done = await runExport(stack, tenant.operators[role].token, { filters: { search }, columns: ['vendor_data'] });
  expect(done.status).toBe('COMPLETED');
  const [row] = await stack.database.db.select().from(exportsTable).where(eq(exportsTable.id, done.id));
  expect(row.searchRestricted).toBe(role === 'DEVELOPER' || role === 'READER');
  const text = await (await fetch(done.download_url)).text();
  const vendors = parseCsv(text).slice(1).map((r) => r[0]);
  expect(done.row_count).toBe(vendors.length);
  return vendors;
}

test('OWNER, ADMIN and COMPLIANCE_OFFICER find users by any searchable field', async () => {
  for (const role of ['OWNER', 'ADMIN', 'COMPLIANCE_OFFICER'] as const) {
    expect(await searched(role, 'findme')).toEqual(['v-findme-1', 'v-2', 'v-3', 'v-4']);
    expect(await searched(role, '600999')).toEqual(['v-5']);
  }
});

test('DEVELOPER and READER search only vendor_data and display_name', async () => {
  for (const role of ['DEVELOPER', 'READER'] as const) {
    expect(await searched(role, 'FINDME')).toEqual(['v-findme-1', 'v-2']);
  }
});

test('a READER searching by an email, a full name or a phone finds nothing', async () => {
  expect(await searched('READER', 'secret.findme@example.com')).toEqual([]);
  expect(await searched('READER', 'Fullname')).toEqual([]);
  expect(await searched('DEVELOPER', '+34600999888')).toEqual([]);
});
