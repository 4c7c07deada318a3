import type { Browser, Page } from 'playwright-core';
import { sql } from 'drizzle-orm';
import { csvOf, uploadAndValidate } from '../fixtures/imports/support';
import { api, createTenant, startTestStack, waitFor, type TestStack } from '../helpers/stack';
import { startReceiver, type Receiver } from '../helpers/webhook-receiver';
import { expectAccessible, launchBrowser, openPage, screenshot, signIn } from './browser';

/**
 * The console's Webhooks page in a real browser against the real stack (receivers on loopback, so
 * WEBHOOK_ALLOW_PRIVATE=true): create (the secret shown once, then never again), the list, the delivery log of a
 * receiver that fails once then answers 200, delete behind a confirmation, and the page's absence for a READER.
 */

jest.setTimeout(120_000);

let stack: TestStack;
let browser: Browser;
let receiver: Receiver;

beforeAll(async () => {
  [stack, browser, receiver] = await Promise.all([
    startTestStack({ env: { WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_RETRY_INITIAL_INTERVAL: '200ms' } }),
    launchBrowser(),
    startReceiver((n) => (n === 1 ? 503 : 200)),
  ]);
});
afterAll(async () => {
  await browser?.close();
  await receiver?.close();
  await stack?.stop();
});

async function signedIn(operator: { token: string; email: string }, path: string): Promise<Page> {
  const page = await openPage(browser);
  await signIn(page, stack.baseUrl, operator);
  await page.goto(`${stack.baseUrl}/console${path}`);
  return page;
}

it('a DEVELOPER creates a webhook (secret shown once), reads its delivery log, and deletes it; a READER has no Webhooks page', async () => {
  const t = await createTenant(stack.database.db);
  const page = await signedIn(t.operators.DEVELOPER, '/');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Webhooks' }).click();
  await page.getByRole('heading', { name: 'Webhooks', level: 1 }).waitFor();
  await page.getByText('No webhooks yet.').waitFor();

  // A URL the API refuses: its message is shown.
  await page.getByLabel('Endpoint URL (https)').fill('ftp://example.com/hook');
  await page.getByRole('button', { name: 'Create webhook' }).click();
  await page.getByText('The webhook could not be created.').waitFor();
  await page.getByText('invalid_url').first().waitFor();

  await page.getByLabel('Endpoint URL (https)').fill(receiver.url);
  await page.getByLabel('import.awaiting_approval').uncheck();
  await page.getByRole('button', { name: 'Create webhook' }).click();
  const secret = await page.getByTestId('webhook-secret').innerText();
  expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
  const [stored] = (await stack.database.db.execute<{ id: string; secret: string; events: string[] }>(
    sql`SELECT id, secret, events FROM webhook_subscriptions WHERE application_id = ${t.applicationId}`,
  )).rows;
  expect(stored.secret).toBe(secret);
  expect(stored.events).not.toContain('import.awaiting_approval');
  receiver.setSecret(secret);
  await expectAccessible(page);
  await screenshot(page, 'webhooks-created');
  await page.getByRole('button', { name: 'I have stored it' }).click();
  await expect(page.getByTestId('webhook-secret').count()).resolves.toBe(0);
  await page.getByTestId('webhook-row').filter({ hasText: receiver.url }).waitFor();
  // Reloaded, the page never shows the secret again.
  await page.reload();
  await page.getByTestId('webhook-row').first().waitFor();
  expect(await page.content()).not.toContain(secret);

  // An event: the receiver fails the first attempt, takes the second; the log shows both.
  await uploadAndValidate(stack, t.operators.ADMIN.token, csvOf(['vendor_data'], [['wh-e2e-1']]));
  await waitFor(async () => (receiver.received.filter((w) => w.answered === 200).length === 1 ? true : undefined), 30_000, 100);
  expect(receiver.received.every((w) => w.verified)).toBe(true);
  await page.getByRole('link', { name: 'Delivery log' }).click();
  await page.getByRole('heading', { name: 'Delivery log' }).waitFor();
  await waitFor(async () => ((await page.getByTestId('delivery-row').count()) === 2 ? true : undefined), 20_000, 200);
  expect(await page.getByTestId('delivery-status').allInnerTexts()).toEqual(['200', '503']);
  await page.getByText('the receiver answered 503').waitFor();
  await expectAccessible(page);
  await screenshot(page, 'webhooks-deliveries');

  // Delete asks first.
  await page.getByRole('link', { name: '← Webhooks' }).click();
  await page.getByRole('button', { name: 'Delete' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete webhook' }).click();
  await page.getByText('No webhooks yet.').waitFor();
  expect((await api(stack, 'GET', '/console/webhooks', { token: t.operators.DEVELOPER.token })).body.results).toEqual([]);
  await page.context().close();

  const reader = await signedIn(t.operators.READER, '/integrations/webhooks');
  await reader.getByText('Your role does not have the webhooks.manage permission').waitFor();
  expect(await reader.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Webhooks' }).count()).toBe(0);
  await reader.context().close();
});
