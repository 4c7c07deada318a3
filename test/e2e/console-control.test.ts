import fs from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { sql } from 'drizzle-orm';
import type { Browser, Page } from 'playwright-core';
import { setApprovalPolicy } from '../../src/auth/accounts';
import { download, runExport, seedManyUsers, seedUsers, waitForExport } from '../helpers/exports';
import { api, createTenant, startTestStack, waitFor, type TestStack } from '../helpers/stack';
import { csvOf, importFile, uploadAndValidate, waitForStatus } from '../fixtures/imports/support';
import { expectAccessible, launchBrowser, openPage as openBrowserPage, screenshot, signIn } from './browser';

/**
 * Controlling jobs from the console in a real browser against the real stack: approval by a second operator, undo,
 * pause / resume / chunks at once, the export's format options, and who sees Cancel and Revoke links.
 */

jest.setTimeout(120_000);

let stack: TestStack;
let browser: Browser;

beforeAll(async () => {
  [stack, browser] = await Promise.all([
    startTestStack({
      env: {
        IMPORT_CHUNK_ROWS: '5',
        IMPORT_CHUNK_CONCURRENCY: '4',
        // Export ranges of 400 rows, one at a time, pausing between writes: a 2,000-user export runs for seconds.
        EXPORT_PART_ROWS: '400',
        EXPORT_CONCURRENCY: '1',
        EXPORT_CHECKPOINT_BYTES: String(16 * 1024),
        TEST_EXPORT_CHUNK_DELAY_MS: '300',
      },
    }),
    launchBrowser(),
  ]);
});
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

const openPage = () => openBrowserPage(browser);

async function signedIn(operator: { token: string; email: string }, path: string): Promise<Page> {
  const page = await openPage();
  await signIn(page, stack.baseUrl, operator);
  await page.goto(`${stack.baseUrl}/console${path}`);
  return page;
}

/** Signs `operator` in on `path` and, once the element `readyTestId` shows, checks that the page has no `button`. */
async function expectNoButton(operator: { token: string; email: string }, path: string, readyTestId: string, button: string) {
  const page = await signedIn(operator, path);
  await page.getByTestId(readyTestId).waitFor();
  expect(await page.getByRole('button', { name: button }).count()).toBe(0);
  await page.context().close();
}

async function shownStatus(page: Page, testId: string, status: string, timeoutMs = 60_000): Promise<void> {
  await waitFor(async () => ((await page.getByTestId(testId).innerText()) === status ? true : undefined), timeoutMs);
}

async function importRow(id: string) {
  const result = await stack.database.db.execute<Record<string, any>>(sql`
    SELECT status, chunk_concurrency, approval_decision, approval_decided_by FROM imports WHERE id = ${id}`);
  return result.rows[0];
}

async function usersOf(applicationId: string) {
  const result = await stack.database.db.execute<{ vendor_data: string; display_name: string }>(
    sql`SELECT vendor_data, display_name FROM users WHERE application_id = ${applicationId} ORDER BY vendor_data`,
  );
  return result.rows;
}

