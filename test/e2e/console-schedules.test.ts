import { eq } from 'drizzle-orm';
import type { Browser, Page } from 'playwright-core';
import { exportSchedules } from '../../drizzle/schema';
import { api, createTenant, startTestStack, waitFor, type TestStack } from '../helpers/stack';
import { expectAccessible, launchBrowser, openPage, screenshot, signIn } from './browser';

/**
 * The console's Schedules page in a real browser against the real stack: create an incremental schedule, pause and
 * resume it (the Temporal Schedule follows), delete it behind a confirmation; a READER has no Schedules page.
 */

jest.setTimeout(120_000);

let stack: TestStack;
let browser: Browser;

beforeAll(async () => {
  [stack, browser] = await Promise.all([startTestStack(), launchBrowser()]);
});
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

async function signedIn(operator: { token: string; email: string }, path: string): Promise<Page> {
  const page = await openPage(browser);
  await signIn(page, stack.baseUrl, operator);
  await page.goto(`${stack.baseUrl}/console${path}`);
  return page;
}

test('create, pause, resume and delete a schedule from the Schedules page', async () => {
  const t = await createTenant(stack.database.db);
  const officer = t.operators.COMPLIANCE_OFFICER;
  const page = await signedIn(officer, '/exports/new');
  await page.getByRole('link', { name: 'Export schedules' }).click();
  await page.getByRole('heading', { level: 1, name: 'Export schedules' }).waitFor();
  await page.getByText('No schedules yet.').waitFor();

  // An API error is shown with its message.
  await page.getByLabel('Schedule name').fill('Nightly warehouse sync');
  await page.getByLabel('Every').fill('soon');
  await page.getByRole('button', { name: 'Create schedule' }).click();
  await page.getByText('every must be a duration', { exact: false }).waitFor();

  await page.getByLabel('Runs').selectOption('cron');
  await page.getByLabel('Cron expression').fill('0 2 * * *');
  await page.getByLabel('Format').selectOption('ndjson');
  // What each run exports: the export form's filters and columns.
  await page.getByLabel('FLAGGED', { exact: true }).check();
  await page.getByLabel('Tag filter (comma-separated)').fill('vip, vip, gold');
  await page.getByRole('button', { name: 'Create schedule' }).click();
  const row = page.locator('tr', { has: page.getByRole('rowheader', { name: 'Nightly warehouse sync' }) });
  await row.waitFor();
  await row.getByText('cron 0 2 * * * (UTC)').waitFor();
  const [stored] = await waitFor(async () => {
    const rows = await stack.database.db.select().from(exportSchedules).where(eq(exportSchedules.applicationId, t.applicationId));
    return rows.length === 1 ? rows : undefined;
  });
  expect(stored).toMatchObject({ name: 'Nightly warehouse sync', cron: '0 2 * * *', every: null, incremental: true, format: 'ndjson', createdBy: officer.id });
  expect(stored.filters).toEqual({ status: ['FLAGGED'], tags: ['vip', 'gold'] });
  expect(stored.columns).toContain('vendor_data');
  const handle = stack.client.schedule.getHandle(stored.temporalScheduleId);
  expect((await handle.describe()).state.paused).toBe(false);
  await expectAccessible(page);
  await screenshot(page, 'schedules-list');

  await row.getByRole('button', { name: 'Pause Nightly warehouse sync' }).click();
  await waitFor(async () => ((await row.getByTestId('schedule-state').innerText()) === 'Paused' ? true : undefined));
  expect((await handle.describe()).state.paused).toBe(true);
  await row.getByRole('button', { name: 'Resume Nightly warehouse sync' }).click();
  await waitFor(async () => ((await row.getByTestId('schedule-state').innerText()) === 'Active' ? true : undefined));
  expect((await handle.describe()).state.paused).toBe(false);

  await row.getByRole('button', { name: 'Delete' }).click();
  const dialog = page.getByRole('dialog', { name: 'Delete the schedule Nightly warehouse sync?' });
  await dialog.getByRole('button', { name: 'Yes, delete the schedule' }).click();
  await page.getByText('No schedules yet.').waitFor();
  await expect(handle.describe()).rejects.toThrow();
  expect((await api(stack, 'GET', `/console/users/export-schedules/${stored.id}`, { token: officer.token })).status).toBe(404);
});

test('a READER has no Schedules link, and the page says why', async () => {
  const t = await createTenant(stack.database.db);
  const page = await signedIn(t.operators.READER, '/exports');
  await page.getByRole('heading', { level: 1, name: 'Export history' }).waitFor();
  expect(await page.getByRole('link', { name: 'Export schedules' }).count()).toBe(0);
  await page.goto(`${stack.baseUrl}/console/schedules`);
  await page.getByText('Your role does not have the exports.schedules permission', { exact: false }).waitFor();
  expect(await page.getByRole('button', { name: 'Create schedule' }).count()).toBe(0);
});
