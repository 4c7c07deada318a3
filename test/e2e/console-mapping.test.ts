import { sql } from 'drizzle-orm';
import ExcelJS from 'exceljs';
import type { Browser, Page } from 'playwright-core';
import { api, createTenant, startTestStack, waitFor, type TestStack, type TestTenant } from '../helpers/stack';
import { csvOf, getImport, waitForStatus } from '../fixtures/imports/support';
import { expectAccessible, launchBrowser, openPage as openBrowserPage, screenshot, signIn } from './browser';

/**
 * The console's column mapping in a real browser against the real stack: the upload's options, "How the file was
 * read" with its editable mapping ("Validate again with this mapping"), invalid cells found through the mapping,
 * and the saved mappings list.
 */

jest.setTimeout(120_000);

let stack: TestStack;
let browser: Browser;

beforeAll(async () => {
  [stack, browser] = await Promise.all([startTestStack({ env: { IMPORT_CHUNK_ROWS: '5' } }), launchBrowser()]);
});
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

const openPage = () => openBrowserPage(browser);

function importIdOf(page: Page): string {
  const match = /\/console\/imports\/([0-9a-f-]{36})/.exec(page.url());
  if (!match) throw new Error(`not on an import page: ${page.url()}`);
  return match[1];
}

/** Waits until the page shows an import other than `previous` and returns its id. */
async function nextImportId(page: Page, previous: string): Promise<string> {
  return waitFor(async () => {
    const match = /\/console\/imports\/([0-9a-f-]{36})/.exec(page.url());
    return match && match[1] !== previous ? match[1] : undefined;
  });
}

/** The mapping table's rows: header -> [column, source]. */
async function mappingRows(page: Page): Promise<Record<string, [string, string]>> {
  const rows = await page.locator('[data-testid="mapping-table"] tbody tr').evaluateAll((trs: any[]) =>
    trs.map((tr) => [tr.getAttribute('data-header'), tr.getAttribute('data-column'), tr.getAttribute('data-source')]),
  );
  return Object.fromEntries(rows.map(([h, c, s]: string[]) => [h, [c, s]]));
}

async function uploadInBrowser(page: Page, name: string, content: string): Promise<string> {
  await page.getByLabel('Choose a CSV file').setInputFiles({ name, mimeType: 'text/csv', buffer: Buffer.from(content) });
  await page.getByRole('heading', { name: `Import ${name}` }).waitFor();
  return importIdOf(page);
}

async function goToImportUsers(page: Page): Promise<void> {
  await page.getByRole('link', { name: 'Import users' }).click();
  await page.getByRole('heading', { name: 'Import users', exact: true }).waitFor();
}

