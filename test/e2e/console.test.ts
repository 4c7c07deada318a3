import { sql } from 'drizzle-orm';
import type { Browser, Page, Request } from 'playwright-core';
import { createOperator } from '../../src/auth/accounts';
import { recordApprovedSession } from '../../src/users/queries';
import { seedUsers } from '../helpers/exports';
import { api, createTenant, startTestStack, waitFor, type TestStack, type TestTenant } from '../helpers/stack';
import { csvOf, getImport, parseCsv, uploadAndValidate, waitForStatus } from '../fixtures/imports/support';
import { downloadText, expectAccessible, launchBrowser, openPage as openBrowserPage, screenshot, signIn } from './browser';

/**
 * The operator console in a real browser (Debian's Chromium through playwright-core) against the real stack: the API
 * serving the built console, Postgres and a Temporal worker. Each main page is also checked with axe-core (no serious
 * or critical violations) and saved as a screenshot under test-results/screenshots.
 */

jest.setTimeout(120_000);

const HEADER = ['vendor_data', 'display_name', 'full_name', 'email', 'phone', 'country', 'status', 'tags', 'metadata_json'];

let stack: TestStack;
let browser: Browser;

beforeAll(async () => {
  [stack, browser] = await Promise.all([
    startTestStack({ env: { IMPORT_CHUNK_ROWS: '5', TEMPORAL_UI_URL: 'http://127.0.0.1:8233' } }),
    launchBrowser(),
  ]);
});
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

const openPage = () => openBrowserPage(browser);

async function usersOf(applicationId: string) {
  const result = await stack.database.db.execute<Record<string, any>>(sql`
    SELECT vendor_data, display_name, full_name, email, phone, country, status, tags, metadata, verified_fields
    FROM users WHERE application_id = ${applicationId} ORDER BY vendor_data`);
  return result.rows;
}

/** The import id in the page's URL (/console/imports/<id>). */
function importIdOf(page: Page): string {
  const match = /\/console\/imports\/([0-9a-f-]{36})/.exec(page.url());
  if (!match) throw new Error(`not on an import page: ${page.url()}`);
  return match[1];
}

describe('signing in', () => {
  let tenant: TestTenant;
  beforeAll(async () => {
    tenant = await createTenant(stack.database.db);
  });

  it('takes the token from the link fragment, keeps it for the tab only, and never sends it in a URL', async () => {
    const page = await openPage();
    const requested: string[] = [];
    page.on('request', (request: Request) => requested.push(request.url()));
    const admin = tenant.operators.ADMIN;
    await signIn(page, stack.baseUrl, admin);

    expect(page.url()).not.toContain('token');
    expect(await page.evaluate<string[]>('Object.values(sessionStorage)')).toContain(admin.token);
    expect(await page.evaluate<string[]>('Object.values(localStorage)')).not.toContain(admin.token);
    expect(await page.evaluate<string>('document.cookie')).toBe('');
    expect(requested.length).toBeGreaterThan(0);
    // Browsers never send the fragment; nor may the page put the token into any URL it requests.
    for (const url of requested) expect(url).not.toContain(encodeURIComponent(admin.token));
    await expect(page.getByText('ADMIN').first().isVisible()).resolves.toBe(true);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Operator token').waitFor();
    expect(await page.evaluate<string[]>('Object.values(sessionStorage)')).not.toContain(admin.token);
    await page.context().close();
  });

  it('signs in with a pasted token, refuses a bad one with a message, and sends a 401 back to sign-in', async () => {
    const page = await openPage();
    await page.goto(`${stack.baseUrl}/console/`);
    await page.getByLabel('Operator token').fill('kyc_op_not-a-real-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText(/not valid|unauthenticated/i).first().waitFor();
    await screenshot(page, 'sign-in-refused');
    await expectAccessible(page);

    const leaving = await createOperator(stack.database.db, { applicationId: tenant.applicationId, email: 'leaving@example.com', role: 'READER' });
    await page.getByLabel('Operator token').fill(leaving.token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();

    // The operator is removed while the tab is open: the next call is a 401, and the page goes back to sign-in.
    await stack.database.db.execute(sql`DELETE FROM operators WHERE id = ${leaving.id}`);
    await page.getByRole('link', { name: 'Import history' }).click();
    await page.getByLabel('Operator token').waitFor();
    await page.getByText(/sign in again/i).first().waitFor();
    await page.context().close();
  });
});

describe('keyboard only', () => {
  it('signs in, moves between pages and ticks a filter without a mouse', async () => {
    const tenant = await createTenant(stack.database.db);
    const page = await openPage();
    await page.goto(`${stack.baseUrl}/console/`);
    /** Presses Tab until the focused element is the one `locator` names (at most 40 times). */
    const tabTo = async (locator: ReturnType<Page['getByRole']>) => {
      for (let i = 0; i < 40; i++) {
        if (await locator.evaluate((el: any) => el === el.ownerDocument.activeElement)) return;
        await page.keyboard.press('Tab');
      }
      throw new Error('could not reach the control with Tab');
    };
    await tabTo(page.getByLabel('Operator token'));
    await page.keyboard.type(tenant.operators.ADMIN.token);
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'Sign out' }).waitFor();

    await tabTo(page.getByRole('link', { name: 'Export users' }));
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Export users' }).waitFor();
    const flagged = page.getByRole('checkbox', { name: 'FLAGGED', exact: true });
    await tabTo(flagged);
    await page.keyboard.press('Space');
    expect(await flagged.isChecked()).toBe(true);
    await page.context().close();
  });
});