describe('imports', () => {
  it('an import awaiting approval: the requester sees the reasons and no Approve; another operator approves it in the page', async () => {
    const t = await createTenant(stack.database.db);
    await setApprovalPolicy(stack.database.db, { applicationId: t.applicationId, statuses: ['BLOCKED'] });
    const admin = t.operators.ADMIN;
    const preview = await uploadAndValidate(
      stack,
      admin.token,
      csvOf(['vendor_data', 'display_name', 'status'], [['ap-1', 'Blocked one', 'BLOCKED'], ['ap-2', 'Fine', 'ACTIVE']]),
      'needs-approval.csv',
    );
    expect((await api(stack, 'POST', `/console/users/imports/${preview.id}/confirm`, { token: admin.token })).status).toBe(202);
    const waiting = await waitForStatus(stack, admin.token, preview.id, ['AWAITING_APPROVAL']);
    expect(waiting.approval.reasons.length).toBeGreaterThan(0);

    const requester = await signedIn(admin, `/imports/${preview.id}`);
    await shownStatus(requester, 'import-status', 'AWAITING_APPROVAL');
    await requester.getByTestId('approval-waiting').waitFor();
    expect(await requester.getByTestId('approval-reasons').innerText()).toContain(waiting.approval.reasons[0]);
    expect(await requester.getByRole('button', { name: 'Approve' }).count()).toBe(0);
    expect(await requester.getByRole('button', { name: 'Reject' }).count()).toBe(0);
    await screenshot(requester, 'approval-requester');
    await expectAccessible(requester);
    await requester.context().close();

    await expectNoButton(t.operators.DEVELOPER, `/imports/${preview.id}`, 'approval-reasons', 'Approve');

    const owner = await signedIn(t.operators.OWNER, `/imports/${preview.id}`);
    await owner.getByRole('button', { name: 'Reject' }).waitFor();
    await screenshot(owner, 'approval-approver');
    await expectAccessible(owner);
    await owner.getByRole('button', { name: 'Approve' }).click();
    await shownStatus(owner, 'import-status', 'COMPLETED');
    expect(await owner.getByTestId('approval-decision').innerText()).toContain(`Approved by ${t.operators.OWNER.email}`);
    expect(await importRow(preview.id)).toMatchObject({ status: 'COMPLETED', approval_decision: 'APPROVED', approval_decided_by: t.operators.OWNER.id });
    expect((await usersOf(t.applicationId)).map((u) => u.vendor_data)).toEqual(['ap-1', 'ap-2']);
    await owner.context().close();
  });

  it('undoes an import after a confirmation naming the counts; the users are back as they were', async () => {
    const t = await createTenant(stack.database.db);
    await seedUsers(stack.database.db, t.applicationId, [
      { vendorData: 'keep-1', displayName: 'Before 1' },
      { vendorData: 'keep-2', displayName: 'Before 2' },
    ]);
    const before = await usersOf(t.applicationId);
    const done = await importFile(
      stack,
      t.operators.ADMIN.token,
      csvOf(['vendor_data', 'display_name'], [['keep-1', 'After 1'], ['keep-2', 'After 2'], ['new-1', 'N1'], ['new-2', 'N2'], ['new-3', 'N3']]),
      'to-undo.csv',
    );
    expect(done).toMatchObject({ status: 'COMPLETED', updated_count: 2, created_count: 3 });

    await expectNoButton(t.operators.READER, `/imports/${done.id}`, 'summary-created', 'Undo import');

    const page = await signedIn(t.operators.ADMIN, `/imports/${done.id}`);
    await page.getByRole('button', { name: 'Undo import' }).click();
    const dialog = page.getByRole('dialog', { name: 'Undo this import?' });
    await dialog.waitFor();
    expect(await dialog.getByTestId('undo-confirm-restored').innerText()).toBe('2 users');
    expect(await dialog.getByTestId('undo-confirm-deleted').innerText()).toBe('3 users');
    await screenshot(page, 'undo-confirmation');
    await expectAccessible(page);
    // Going back undoes nothing.
    await dialog.getByRole('button', { name: 'Go back' }).click();
    await dialog.waitFor({ state: 'hidden' });
    expect((await importRow(done.id)).status).toBe('COMPLETED');

    await page.getByRole('button', { name: 'Undo import' }).click();
    await dialog.getByRole('button', { name: 'Yes, undo the import' }).click();
    await shownStatus(page, 'import-status', 'UNDONE');
    expect(await page.getByTestId('undo-restored').innerText()).toBe('2');
    expect(await page.getByTestId('undo-deleted').innerText()).toBe('3');
    expect(await page.getByTestId('undo-conflicts').innerText()).toBe('0');
    expect(await page.getByRole('button', { name: 'Undo import' }).count()).toBe(0);
    await screenshot(page, 'undo-done');
    await expectAccessible(page);
    expect((await importRow(done.id)).status).toBe('UNDONE');
    expect(await usersOf(t.applicationId)).toEqual(before);

    const [file] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download undo conflicts' }).click()]);
    expect(fs.readFileSync(await file.path(), 'utf8').trim()).toBe('vendor_data,reason');
    await page.context().close();
  });

  it('pauses, sets the chunks at once and resumes a running import from the page', async () => {
    const t = await createTenant(stack.database.db);
    // The first row of each chunk of 5 holds its chunk's transaction open for a second.
    const rows = Array.from({ length: 120 }, (_, i) => [i % 5 === 0 ? `test-fault:delay-1000-pr-${i}` : `pr-${i}`, `n ${i}`]);
    const preview = await uploadAndValidate(stack, t.operators.ADMIN.token, csvOf(['vendor_data', 'display_name'], rows), 'slow.csv');
    expect(preview.chunk_concurrency).toBe(4);

    const reader = await signedIn(t.operators.READER, `/imports/${preview.id}`);
    await api(stack, 'POST', `/console/users/imports/${preview.id}/confirm`, { token: t.operators.ADMIN.token });
    await shownStatus(reader, 'import-status', 'RUNNING');
    expect(await reader.getByRole('button', { name: 'Pause import' }).count()).toBe(0);
    await reader.context().close();

    const page = await signedIn(t.operators.DEVELOPER, `/imports/${preview.id}`);
    await page.getByRole('button', { name: 'Pause import' }).click();
    await shownStatus(page, 'import-status', 'PAUSED');
    expect((await importRow(preview.id)).status).toBe('PAUSED');
    // No rate or time left is shown while nothing is written.
    expect(await page.getByTestId('import-rate').count()).toBe(0);
    await screenshot(page, 'import-paused');
    await expectAccessible(page);

    const chunks = page.getByLabel('Chunks at once');
    await chunks.fill('17');
    await page.getByRole('button', { name: 'Set chunks at once' }).click();
    await page.getByText('Chunks at once must be a whole number from 1 to 16.').waitFor();
    expect((await importRow(preview.id)).chunk_concurrency).toBe(4);
    await chunks.fill('8');
    await page.getByRole('button', { name: 'Set chunks at once' }).click();
    await waitFor(async () => ((await page.getByTestId('chunk-concurrency').innerText()) === '8' ? true : undefined));
    expect((await importRow(preview.id)).chunk_concurrency).toBe(8);

    await page.getByRole('button', { name: 'Resume import' }).click();
    await waitFor(async () => ((await importRow(preview.id)).status !== 'PAUSED' ? true : undefined));
    expect(['RUNNING', 'COMPLETED']).toContain((await importRow(preview.id)).status);
    await shownStatus(page, 'import-status', 'COMPLETED');
    expect(await page.getByTestId('summary-created').innerText()).toBe('120');
    await page.context().close();
  });
});