describe('column mapping', () => {
  let tenant: TestTenant;
  beforeEach(async () => {
    tenant = await createTenant(stack.database.db);
  });

  it('edits the mapping of a file rejected for unknown headers and validates it again', async () => {
    const admin = tenant.operators.ADMIN;
    const page = await openPage();
    await signIn(page, stack.baseUrl, admin);
    await goToImportUsers(page);
    const rejectedId = await uploadInBrowser(page, 'crm.csv', csvOf(['Ref', 'First', 'Last', 'Mail'], [['r-1', 'Ana', 'García', 'ana@example.com']]));
    await waitFor(async () => ((await page.getByTestId('import-status').innerText()) === 'REJECTED' ? true : undefined), 30_000);
    expect((await getImport(stack, admin.token, rejectedId)).error.code).toBe('unknown_column');

    await page.getByRole('heading', { name: 'How the file was read' }).waitFor();
    await page.getByLabel('Read Ref as', { exact: true }).selectOption('vendor_data');
    await page.getByLabel('Read First as', { exact: true }).selectOption('first_name');
    await page.getByLabel('Read Last as', { exact: true }).selectOption('last_name');
    await page.getByLabel('Read Mail as', { exact: true }).selectOption('email');
    await screenshot(page, 'mapping-rejected');
    await expectAccessible(page);
    await page.getByRole('button', { name: 'Validate again with this mapping' }).click();

    const nextId = await nextImportId(page, rejectedId);
    await waitForStatus(stack, admin.token, nextId, ['AWAITING_CONFIRMATION']);
    const next = await getImport(stack, admin.token, nextId);
    expect(next.options.mapping).toEqual({ Ref: 'vendor_data', First: 'first_name', Last: 'last_name', Mail: 'email' });
    expect(next.mapping).toEqual([
      { header: 'Ref', column: 'vendor_data', source: 'mapping' },
      { header: 'First', column: 'first_name', source: 'mapping' },
      { header: 'Last', column: 'last_name', source: 'mapping' },
      { header: 'Mail', column: 'email', source: 'mapping' },
    ]);
    expect(next.to_create).toBe(1);
    // The preview's cells carry the template column of their header.
    await page.getByTestId('preview-table').waitFor();
    await page.locator('tr[data-row-number="2"] [data-column="email"]').waitFor();
    expect(await page.locator('tr[data-row-number="2"] [data-column="email"]').innerText()).toContain('ana@example.com');
    expect((await getImport(stack, admin.token, rejectedId)).status).toBe('REJECTED');
    await page.context().close();
  });

  it('reads synonyms, marks invalid cells through the mapping, and replaces the preview with an edited mapping', async () => {
    const admin = tenant.operators.ADMIN;
    const page = await openPage();
    await signIn(page, stack.baseUrl, admin);
    await goToImportUsers(page);
    const header = ['external_id', 'first_name', 'last_name', 'email_address'];
    const firstId = await uploadInBrowser(
      page,
      'synonyms.csv',
      csvOf(header, [
        ['s-1', 'Ana', 'García', 'ana@example.com'],
        ['s-2', 'Bo', 'Berg', 'not-an-email'],
      ]),
    );
    await page.getByTestId('preview-table').waitFor();
    await page.getByRole('heading', { name: 'How the file was read' }).waitFor();
    expect(await mappingRows(page)).toEqual({
      external_id: ['vendor_data', 'synonym'],
      first_name: ['first_name', 'synonym'],
      last_name: ['last_name', 'synonym'],
      email_address: ['email', 'synonym'],
    });
    const apiMapping = (await getImport(stack, admin.token, firstId)).mapping;
    expect(Object.fromEntries(apiMapping.map((m: any) => [m.header, [m.column ?? '', m.source]]))).toEqual(await mappingRows(page));
    // The invalid email is marked on the email_address cell, whose data-column is the template column.
    const bad = page.locator('[data-testid="preview-table"] tr[data-row-number="3"] [data-column="email"]');
    await bad.waitFor();
    expect(await bad.getAttribute('data-invalid')).toBe('true');
    expect(await bad.getAttribute('data-header')).toBe('email_address');
    const marked = await page.locator('[data-testid="preview-table"] [data-invalid="true"]').count();
    expect(marked).toBe(1);
    await screenshot(page, 'mapping-synonyms');
    await expectAccessible(page);

    await page.getByLabel('Read email_address as', { exact: true }).selectOption({ label: 'ignore' });
    await page.getByRole('button', { name: 'Validate again with this mapping' }).click();
    const nextId = await nextImportId(page, firstId);
    await waitForStatus(stack, admin.token, nextId, ['AWAITING_CONFIRMATION']);
    await page.getByTestId('preview-table').waitFor();
    await waitFor(async () => ((await mappingRows(page)).email_address?.[1] === 'mapping' ? true : undefined));
    expect((await mappingRows(page)).email_address).toEqual(['', 'mapping']);
    const next = await getImport(stack, admin.token, nextId);
    expect(next.mapping.find((m: any) => m.header === 'email_address')).toEqual({ header: 'email_address', column: null, source: 'mapping' });
    expect(next.invalid_rows).toBe(0);
    expect((await getImport(stack, admin.token, firstId)).status).toBe('CANCELLED');

    // Another tab does not have the file: it shows the mapping but cannot send the file again.
    const other = await openPage();
    await signIn(other, stack.baseUrl, admin);
    await other.goto(`${stack.baseUrl}/console/imports/${nextId}`);
    await other.getByText('To change the mapping, choose the file again on').waitFor();
    expect(await other.getByRole('button', { name: 'Validate again with this mapping' }).count()).toBe(0);
    expect(await other.getByLabel('Read email_address as').count()).toBe(0);
    await other.context().close();
    await page.context().close();
  });

  it('sends only the chosen options, and lists and deletes a saved mapping', async () => {
    const admin = tenant.operators.ADMIN;
    const page = await openPage();
    await signIn(page, stack.baseUrl, admin);
    await goToImportUsers(page);
    await page.getByRole('heading', { name: 'Saved mappings' }).waitFor();
    expect(await page.getByLabel('Source preset').isVisible()).toBe(true); // open by default
    await page.getByLabel('Source preset').selectOption({ label: 'Clerk' });
    await page.getByLabel('Mode').selectOption({ label: 'Create only' });
    await page.getByLabel('Remember this mapping for files with the same headers').check();
    await screenshot(page, 'mapping-options');
    await expectAccessible(page);

    const clerkHeader = ['id', 'first_name', 'last_name', 'username', 'primary_email_address', 'primary_phone_number'];
    const id = await uploadInBrowser(page, 'clerk.csv', csvOf(clerkHeader, [['user_1', 'Ana', 'García', 'ana', 'ana@example.com', '+34600111222']]));
    await waitForStatus(stack, admin.token, id, ['AWAITING_CONFIRMATION']);
    const imp = await getImport(stack, admin.token, id);
    expect(imp.options).toMatchObject({ preset: 'clerk', mode: 'create_only', save_mapping: true, empty_cells: 'keep', tags_mode: 'replace' });
    // Only the fields that differ from their defaults were sent (the stored options are the ones given).
    const stored = await stack.database.db.execute<{ options: Record<string, unknown> }>(sql`SELECT options FROM imports WHERE id = ${id}`);
    expect(stored.rows[0].options).toEqual({ preset: 'clerk', mode: 'create_only', save_mapping: true });
    await page.getByRole('heading', { name: 'How the file was read' }).waitFor();
    expect((await mappingRows(page)).primary_email_address).toEqual(['email', 'preset']);

    const saved = await api(stack, 'GET', '/console/users/import-mappings', { token: admin.token });
    expect(saved.status).toBe(200);
    expect(saved.body.results).toHaveLength(1);
    await goToImportUsers(page);
    const remove = page.getByRole('button', { name: `Delete saved mapping for ${clerkHeader.join(', ')}` });
    await remove.waitFor();
    await expectAccessible(page);
    await remove.click();
    await remove.waitFor({ state: 'detached' });
    expect((await api(stack, 'GET', '/console/users/import-mappings', { token: admin.token })).body.results).toEqual([]);
    await page.context().close();
  });

  it('reads the xlsx sheet named under Sheet, and offers the error reports from the preview on', async () => {
    const admin = tenant.operators.ADMIN;
    const page = await openPage();
    await signIn(page, stack.baseUrl, admin);
    await goToImportUsers(page);
    const workbook = new ExcelJS.Workbook();
    workbook.addWorksheet('First').addRows([['vendor_data'], ['first-1']]);
    workbook.addWorksheet('Second').addRows([['vendor_data', 'email'], ['second-1', 'one@example.com'], ['second-2', 'not-an-email']]);
    await page.getByLabel('Sheet').fill('Second');
    await page.getByLabel('Choose a CSV file').setInputFiles({
      name: 'two-sheets.xlsx',
      mimeType: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
      buffer: Buffer.from(await workbook.xlsx.writeBuffer()),
    });
    await page.getByRole('heading', { name: 'Import two-sheets.xlsx' }).waitFor();
    const id = await importIdOf(page);
    const preview = await waitForStatus(stack, admin.token, id, ['AWAITING_CONFIRMATION']);
    expect(preview.options).toMatchObject({ sheet: 'Second', detected: { format: 'xlsx', sheet: 'Second' } });
    expect(preview).toMatchObject({ total_rows: 2, to_create: 1, invalid_rows: 1 });
    await page.getByRole('button', { name: 'Download error report' }).waitFor();
    expect(await page.getByRole('button', { name: 'Download rows to fix' }).isEnabled()).toBe(true);
    await page.context().close();
  });

  it('shows the saved mappings only to roles with mappings.manage and the mapping editor only with imports.write', async () => {
    const page = await openPage();
    await signIn(page, stack.baseUrl, tenant.operators.READER);
    await page.goto(`${stack.baseUrl}/console/imports/new`);
    await page.getByRole('heading', { name: 'Import users', exact: true }).waitFor();
    expect(await page.getByRole('heading', { name: 'Saved mappings' }).count()).toBe(0);
    await page.context().close();
  });
});