describe('importing a messy file', () => {
  let tenant: TestTenant;
  beforeAll(async () => {
    tenant = await createTenant(stack.database.db);
    await seedUsers(stack.database.db, tenant.applicationId, [
      { vendorData: 'existing-update', displayName: 'Old name', email: 'old@example.com' },
      { vendorData: 'existing-same', displayName: 'Same', email: 'same@example.com' },
      { vendorData: 'existing-verified', displayName: 'Vera' },
    ]);
    await recordApprovedSession(stack.database.db, { applicationId: tenant.applicationId, vendorData: 'existing-verified', fullName: 'Vera Verified' });
  });

  /** What the preview must show for each invalid row: row number -> column -> code. */
  const INVALID: Record<number, Record<string, string>> = {
    3: { email: 'invalid_email' },
    4: { country: 'invalid_country' },
    5: { phone: 'invalid_phone' },
    6: { vendor_data: 'required' },
    7: { status: 'invalid_status' },
    8: { metadata_json: 'invalid_metadata_json' },
    9: { vendor_data: 'duplicate_in_file' },
    13: { tags: 'invalid_tags', email: 'invalid_email' },
  };

  const rows = [
    ['new-1', 'Ana', 'Ana García', 'ana@example.com', '+34600111222', 'ESP', 'ACTIVE', 'vip,eu', '{"plan":"pro"}'], // 2
    ['bad-email', 'B', '', 'not-an-email', '', '', '', '', ''], // 3
    ['bad-country', 'C', '', '', '', 'XXX', '', '', ''], // 4
    ['bad-phone', 'D', '', '', '600111222', '', '', '', ''], // 5
    ['', 'No key', '', '', '', '', '', '', ''], // 6
    ['bad-status', 'E', '', '', '', '', 'ARCHIVED', '', ''], // 7
    ['bad-metadata', 'F', '', '', '', '', '', '', '[1,2]'], // 8
    ['NEW-1', 'Dup', '', '', '', '', '', '', ''], // 9
    ['existing-update', 'New name', '', '', '', '', '', '', ''], // 10
    ['existing-same', 'Same', '', 'same@example.com', '', '', '', '', ''], // 11
    ['existing-verified', 'Vera V.', 'Someone Else', '', '', '', '', '', ''], // 12
    ['bad-tags', 'G', '', 'also bad', '', '', '', 'x'.repeat(65), ''], // 13
    ['new-2', 'Ünïcødé 用户', '', '', '', 'fra', 'flagged', '', ''], // 14
    ['new-3', 'H', '', 'h@example.com', '+4915112345678', 'DEU', '', 'a', ''], // 15
    ['new-4', 'I', '', '', '', '', 'blocked', '', '{"k":1}'], // 16
    ['new-5', 'J', '', '', '', '', '', '', ''], // 17
    ['new-6', 'K', '', '', '', '', '', '', ''], // 18
    ['new-7', 'L', '', '', '', '', '', '', ''], // 19
    ['new-8', 'M', '', '', '', '', '', '', ''], // 20
    ['new-9', 'N', '', '', '', '', '', '', ''], // 21
  ];

  it('shows each invalid cell with its reason and the kept verified field, writes on confirm, and reports the errors', async () => {
    const page = await openPage();
    await signIn(page, stack.baseUrl, tenant.operators.ADMIN);
    await page.getByRole('link', { name: 'Import users' }).click();
    await page.getByRole('heading', { name: 'Import users' }).waitFor();
    await screenshot(page, 'import-upload');
    await expectAccessible(page);

    const template = await downloadText(page, () => page.getByRole('button', { name: 'Download template' }).click());
    expect(template.text.trim()).toBe(HEADER.join(','));

    await page.getByLabel('Choose a CSV file').setInputFiles({
      name: 'partner roster.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from(csvOf(HEADER, rows)),
    });
    await page.getByRole('heading', { name: 'Import partner roster.csv' }).waitFor();
    const importId = importIdOf(page);
    await page.getByTestId('preview-table').waitFor();

    expect(await page.getByTestId('count-to-create').innerText()).toContain('9');
    expect(await page.getByTestId('count-to-update').innerText()).toContain('2');
    expect(await page.getByTestId('count-unchanged').innerText()).toContain('1');
    expect(await page.getByTestId('count-invalid').innerText()).toContain('8');

    // Every invalid cell is marked and carries the API's reason; no other cell is marked.
    const apiRows = await api(stack, 'GET', `/console/users/imports/${importId}/rows?limit=200`, { token: tenant.operators.ADMIN.token });
    const marked = await page.locator('[data-testid="preview-table"] [data-invalid="true"]').evaluateAll((cells: any[]) =>
      cells.map((c) => `${c.closest('tr')?.getAttribute('data-row-number')}:${c.getAttribute('data-column')}`),
    );
    const expected = Object.entries(INVALID).flatMap(([row, cols]) => Object.keys(cols).map((col) => `${row}:${col}`));
    expect(marked.sort()).toEqual(expected.sort());
    for (const [row, cols] of Object.entries(INVALID)) {
      const apiRow = apiRows.body.results.find((r: any) => r.row_number === Number(row));
      expect(apiRow.action).toBe('invalid');
      for (const [column, code] of Object.entries(cols)) {
        const error = apiRow.errors.find((e: any) => e.column === column);
        expect(error?.code).toBe(code);
        const cell = page.locator(`[data-testid="preview-table"] tr[data-row-number="${row}"] [data-column="${column}"]`);
        expect(await cell.getAttribute('data-invalid')).toBe('true');
        expect(await cell.innerText()).toContain(error.message);
      }
    }
    const kept = page.locator('[data-testid="preview-table"] tr[data-row-number="12"] [data-column="full_name"]');
    expect(await kept.getAttribute('data-kept')).toBe('true');
    expect(await page.locator('tr[data-row-number="12"]').getAttribute('data-action')).toBe('update');
    await screenshot(page, 'import-preview');
    await expectAccessible(page);

    // The action filter shows only the invalid rows, in file order.
    await page.getByLabel('Show rows').selectOption('invalid');
    await waitFor(async () => {
      const numbers = await page.locator('[data-testid="preview-table"] tbody tr').evaluateAll((trs: any[]) => trs.map((tr) => tr.getAttribute('data-row-number')));
      return numbers.join(',') === '3,4,5,6,7,8,9,13' ? numbers : undefined;
    });
    expect(await usersOf(tenant.applicationId)).toHaveLength(3); // nothing written before the confirm

    await page.getByRole('button', { name: 'Confirm import' }).click();
    await waitFor(async () => ((await page.getByTestId('import-status').innerText()) === 'COMPLETED' ? true : undefined), 60_000);
    expect(await page.getByTestId('summary-created').innerText()).toContain('9');
    expect(await page.getByTestId('summary-updated').innerText()).toContain('2');
    expect(await page.getByTestId('summary-unchanged').innerText()).toContain('1');
    expect(await page.getByTestId('summary-skipped').innerText()).toContain('8');
    expect(await page.getByTestId('summary-failed').innerText()).toContain('0');
    await screenshot(page, 'import-completed');
    await expectAccessible(page);

    const users = await usersOf(tenant.applicationId);
    expect(users).toHaveLength(12);
    expect(users.find((u) => u.vendor_data === 'existing-update')?.display_name).toBe('New name');
    const verified = users.find((u) => u.vendor_data === 'existing-verified');
    expect(verified).toMatchObject({ display_name: 'Vera V.', full_name: 'Vera Verified' });
    expect(users.find((u) => u.vendor_data === 'new-2')).toMatchObject({ display_name: 'Ünïcødé 用户', country: 'FRA', status: 'FLAGGED' });

    const report = await downloadText(page, () => page.getByRole('button', { name: 'Download error report' }).click());
    const records = parseCsv(report.text);
    expect(records[0]).toEqual(['row_number', 'vendor_data', 'column', 'code', 'message', 'raw_row']);
    const reported = records.slice(1).map((r) => `${r[0]}:${r[2]}:${r[3]}`);
    const expectedReport = Object.entries(INVALID).flatMap(([row, cols]) => Object.entries(cols).map(([col, code]) => `${row}:${col}:${code}`));
    expect(reported.sort()).toEqual(expectedReport.sort());

    // The page links to this import's workflow in the Temporal Web UI.
    const link = page.getByRole('link', { name: 'Open in Temporal Web UI' });
    expect(await link.getAttribute('href')).toBe(`http://127.0.0.1:8233/namespaces/default/workflows/users-import-${importId}`);
    await page.context().close();
  });

  it('keeps the progress of a running import across a closed tab, and stops polling once it has ended', async () => {
    const token = tenant.operators.ADMIN.token;
    const file = csvOf(HEADER, [
      ...Array.from({ length: 12 }, (_, i) => [`slow-${i}`, `Slow ${i}`, '', '', '', '', '', '', '']),
      ['test-fault:delay-7000', 'slow chunk', '', '', '', '', '', '', ''],
    ]);
    const preview = await uploadAndValidate(stack, token, file, 'slow.csv');
    expect(preview.status).toBe('AWAITING_CONFIRMATION');

    const first = await openPage();
    await signIn(first, stack.baseUrl, tenant.operators.ADMIN);
    await first.goto(`${stack.baseUrl}/console/imports/${preview.id}`);
    await first.getByRole('button', { name: 'Confirm import' }).click();
    await first.getByTestId('import-progress').waitFor();
    await screenshot(first, 'import-running');
    await first.context().close();

    // A new tab (new session): the progress comes back from the server, not from the closed tab's memory.
    const second = await openPage();
    // The page's clock runs as usual until the test moves it on (below).
    await second.clock.install();
    await signIn(second, stack.baseUrl, tenant.operators.ADMIN);
    const polls: string[] = [];
    second.on('request', (request: Request) => {
      if (request.url().endsWith(`/console/users/imports/${preview.id}`)) polls.push(request.url());
    });
    await second.goto(`${stack.baseUrl}/console/imports/${preview.id}`);
    await second.getByTestId('import-progress').waitFor();
    expect(await second.getByTestId('import-status').innerText()).toBe('RUNNING');
    await second.getByText(/of 13 rows/).first().waitFor();
    await second.getByText(/rows per second/).first().waitFor();
    await screenshot(second, 'import-running-reopened');
    await waitFor(async () => ((await second.getByTestId('import-status').innerText()) === 'COMPLETED' ? true : undefined), 60_000);
    expect(await second.getByTestId('summary-created').innerText()).toContain('13');
    expect((await getImport(stack, token, preview.id)).created_count).toBe(13);

    // Once the import has ended, no more polls: run the page's clock on by a minute.
    const before = polls.length;
    await second.clock.runFor(60_000);
    await second.waitForLoadState('networkidle');
    expect(polls.length).toBe(before);
    await second.context().close();
  });

  it('lets a role that may retry re-run failed chunks, and shows others why they cannot', async () => {
    const token = tenant.operators.ADMIN.token;
    const file = csvOf(HEADER, [
      ['retry-1', 'R1', '', '', '', '', '', '', ''],
      ['test-fault:fail-4', 'fails its four attempts', '', '', '', '', '', '', ''],
      ...Array.from({ length: 6 }, (_, i) => [`retry-ok-${i}`, `OK ${i}`, '', '', '', '', '', '', '']),
    ]);
    const preview = await uploadAndValidate(stack, token, file, 'retry.csv');
    await api(stack, 'POST', `/console/users/imports/${preview.id}/confirm`, { token });
    const ended = await waitForStatus(stack, token, preview.id, ['COMPLETED_WITH_ERRORS'], 90_000);
    expect(ended.chunks.failed).toBe(1);

    const reader = await openPage();
    await signIn(reader, stack.baseUrl, tenant.operators.READER);
    await reader.goto(`${stack.baseUrl}/console/imports/${preview.id}`);
    await reader.getByTestId('summary-failed').waitFor();
    const readerRetry = reader.getByRole('button', { name: 'Retry failed chunks' });
    expect((await readerRetry.count()) === 0 || (await readerRetry.isDisabled())).toBe(true);
    await reader.context().close();

    const developer = await openPage();
    await signIn(developer, stack.baseUrl, tenant.operators.DEVELOPER);
    await developer.goto(`${stack.baseUrl}/console/imports/${preview.id}`);
    expect(await developer.getByTestId('summary-failed').innerText()).toContain('5');
    await screenshot(developer, 'import-completed-with-errors');
    await developer.getByRole('button', { name: 'Retry failed chunks' }).click();
    await waitFor(async () => ((await developer.getByTestId('import-status').innerText()) === 'COMPLETED' ? true : undefined), 60_000);
    expect(await developer.getByTestId('summary-failed').innerText()).toContain('0');
    const users = await usersOf(tenant.applicationId);
    expect(users.filter((u) => String(u.vendor_data).startsWith('retry-'))).toHaveLength(7);
    await developer.context().close();
  });

  it('cancels an import awaiting confirmation, and writes nothing', async () => {
    const token = tenant.operators.ADMIN.token;
    const preview = await uploadAndValidate(stack, token, csvOf(HEADER, [['never-written', 'X', '', '', '', '', '', '', '']]), 'cancel-me.csv');
    const page = await openPage();
    await signIn(page, stack.baseUrl, tenant.operators.ADMIN);
    await page.goto(`${stack.baseUrl}/console/imports/${preview.id}`);
    await page.getByRole('button', { name: 'Cancel import' }).click();
    await waitFor(async () => ((await page.getByTestId('import-status').innerText()) === 'CANCELLED' ? true : undefined));
    expect(await page.getByRole('button', { name: 'Confirm import' }).count()).toBe(0);
    expect((await usersOf(tenant.applicationId)).some((u) => u.vendor_data === 'never-written')).toBe(false);
    expect((await getImport(stack, token, preview.id)).status).toBe('CANCELLED');
    await page.context().close();
  });

  it('lists the imports in the history, each opening its page', async () => {
    const page = await openPage();
    await signIn(page, stack.baseUrl, tenant.operators.COMPLIANCE_OFFICER);
    await page.getByRole('link', { name: 'Import history' }).click();
    await page.getByRole('heading', { name: 'Import history' }).waitFor();
    await page.getByRole('link', { name: 'partner roster.csv' }).waitFor();
    await screenshot(page, 'import-history');
    await expectAccessible(page);
    // COMPLIANCE_OFFICER may not start imports: no upload control.
    await page.getByRole('link', { name: 'partner roster.csv' }).click();
    await page.getByRole('heading', { name: 'Import partner roster.csv' }).waitFor();
    expect(await page.getByRole('button', { name: 'Confirm import' }).count()).toBe(0);
    await page.context().close();
  });

  it('pages a 100,000-row preview without loading every row into the page', async () => {
    const token = tenant.operators.ADMIN.token;
    const lines = ['vendor_data,display_name'];
    for (let i = 1; i <= 100_000; i++) lines.push(`big-${i},Big ${i}`);
    const preview = await uploadAndValidate(stack, token, `${lines.join('\n')}\n`, 'big.csv');
    expect(preview.total_rows).toBe(100_000);

    const page = await openPage();
    await signIn(page, stack.baseUrl, tenant.operators.ADMIN);
    const rowRequests: URL[] = [];
    page.on('request', (request: Request) => {
      if (request.url().includes(`/imports/${preview.id}/rows`)) rowRequests.push(new URL(request.url()));
    });
    await page.goto(`${stack.baseUrl}/console/imports/${preview.id}`);
    await page.locator('tr[data-row-number="2"]').waitFor();
    const shown = await page.locator('[data-testid="preview-table"] tbody tr').count();
    expect(shown).toBeGreaterThan(0);
    expect(shown).toBeLessThanOrEqual(200);
    await page.getByRole('button', { name: 'Next' }).first().click();
    await page.locator(`tr[data-row-number="${shown + 2}"]`).waitFor();
    expect(await page.locator('tr[data-row-number="2"]').count()).toBe(0);
    for (const url of rowRequests) expect(Number(url.searchParams.get('limit') ?? 50)).toBeLessThanOrEqual(200);
    expect(await page.locator('tr[data-row-number]').count()).toBeLessThanOrEqual(200);
    await page.context().close();
  });
});