describe('exports', () => {
  async function exportRow(id: string) {
    const result = await stack.database.db.execute<Record<string, any>>(
      sql`SELECT status, format, gzip, excel_bom, link_generation FROM exports WHERE id = ${id}`,
    );
    return result.rows[0];
  }

  it('writes an ndjson file compressed with gzip when chosen in the form', async () => {
    const t = await createTenant(stack.database.db);
    await seedUsers(stack.database.db, t.applicationId, [
      { vendorData: 'nd-1', displayName: 'One', tags: ['a', 'b'], createdAt: new Date('2024-01-01T00:00:00Z') },
      { vendorData: 'nd-2', displayName: 'Two', createdAt: new Date('2024-01-02T00:00:00Z') },
    ]);
    const page = await signedIn(t.operators.ADMIN, '/exports/new');
    await page.getByLabel('Format').selectOption('ndjson');
    expect(await page.getByLabel('Byte-order mark for Excel').isDisabled()).toBe(true);
    await page.getByLabel('Compress with gzip').check();
    await expectAccessible(page);
    await page.getByRole('button', { name: 'Start export' }).click();
    await page.getByTestId('export-status').waitFor();
    await shownStatus(page, 'export-status', 'COMPLETED');
    expect(await page.getByTestId('export-format').innerText()).toBe('ndjson, gzip');
    const id = /\/console\/exports\/([0-9a-f-]{36})/.exec(page.url())?.[1] as string;
    expect(await exportRow(id)).toMatchObject({ status: 'COMPLETED', format: 'ndjson', gzip: true, excel_bom: false });

    const [file] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download' }).click()]);
    const lines = gunzipSync(fs.readFileSync(await file.path())).toString('utf8').trim().split('\n').map((line) => JSON.parse(line));
    expect(lines.map((u) => u.vendor_data)).toEqual(['nd-1', 'nd-2']);
    expect(lines[0].tags).toEqual(['a', 'b']);
    await page.context().close();
  });

  it("shows a READER no Cancel or Revoke links on another operator's export, and lets the requester use them", async () => {
    const t = await createTenant(stack.database.db);
    await seedManyUsers(stack.database.db, t.applicationId, 2000, 'slow');
    const admin = t.operators.ADMIN;
    const started = await api(stack, 'POST', '/console/users/exports', { token: admin.token, body: {} });
    expect(started.status).toBe(202);
    const runningId = started.body.id as string;

    const reader = await signedIn(t.operators.READER, `/exports/${runningId}`);
    await shownStatus(reader, 'export-status', 'RUNNING');
    await reader.getByText(/may cancel it/).waitFor();
    expect(await reader.getByRole('button', { name: 'Cancel export' }).count()).toBe(0);

    const page = await signedIn(admin, `/exports/${runningId}`);
    await page.getByRole('button', { name: 'Cancel export' }).click();
    await shownStatus(page, 'export-status', 'CANCELLED');
    expect((await exportRow(runningId)).status).toBe('CANCELLED');

    // A finished export: the READER may not revoke the ADMIN's links, and may revoke its own.
    const small = { filters: { search: 'slow-1999' } };
    const adminExport = await runExport(stack, admin.token, small);
    expect(adminExport.status).toBe('COMPLETED');
    await reader.goto(`${stack.baseUrl}/console/exports/${adminExport.id}`);
    await shownStatus(reader, 'export-status', 'COMPLETED');
    await reader.getByText(/may revoke its links/).waitFor();
    expect(await reader.getByRole('button', { name: 'Revoke links' }).count()).toBe(0);

    const mine = await runExport(stack, t.operators.READER.token, small);
    expect(mine.status).toBe('COMPLETED');
    expect((await download(mine.download_url)).status).toBe(200);
    await reader.goto(`${stack.baseUrl}/console/exports/${mine.id}`);
    await reader.getByRole('button', { name: 'Revoke links' }).click();
    const dialog = reader.getByRole('dialog', { name: 'Revoke every link of this export?' });
    await dialog.getByRole('button', { name: 'Yes, revoke the links' }).click();
    await reader.getByText('Every link of this export was revoked.').waitFor();
    expect((await exportRow(mine.id)).link_generation).toBe(1);
    const revoked = await download(mine.download_url);
    expect(revoked.status).toBe(403);
    expect(JSON.parse(revoked.text).error.code).toBe('link_revoked');
    // No link until a new one is issued; then the Download link is that one.
    await reader.getByText('Its links were revoked; issue a new one.').waitFor();
    expect(await reader.getByRole('link', { name: 'Download' }).count()).toBe(0);
    await screenshot(reader, 'export-revoked');
    await reader.getByRole('button', { name: 'Issue a new link' }).click();
    await reader.getByText('A new link was issued.').waitFor();
    const fresh = await reader.getByRole('link', { name: 'Download' }).getAttribute('href');
    expect((await download(fresh!)).status).toBe(200);
    await expectAccessible(reader);
    await reader.context().close();
    await page.context().close();
    await waitForExport(stack, admin.token, runningId, ['CANCELLED']);
  });
});
