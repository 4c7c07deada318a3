import { eq } from 'drizzle-orm';
import type { Browser, Page } from 'playwright-core';
import { exportSchedules } from '../../drizzle/schema';
import { api, createTenant, startTestStack, waitFor, type TestStack } from '../helpers/stack';
import { expectAccessible, launchBrowser, openPage, screenshot, signIn } from './browser';

/**
 * The console's Schedules page in a real browser against the real stack: create an incremental schedule, pause and
 * resume it (the Temporal Schedule follows), delete it behind a confirmation; edit one (when it runs, its filters and
 * columns; an invalid value shown and nothing changed); a READER has no Schedules page.
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

test('edit a schedule: every then cron, filters and columns, prefilled; an invalid value is shown and changes nothing', async () => {
  const t = await createTenant(stack.database.db);
  const officer = t.operators.COMPLIANCE_OFFICER;
  // Shown in the browser's local time and sent back as it was (to the millisecond).
  const range = { created_from: '2024-03-01T10:20:30.000Z', created_to: '2024-06-01T00:00:00.250Z' };
  const created = await api(stack, 'POST', '/console/users/export-schedules', {
    token: officer.token,
    body: {
      name: 'Warehouse sync',
      every: '1d',
      paused: true,
      incremental: false,
      format: 'ndjson',
      gzip: true,
      filters: { status: ['FLAGGED'], tags: ['vip'], country: ['DEU'], ...range },
      columns: ['id', 'vendor_data', 'email'],
    },
  });
  expect(created.status).toBe(201);
  const id: string = created.body.id;
  const stored = async () => (await stack.database.db.select().from(exportSchedules).where(eq(exportSchedules.id, id)))[0];
  const handle = stack.client.schedule.getHandle((await stored()).temporalScheduleId);

  const page = await signedIn(officer, '/schedules');
  const writes: { method: string; body: Record<string, unknown> }[] = [];
  page.on('request', (req) => {
    if (req.method() !== 'GET' && req.url().includes('/console/users/export-schedules')) writes.push({ method: req.method(), body: req.postDataJSON() });
  });
  const row = page.locator('tr', { has: page.getByRole('rowheader', { name: 'Warehouse sync' }) });
  await row.getByText('every 1d').waitFor();
  await row.getByRole('button', { name: 'Edit Warehouse sync' }).click();
  const form = page.getByRole('form', { name: 'Edit Warehouse sync' });
  await form.waitFor();
  // Prefilled from the schedule; the file options are shown, not editable (a PATCH does not take them).
  expect(await form.getByLabel('Runs').inputValue()).toBe('every');
  expect(await form.getByLabel('Every', { exact: true }).inputValue()).toBe('1d');
  expect(await form.getByLabel('FLAGGED', { exact: true }).isChecked()).toBe(true);
  expect(await form.getByLabel('BLOCKED', { exact: true }).isChecked()).toBe(false);
  expect(await form.getByLabel('Tag filter (comma-separated)').inputValue()).toBe('vip');
  await form.getByRole('button', { name: 'Remove Germany' }).waitFor();
  expect(await form.getByLabel('Created from (your local time, inclusive)').inputValue()).not.toBe('');
  expect(await form.getByTestId('column-email').isChecked()).toBe(true);
  expect(await form.getByTestId('column-full_name').isChecked()).toBe(false);
  expect(await form.getByLabel('Format').inputValue()).toBe('ndjson');
  expect(await form.getByLabel('Format').isDisabled()).toBe(true);
  expect(await form.getByLabel('Compress with gzip').isChecked()).toBe(true);
  expect(await form.getByLabel('Compress with gzip').isDisabled()).toBe(true);
  expect(await page.getByRole('button', { name: 'Create schedule' }).count()).toBe(0);
  await expectAccessible(page);

  // An invalid every: the API's message, and the row, the Temporal Schedule and the form as they were.
  const before = await stored();
  await form.getByLabel('Every', { exact: true }).fill('soon');
  await form.getByLabel('BLOCKED', { exact: true }).check();
  await form.getByRole('button', { name: 'Save changes' }).click();
  await form.getByText('every must be a duration', { exact: false }).waitFor();
  expect(await stored()).toEqual(before);
  expect((await handle.describe()).spec.intervals?.[0]?.every).toBe(86_400_000);
  expect(await row.getByText('every 1d').count()).toBe(1);
  await screenshot(page, 'schedules-edit-error');

  await form.getByLabel('Every', { exact: true }).fill('2h');
  await form.getByLabel('FLAGGED', { exact: true }).uncheck();
  await form.getByLabel('Tag filter (comma-separated)').fill('gold, silver');
  await form.getByTestId('column-email').uncheck();
  await form.getByTestId('column-full_name').check();
  await form.getByRole('button', { name: 'Move vendor_data up' }).click();
  await form.getByRole('button', { name: 'Save changes' }).click();
  await page.getByText('The changes to Warehouse sync are saved.').waitFor();
  await row.getByText('every 2h').waitFor();
  expect(await form.count()).toBe(0);
  const kept = { name: 'Warehouse sync', format: 'ndjson', gzip: true, incremental: false, paused: true };
  const columns = ['vendor_data', 'id', 'full_name'];
  expect(await stored()).toMatchObject({ ...kept, every: '2h', cron: null, filters: { status: ['BLOCKED'], tags: ['gold', 'silver'], country: ['DEU'], ...range }, columns });
  expect((await handle.describe()).spec.intervals?.[0]?.every).toBe(7_200_000);
  const read = await api(stack, 'GET', `/console/users/export-schedules/${id}`, { token: officer.token });
  expect(read.body).toMatchObject({ ...kept, every: '2h', cron: null, filters: { status: ['BLOCKED'], tags: ['gold', 'silver'], country: ['DEU'], ...range }, columns });

  // From every to cron, every filter cleared: the form starts from the saved schedule.
  await row.getByRole('button', { name: 'Edit Warehouse sync' }).click();
  expect(await form.getByLabel('Every', { exact: true }).inputValue()).toBe('2h');
  expect(await form.getByLabel('Tag filter (comma-separated)').inputValue()).toBe('gold, silver');
  await form.getByLabel('Runs').selectOption('cron');
  await form.getByLabel('Cron expression').fill('30 3 * * 1');
  await form.getByLabel('BLOCKED', { exact: true }).uncheck();
  await form.getByLabel('Tag filter (comma-separated)').fill('');
  await form.getByRole('button', { name: 'Remove Germany' }).click();
  await form.getByLabel('Created from (your local time, inclusive)').fill('');
  await form.getByLabel('Created before (your local time, exclusive)').fill('');
  await form.getByRole('button', { name: 'Save changes' }).click();
  await row.getByText('cron 30 3 * * 1 (UTC)').waitFor();
  expect(await stored()).toMatchObject({ ...kept, every: null, cron: '30 3 * * 1', filters: {}, columns });
  const described = await handle.describe();
  expect(described.spec.intervals ?? []).toHaveLength(0);
  expect(described.spec.calendars?.length).toBeGreaterThan(0);
  expect((await api(stack, 'GET', `/console/users/export-schedules/${id}`, { token: officer.token })).body).toMatchObject({ every: null, cron: '30 3 * * 1', filters: {} });

  // Only PATCHes were sent, each with only fields a PATCH takes.
  expect(writes.map((w) => w.method)).toEqual(['PATCH', 'PATCH', 'PATCH']);
  for (const w of writes) expect(Object.keys(w.body).filter((k) => !['every', 'cron', 'filters', 'columns'].includes(k))).toEqual([]);
  expect(writes[2].body).toEqual({ cron: '30 3 * * 1', filters: {}, columns });
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