describe('exporting and the audit log', () => {
  let tenant: TestTenant;
  beforeAll(async () => {
    tenant = await createTenant(stack.database.db);
    await seedUsers(stack.database.db, tenant.applicationId, [
      { vendorData: 'es-active', country: 'ESP', status: 'ACTIVE', email: 'a@example.com', tags: ['vip'], createdAt: new Date('2024-01-01T00:00:00Z') },
      { vendorData: 'es-blocked', country: 'ESP', status: 'BLOCKED', email: 'b@example.com', createdAt: new Date('2024-01-02T00:00:00Z') },
      { vendorData: 'fr-active', country: 'FRA', status: 'ACTIVE', fullName: 'Fr Person', createdAt: new Date('2024-01-03T00:00:00Z') },
      { vendorData: 'de-flagged', country: 'DEU', status: 'FLAGGED', phone: '+4915112345678', createdAt: new Date('2024-01-04T00:00:00Z') },
    ]);
  });

  it('shows a READER the personal columns disabled, with the reason', async () => {
    const page = await openPage();
    await signIn(page, stack.baseUrl, tenant.operators.READER);
    await page.getByRole('link', { name: 'Export users' }).click();
    await page.getByRole('heading', { name: 'Export users' }).waitFor();
    for (const column of ['full_name', 'date_of_birth', 'email', 'phone', 'metadata_json']) {
      const box = page.getByTestId(`column-${column}`);
      expect(await box.isDisabled()).toBe(true);
      expect(await box.isChecked()).toBe(false);
    }
    for (const column of ['id', 'vendor_data', 'country', 'status']) expect(await page.getByTestId(`column-${column}`).isEnabled()).toBe(true);
    await page.getByText(/personal data: the READER role may export only the restricted columns/).first().waitFor();
    expect(await page.getByRole('link', { name: 'Audit log' }).count()).toBe(0);
    await screenshot(page, 'export-reader');
    await expectAccessible(page);
    await page.context().close();
  });

  it('exports with filters and chosen columns as ADMIN, downloads a file equal to the database, and audits both jobs', async () => {
    const page = await openPage();
    await signIn(page, stack.baseUrl, tenant.operators.ADMIN);
    await page.getByRole('link', { name: 'Export users' }).click();
    await page.getByRole('heading', { name: 'Export users' }).waitFor();

    await page.getByRole('checkbox', { name: 'ACTIVE', exact: true }).check();
    await page.getByRole('checkbox', { name: 'BLOCKED', exact: true }).check();
    for (const [name, code] of [['Spain', 'ESP'], ['France', 'FRA']]) {
      await page.getByLabel('Search countries').fill(name);
      await page.getByRole('checkbox', { name: `${name} (${code})` }).check();
    }
    // Only vendor_data, email and status, in that order.
    for (const column of ['id', 'display_name', 'full_name', 'date_of_birth', 'phone', 'country', 'tags', 'metadata_json',
      'session_count', 'approved_count', 'declined_count', 'in_review_count', 'created_at', 'updated_at']) {
      await page.getByTestId(`column-${column}`).uncheck();
    }
    await screenshot(page, 'export-form');
    await expectAccessible(page);
    await page.getByRole('button', { name: 'Start export' }).click();
    await page.getByTestId('export-status').waitFor();
    await waitFor(async () => ((await page.getByTestId('export-status').innerText()) === 'COMPLETED' ? true : undefined), 60_000);
    await screenshot(page, 'export-completed');
    await expectAccessible(page);

    const exportId = /\/console\/exports\/([0-9a-f-]{36})/.exec(page.url())?.[1];
    expect(exportId).toBeDefined();
    const stored = await api(stack, 'GET', `/console/users/exports/${exportId}`, { token: tenant.operators.ADMIN.token });
    expect(stored.body.filters).toMatchObject({ status: expect.arrayContaining(['ACTIVE', 'BLOCKED']), country: expect.arrayContaining(['ESP', 'FRA']) });

    const file = await downloadText(page, () => page.getByRole('link', { name: 'Download' }).click());
    const records = parseCsv(file.text);
    const expected = await stack.database.db.execute<{ vendor_data: string; email: string | null; status: string }>(sql`
      SELECT vendor_data, email, status FROM users WHERE application_id = ${tenant.applicationId}
        AND status IN ('ACTIVE', 'BLOCKED') AND country IN ('ESP', 'FRA') ORDER BY created_at, id`);
    expect(records[0]).toEqual(expect.arrayContaining(['vendor_data', 'email', 'status']));
    expect(records[0]).toHaveLength(3);
    const byName = (record: string[]) => Object.fromEntries(records[0].map((name, i) => [name, record[i]]));
    expect(records.slice(1).map(byName)).toEqual(expected.rows.map((u) => ({ vendor_data: u.vendor_data, email: u.email ?? '', status: u.status })));
    expect(expected.rows.map((u) => u.vendor_data)).toEqual(['es-active', 'es-blocked', 'fr-active']);

    // Another operator sees the export but gets no download.
    const other = await openPage();
    await signIn(other, stack.baseUrl, tenant.operators.OWNER);
    await other.goto(`${stack.baseUrl}/console/exports/${exportId}`);
    await other.getByTestId('export-status').waitFor();
    expect(await other.getByRole('link', { name: 'Download' }).count()).toBe(0);
    expect(await other.getByRole('button', { name: 'Issue a new link' }).count()).toBe(0);
    await other.context().close();

    // A fresh link for the requester works too.
    const before = await page.getByRole('link', { name: 'Download' }).getAttribute('href');
    await page.getByRole('button', { name: 'Issue a new link' }).click();
    await waitFor(async () => ((await page.getByRole('link', { name: 'Download' }).getAttribute('href')) !== before ? true : undefined));
    const again = await downloadText(page, () => page.getByRole('link', { name: 'Download' }).click());
    expect(again.text).toBe(file.text);

    await page.getByRole('link', { name: 'Export history' }).click();
    await page.getByRole('heading', { name: 'Export history' }).waitFor();
    await screenshot(page, 'export-history');
    await expectAccessible(page);

    // The audit log: this export, and (after a small import) the import.
    await uploadAndValidate(stack, tenant.operators.ADMIN.token, csvOf(HEADER, [['audited-1', 'A', '', '', '', '', '', '', '']]), 'audited.csv').then(
      async (preview) => {
        await api(stack, 'POST', `/console/users/imports/${preview.id}/confirm`, { token: tenant.operators.ADMIN.token });
        await waitForStatus(stack, tenant.operators.ADMIN.token, preview.id, ['COMPLETED']);
      },
    );
    await waitFor(async () => {
      const log = await api(stack, 'GET', '/console/audit-log', { token: tenant.operators.ADMIN.token });
      return log.body.results.length >= 2 ? true : undefined;
    });
    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    await page.getByRole('cell', { name: 'users.export' }).first().waitFor();
    await page.getByRole('cell', { name: 'users.import' }).first().waitFor();
    await screenshot(page, 'audit-log');
    await expectAccessible(page);
    await page.getByLabel(/action/i).first().selectOption('users.export');
    await waitFor(async () => ((await page.getByRole('cell', { name: 'users.import' }).count()) === 0 ? true : undefined));
    expect(await page.getByRole('cell', { name: 'users.export' }).count()).toBe(1);
    await page.context().close();
  });

  it('shows an API error with its code and message instead of a blank page', async () => {
    const page = await openPage();
    await signIn(page, stack.baseUrl, tenant.operators.ADMIN);
    await page.goto(`${stack.baseUrl}/console/imports/00000000-0000-4000-8000-000000000000`);
    await page.getByText('not_found').first().waitFor();
    await page.goto(`${stack.baseUrl}/console/exports/00000000-0000-4000-8000-000000000000`);
    await page.getByText('not_found').first().waitFor();
    await screenshot(page, 'not-found');
    await page.context().close();
  });
});
