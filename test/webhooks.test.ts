import { sql } from 'drizzle-orm';
import { createImportActivities } from '../activities/imports';
import { responseSchemas } from '../src/api/openapi';
import { setApprovalPolicy } from '../src/auth/accounts';
import { OutboxMailer } from '../src/email/outbox';
import { createStorage } from '../src/storage';
import { dispatchAfterCommit } from '../src/webhooks/dispatch';
import { recordImportEvent, webhookEventId } from '../src/webhooks/events';
import { sendWebhook } from '../src/webhooks/send';
import { guardedLookup, isPublicAddress } from '../src/webhooks/url';
import { webhookDeliveryWorkflowId } from '../workflows/webhook-definitions';
import { csvOf, importFile, upload, uploadAndValidate, waitForStatus } from './fixtures/imports/support';
import { runExport } from './helpers/exports';
import { api, createTenant, startTestStack, waitFor, type TestStack, type TestTenant } from './helpers/stack';
import { startReceiver, verifyStandardWebhook, type Receiver } from './helpers/webhook-receiver';

/**
 * Webhooks (API.md "Webhooks") on the real stack, receivers on loopback (so the stack runs with
 * WEBHOOK_ALLOW_PRIVATE=true; a second stack without it checks the URL rule). Signatures are checked with the
 * Standard Webhooks algorithm written in the test (helpers/webhook-receiver.ts), not with the service's code.
 */

let stack: TestStack;
/** Without WEBHOOK_ALLOW_PRIVATE, no worker: the URL rule. */
let strict: TestStack;
const receivers: Receiver[] = [];

const ALL_EVENTS = [
  'import.awaiting_confirmation',
  'import.awaiting_approval',
  'import.completed',
  'import.failed',
  'import.undone',
  'export.completed',
  'export.failed',
];

beforeAll(async () => {
  stack = await startTestStack({
    env: { WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_RETRY_INITIAL_INTERVAL: '200ms', WEBHOOK_REQUEST_TIMEOUT: '2s', RECONCILE_AFTER: '1ms' },
  });
  strict = await startTestStack({ worker: false });
});

afterAll(async () => {
  for (const r of receivers) await r.close();
  await stack?.stop();
  await strict?.stop();
});

async function receiver(behaviour?: Parameters<typeof startReceiver>[0]): Promise<Receiver> {
  const r = await startReceiver(behaviour);
  receivers.push(r);
  return r;
}

async function subscribe(tenant: TestTenant, r: Receiver, events = ALL_EVENTS): Promise<{ id: string; secret: string }> {
  const res = await api(stack, 'POST', '/console/webhooks', { token: tenant.operators.DEVELOPER.token, body: { url: r.url, events } });
  expect(res.status).toBe(201);
  r.setSecret(res.body.secret);
  return res.body;
}

async function workflowStatus(eventId: string, subscriptionId: string): Promise<string> {
  return (await stack.client.workflow.getHandle(webhookDeliveryWorkflowId(eventId, subscriptionId)).describe()).status.name;
}

async function deliveries(tenant: TestTenant, subscriptionId: string) {
  const res = await api(stack, 'GET', `/console/webhooks/${subscriptionId}/deliveries?limit=200`, { token: tenant.operators.ADMIN.token });
  expect(res.status).toBe(200);
  return res.body.results as { event_id: string; event_type: string; attempt: number; status_code: number | null; error: string | null; duration_ms: number; created_at: string }[];
}

const rows = (prefix: string, n: number) => csvOf(['vendor_data', 'display_name'], Array.from({ length: n }, (_, i) => [`${prefix}-${i}`, `name ${i}`]));

test('a verifying receiver gets every event of an import and an export exactly once, signed, with the API objects', async () => {
  const tenant = await createTenant(stack.database.db);
  const token = tenant.operators.ADMIN.token;
  const r = await receiver();
  const sub = await subscribe(tenant, r);
  expect(sub.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
  expect(Buffer.from(sub.secret.slice(6), 'base64').length).toBeGreaterThanOrEqual(24);

  const done = await importFile(stack, token, rows('wh', 7));
  expect(done.status).toBe('COMPLETED');
  const exported = await runExport(stack, token, {});
  expect(exported.status).toBe('COMPLETED');

  const expected = [
    webhookEventId('import.awaiting_confirmation', done.id),
    ...(await stack.database.db.execute<{ id: string }>(sql`SELECT id FROM webhook_events WHERE job_id = ${done.id} AND type = 'import.completed'`)).rows.map((e) => e.id),
    ...(await stack.database.db.execute<{ id: string }>(sql`SELECT id FROM webhook_events WHERE job_id = ${exported.id}`)).rows.map((e) => e.id),
  ];
  expect(expected).toHaveLength(3);
  // Every delivery workflow has closed: nothing more will come.
  await waitFor(async () => {
    const states = await Promise.all(expected.map((id) => workflowStatus(id, sub.id).catch(() => 'MISSING')));
    return states.every((s) => s === 'COMPLETED') ? true : undefined;
  }, 60_000, 200);

  expect(r.received.map((w) => w.payload.type).sort()).toEqual(['export.completed', 'import.awaiting_confirmation', 'import.completed']);
  expect(r.received.map((w) => w.headers['webhook-id']).sort()).toEqual([...expected].sort());
  for (const w of r.received) {
    expect(w.verified).toBe(true);
    expect(w.headers['content-type']).toMatch(/^application\/json/);
    expect(w.payload.id).toBe(w.headers['webhook-id']);
    expect(new Date(w.payload.created_at).toISOString()).toBe(w.payload.created_at);
    // A tampered body or another secret does not verify.
    expect(verifyStandardWebhook(sub.secret, w.headers, w.body.replace('"id"', '"Id"'))).toBe(false);
    expect(verifyStandardWebhook(`whsec_${Buffer.alloc(32, 1).toString('base64')}`, w.headers, w.body)).toBe(false);
  }
  const byType = Object.fromEntries(r.received.map((w) => [w.payload.type, w.payload.data]));
  expect(byType['import.awaiting_confirmation']).toMatchObject({ id: done.id, status: 'AWAITING_CONFIRMATION', total_rows: 7 });
  expect(byType['import.completed']).toMatchObject({ id: done.id, status: 'COMPLETED', created_count: 7 });
  expect(byType['export.completed']).toMatchObject({ id: exported.id, status: 'COMPLETED', row_count: 7, download_url: null });

  // The delivery log: one 2xx attempt per event; the answers are those /openapi.json documents.
  const log = await deliveries(tenant, sub.id);
  const logPage = await api(stack, 'GET', `/console/webhooks/${sub.id}/deliveries`, { token });
  expect(responseSchemas.WebhookDeliveryList.parse(logPage.body)).toEqual(logPage.body);
  const listPage = await api(stack, 'GET', '/console/webhooks', { token });
  expect(responseSchemas.WebhookList.parse(listPage.body)).toEqual(listPage.body);
  expect(log).toHaveLength(3);
  for (const attempt of log) expect(attempt).toMatchObject({ attempt: 1, status_code: 200, error: null });

  // The emitting activity retried (finishImport run again with the same run key): no second event, no second delivery.
  const [{ key }] = (
    await stack.database.db.execute<{ key: string }>(sql`SELECT idempotency_key AS key FROM audit_log WHERE target_id = ${done.id} AND action = 'users.import'`)
  ).rows;
  const activities = createImportActivities({ db: stack.database.db, storage: createStorage(stack.config), config: stack.config, temporal: stack.client, mailer: new OutboxMailer(stack.database.db) });
  await activities.finishImport({ importId: done.id, runKey: key });
  await activities.validateImport({ importId: done.id });
  const events = await stack.database.db.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM webhook_events WHERE job_id = ${done.id}`);
  expect(events.rows[0].n).toBe(2);
  expect(r.received).toHaveLength(3);
  expect(await deliveries(tenant, sub.id)).toHaveLength(3);
});

test('the other events: awaiting_approval, completed after approval, undone; failed and export.failed when the reconciler ends a terminated job', async () => {
  const tenant = await createTenant(stack.database.db);
  const admin = tenant.operators.ADMIN.token;
  const r = await receiver();
  await subscribe(tenant, r);
  await setApprovalPolicy(stack.database.db, { applicationId: tenant.applicationId, statuses: ['BLOCKED'] });
  const preview = await uploadAndValidate(stack, admin, csvOf(['vendor_data', 'status'], [['ev-1', 'BLOCKED'], ['ev-2', 'ACTIVE']]));
  expect((await api(stack, 'POST', `/console/users/imports/${preview.id}/confirm`, { token: admin })).status).toBe(202);
  await waitForStatus(stack, admin, preview.id, ['AWAITING_APPROVAL']);
  expect((await api(stack, 'POST', `/console/users/imports/${preview.id}/approve`, { token: tenant.operators.OWNER.token })).status).toBe(202);
  await waitForStatus(stack, admin, preview.id, ['COMPLETED']);
  expect((await api(stack, 'POST', `/console/users/imports/${preview.id}/undo`, { token: admin })).status).toBe(202);
  await waitForStatus(stack, admin, preview.id, ['UNDONE']);
  const types = () => r.received.filter((w) => w.payload.data.id === preview.id).map((w) => w.payload.type);
  await waitFor(async () => (types().length === 4 ? true : undefined), 30_000, 100);
  expect(types().sort()).toEqual(['import.awaiting_approval', 'import.awaiting_confirmation', 'import.completed', 'import.undone']);
  const undone = r.received.find((w) => w.payload.type === 'import.undone')!;
  expect(undone.payload.data).toMatchObject({ id: preview.id, status: 'UNDONE' });
  expect(r.received.find((w) => w.payload.type === 'import.awaiting_approval')!.payload.data).toMatchObject({ status: 'AWAITING_APPROVAL' });

  // An import by API key with auto_confirm that the policy holds for approval sends the same event.
  const form = new FormData();
  form.append('auto_confirm', 'true');
  form.append('file', new Blob([Buffer.from(csvOf(['vendor_data', 'status'], [['ev-auto', 'BLOCKED']]))], { type: 'text/csv' }), 'users.csv');
  const started = await fetch(`${stack.baseUrl}/v3/users/imports`, { method: 'POST', headers: { 'x-api-key': tenant.apiKey }, body: form });
  expect(started.status).toBe(202);
  const auto = ((await started.json()) as { id: string }).id;
  await waitForStatus(stack, admin, auto, ['AWAITING_APPROVAL']);
  const autoEvent = await waitFor(async () => r.received.find((w) => w.payload.type === 'import.awaiting_approval' && w.payload.data.id === auto), 30_000, 100);
  expect(autoEvent.payload.data).toMatchObject({ id: auto, status: 'AWAITING_APPROVAL' });
  const recorded = await stack.database.db.execute<{ n: number }>(
    sql`SELECT count(*)::int AS n FROM webhook_events WHERE id = ${webhookEventId('import.awaiting_approval', auto)}`,
  );
  expect(recorded.rows[0].n).toBe(1);

  // An import and an export whose workflows are terminated from outside (started by the worker-less stack, so they
  // never run): the reconciler ends them FAILED.
  const uploaded = await upload(strict, admin, rows('term', 2));
  expect(uploaded.status).toBe(202);
  const stuck = uploaded.body as { id: string };
  await strict.client.workflow.getHandle(`users-import-${stuck.id}`).terminate('test: terminated from outside');
  const exp = await api(strict, 'POST', '/console/users/exports', { token: admin, body: {} });
  expect(exp.status).toBe(202);
  await strict.client.workflow.getHandle(`users-export-${exp.body.id}`).terminate('test: terminated from outside');
  const reconciled = await stack.client.workflow.execute('reconcileWorkflow', {
    taskQueue: stack.config.temporal.taskQueue,
    workflowId: `reconcile-ended-${stuck.id}`,
    args: [{ applicationId: tenant.applicationId }],
  });
  expect(reconciled.ended).toEqual([stuck.id]);
  await waitFor(async () => (r.received.some((w) => w.payload.type === 'import.failed') && r.received.some((w) => w.payload.type === 'export.failed') ? true : undefined), 30_000, 100);
  expect(r.received.find((w) => w.payload.type === 'import.failed')!.payload.data).toMatchObject({ id: stuck.id, status: 'FAILED', error: { code: 'workflow_ended' } });
  expect(r.received.find((w) => w.payload.type === 'export.failed')!.payload.data).toMatchObject({ id: exp.body.id, status: 'FAILED', error: { code: 'workflow_ended' } });
  expect(r.received.every((w) => w.verified)).toBe(true);
  expect(new Set(r.received.map((w) => w.headers['webhook-id'])).size).toBe(r.received.length);
});

test('a receiver that fails 3 times then answers 200 gets it on the 4th attempt with the same webhook-id; 4 attempts logged', async () => {
  const tenant = await createTenant(stack.database.db);
  const r = await receiver((n) => (n <= 3 ? 500 : 200));
  const sub = await subscribe(tenant, r, ['import.awaiting_confirmation']);
  const preview = await uploadAndValidate(stack, tenant.operators.ADMIN.token, rows('retry', 2));
  const eventId = webhookEventId('import.awaiting_confirmation', preview.id);
  await waitFor(async () => ((await workflowStatus(eventId, sub.id).catch(() => 'MISSING')) === 'COMPLETED' ? true : undefined), 60_000, 200);
  expect(r.received).toHaveLength(4);
  expect(new Set(r.received.map((w) => w.headers['webhook-id']))).toEqual(new Set([eventId]));
  expect(r.received.every((w) => w.verified)).toBe(true);
  // Backoff: Temporal waits at least 200 ms, 400 ms, then 800 ms (its timers may fire later, never sooner).
  const gaps = r.received.slice(1).map((w, i) => w.at.getTime() - r.received[i].at.getTime());
  expect(gaps.every((gap) => gap >= 150)).toBe(true);
  expect(gaps.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(1300);
  const log = await deliveries(tenant, sub.id);
  expect(log.map((a) => [a.attempt, a.status_code])).toEqual([
    [4, 200],
    [3, 500],
    [2, 500],
    [1, 500],
  ]);
  expect(log.every((a) => a.event_id === eventId && a.event_type === 'import.awaiting_confirmation')).toBe(true);
  expect(log[1].error).toMatch(/500/);
  const result = await stack.client.workflow.getHandle(webhookDeliveryWorkflowId(eventId, sub.id)).result();
  expect(result).toMatchObject({ outcome: 'delivered', attempt: 4, statusCode: 200 });
});

test('a receiver that never answers times out and is retried, without delaying the import; deleting the subscription stops it', async () => {
  const tenant = await createTenant(stack.database.db);
  const token = tenant.operators.ADMIN.token;
  const r = await receiver(() => 'hang');
  const sub = await subscribe(tenant, r, ['import.awaiting_confirmation', 'import.completed']);
  const started = Date.now();
  const done = await importFile(stack, token, rows('hang', 3));
  expect(done.status).toBe('COMPLETED');
  const eventId = webhookEventId('import.awaiting_confirmation', done.id);
  // The import is done while its first event's delivery still waits for an answer (or for its next attempt).
  expect(await workflowStatus(eventId, sub.id)).toBe('RUNNING');
  const log = await waitFor(async () => {
    const attempts = await deliveries(tenant, sub.id);
    return attempts.some((a) => a.event_id === eventId && a.error?.startsWith('timeout')) ? attempts : undefined;
  }, 30_000, 200);
  const timedOut = log.find((a) => a.event_id === eventId && a.error?.startsWith('timeout'))!;
  expect(timedOut).toMatchObject({ status_code: null });
  expect(timedOut.duration_ms).toBeGreaterThanOrEqual(1900);
  expect(Date.now() - started).toBeLessThan(60_000);
  expect(r.received.length).toBeGreaterThanOrEqual(1);

  const deleted = await api(stack, 'DELETE', `/console/webhooks/${sub.id}`, { token });
  expect(deleted.status).toBe(204);
  const result = await stack.client.workflow.getHandle(webhookDeliveryWorkflowId(eventId, sub.id)).result();
  expect(result.outcome).toBe('subscription_deleted');
});

test('an event recorded but never dispatched (the process died after the commit) is delivered by the reconciler', async () => {
  const tenant = await createTenant(stack.database.db);
  const r = await receiver();
  const sub = await subscribe(tenant, r, ['import.undone']);
  const done = await importFile(stack, tenant.operators.ADMIN.token, rows('sweep', 2));
  // As if finishUndo had committed and the worker had died before starting the deliveries.
  const eventId = await recordImportEvent(stack.database.db, { importId: done.id, type: 'import.undone' });
  expect(r.received).toHaveLength(0);
  const result = await stack.client.workflow.execute('reconcileWorkflow', {
    taskQueue: stack.config.temporal.taskQueue,
    workflowId: `reconcile-webhooks-${done.id}`,
    args: [{ applicationId: tenant.applicationId }],
  });
  expect(result.webhooks).toMatchObject({ dispatched: 1, failed: [] });
  await waitFor(async () => ((await workflowStatus(eventId, sub.id).catch(() => 'MISSING')) === 'COMPLETED' ? true : undefined), 30_000, 200);
  expect(r.received.map((w) => w.headers['webhook-id'])).toEqual([eventId]);
  // Dispatching it again (a retried activity) starts nothing: the workflow id was used.
  await stack.database.db.execute(sql`UPDATE webhook_events SET dispatched_at = NULL WHERE id = ${eventId}`);
  await dispatchAfterCommit({ db: stack.database.db, temporal: stack.client, config: stack.config }, [eventId]);
  expect(r.received).toHaveLength(1);
});

test('a job that fails because Temporal cannot start its workflow records its failed event (the reconciler delivers it later)', async () => {
  const offline = await startTestStack({ worker: false, env: { WEBHOOK_ALLOW_PRIVATE: 'true' } });
  try {
    const tenant = await createTenant(offline.database.db);
    const token = tenant.operators.OWNER.token;
    const r = await receiver();
    const created = await api(offline, 'POST', '/console/webhooks', { token, body: { url: r.url, events: ['export.failed'] } });
    expect(created.status).toBe(201);
    // The API's Temporal connection is gone: the export cannot be started.
    await offline.client.connection.close();
    const res = await api(offline, 'POST', '/console/users/exports', { token, body: {} });
    expect(res.status).toBe(503);
    const events = await offline.database.db.execute<{ type: string; payload: { data: { status: string; error: { code: string } } }; dispatched_at: Date | null }>(
      sql`SELECT type, payload, dispatched_at FROM webhook_events WHERE application_id = ${tenant.applicationId}`,
    );
    expect(events.rows).toHaveLength(1);
    expect(events.rows[0]).toMatchObject({ type: 'export.failed', dispatched_at: null, payload: { data: { status: 'FAILED', error: { code: 'workflow_start_failed' } } } });
    // An import that cannot be started either ends FAILED.
    const imported = await upload(offline, token, rows('offline', 2));
    expect(imported.status).toBe(503);
    // Each ended, so each has its audit entry, as every import and export does.
    const audit = await offline.database.db.execute<{ action: string; status: string; details: Record<string, unknown> }>(
      sql`SELECT action, status, details FROM audit_log WHERE application_id = ${tenant.applicationId} ORDER BY action`,
    );
    expect(audit.rows).toEqual([
      { action: 'users.export', status: 'FAILURE', details: expect.objectContaining({ outcome: 'FAILED', error: expect.objectContaining({ code: 'workflow_start_failed' }) }) },
      {
        action: 'users.import',
        status: 'FAILURE',
        details: expect.objectContaining({ import_status: 'FAILED', error: expect.objectContaining({ code: 'workflow_not_started' }) }),
      },
    ]);
  } finally {
    await offline.stop().catch(() => undefined);
  }
});

describe('the URL rule', () => {
  test('without WEBHOOK_ALLOW_PRIVATE: not https, or loopback/private/link-local/unique-local, is 400 invalid_url', async () => {
    const tenant = await createTenant(strict.database.db);
    const token = tenant.operators.OWNER.token;
    for (const url of [
      'http://example.com/hook',
      'ftp://example.com/hook',
      'not a url',
      'https://127.0.0.1/hook',
      'https://localhost:8443/hook',
      'https://10.1.2.3/hook',
      'https://192.168.0.10/hook',
      'https://172.16.0.1/hook',
      'https://169.254.169.254/latest/meta-data',
      'https://[::1]/hook',
      'https://[fd00::1]/hook',
      'https://[fe80::1]/hook',
      'https://[::ffff:127.0.0.1]/hook',
      'https://0.0.0.0/hook',
    ]) {
      const res = await api(strict, 'POST', '/console/webhooks', { token, body: { url, events: ['import.completed'] } });
      expect([url, res.status, res.body.error.code]).toEqual([url, 400, 'invalid_url']);
    }
    const list = await api(strict, 'GET', '/console/webhooks', { token });
    expect(list.body).toEqual({ results: [], next_cursor: null });
    // A public address, and a name that does not resolve from here (this machine has no DNS beyond its own names):
    // neither resolves to a private address, so both are taken; every attempt checks the address again.
    for (const url of ['https://93.184.215.14/hook', 'https://hooks.example.com/kyc']) {
      const res = await api(strict, 'POST', '/console/webhooks', { token, body: { url, events: ['import.completed'] } });
      expect([url, res.status]).toEqual([url, 201]);
      expect(res.body.url).toBe(url);
    }
  });

  test('addresses: public unicast only', () => {
    expect(isPublicAddress('93.184.216.34')).toBe(true);
    expect(isPublicAddress('2606:2800:220:1:248:1893:25c8:1946')).toBe(true);
    for (const a of ['127.0.0.1', '10.0.0.1', '100.64.0.1', '192.168.1.1', '169.254.1.1', '::1', 'fc00::1', 'fe80::1', '::ffff:10.0.0.1', '224.0.0.1', '0.0.0.0', 'nonsense']) {
      expect([a, isPublicAddress(a)]).toEqual([a, false]);
    }
  });

  test('at send time too: a private address is refused before any connection, and a name resolving to one cannot be connected to', async () => {
    const r = await receiver();
    const outcome = await sendWebhook({ url: r.url, body: '{}', headers: {}, timeoutMs: 2000, allowPrivate: false });
    expect(outcome).toMatchObject({ statusCode: null, error: expect.stringMatching(/^invalid_url/) });
    expect(r.received).toHaveLength(0);
    // The socket's lookup (DNS rebinding: the name may resolve elsewhere at connect time).
    const error = await new Promise<Error | null>((resolve) => guardedLookup(false)('localhost', {}, (err) => resolve(err)));
    expect(error?.message).toMatch(/not a public address/);
  });
});

describe('routes', () => {
  test('auth, roles, validation, list without secrets, delete, another application 404', async () => {
    const tenant = await createTenant(stack.database.db);
    const other = await createTenant(stack.database.db);
    const r = await receiver();
    const body = { url: r.url, events: ['import.completed'] };
    expect((await api(stack, 'POST', '/console/webhooks', { body })).status).toBe(401);
    expect((await api(stack, 'GET', '/console/webhooks', { token: 'nope' })).status).toBe(401);
    for (const role of ['READER', 'COMPLIANCE_OFFICER'] as const) {
      const token = tenant.operators[role].token;
      expect((await api(stack, 'POST', '/console/webhooks', { token, body })).body.error.code).toBe('forbidden');
      expect((await api(stack, 'GET', '/console/webhooks', { token })).status).toBe(403);
    }
    const created: string[] = [];
    for (const role of ['OWNER', 'ADMIN', 'DEVELOPER'] as const) {
      const res = await api(stack, 'POST', '/console/webhooks', { token: tenant.operators[role].token, body });
      expect(res.status).toBe(201);
      expect(Object.keys(res.body).sort()).toEqual(['created_at', 'events', 'id', 'secret', 'url']);
      expect(responseSchemas.WebhookCreated.parse(res.body)).toEqual(res.body);
      created.push(res.body.id);
    }
    const token = tenant.operators.DEVELOPER.token;
    const unknown = await api(stack, 'POST', '/console/webhooks', { token, body: { url: r.url, events: ['import.exploded'] } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.code).toBe('invalid_field');
    expect((await api(stack, 'POST', '/console/webhooks', { token, body: { url: r.url, events: [] } })).body.error.code).toBe('invalid_field');
    expect((await api(stack, 'POST', '/console/webhooks', { token, body: { events: ['import.completed'] } })).body.error.code).toBe('invalid_field');
    expect((await api(stack, 'POST', '/console/webhooks', { token, body: { url: 'mailto:x@example.com', events: ['import.completed'] } })).body.error.code).toBe('invalid_url');
    for (const url of ['', '   ', 42, null, ['https://example.com'], `https://example.com/${'a'.repeat(2000)}`]) {
      const bad = await api(stack, 'POST', '/console/webhooks', { token, body: { url, events: ['import.completed'] } });
      expect([bad.status, bad.body.error.code]).toEqual([400, 'invalid_url']);
    }
    expect((await api(stack, 'POST', '/console/webhooks', { token, body: 'x', headers: { 'content-type': 'text/plain' } })).status).toBe(415);

    const page1 = await api(stack, 'GET', '/console/webhooks?limit=2', { token });
    expect(page1.status).toBe(200);
    expect(page1.body.results.map((w: { id: string }) => w.id)).toEqual([created[2], created[1]]);
    expect(page1.body.results[0]).not.toHaveProperty('secret');
    const page2 = await api(stack, 'GET', `/console/webhooks?limit=2&cursor=${page1.body.next_cursor}`, { token });
    expect(page2.body).toMatchObject({ results: [{ id: created[0] }], next_cursor: null });
    expect((await api(stack, 'GET', '/console/webhooks?limit=0', { token })).body.error.code).toBe('invalid_limit');

    const otherToken = other.operators.OWNER.token;
    expect((await api(stack, 'DELETE', `/console/webhooks/${created[0]}`, { token: otherToken })).status).toBe(404);
    expect((await api(stack, 'GET', `/console/webhooks/${created[0]}/deliveries`, { token: otherToken })).status).toBe(404);
    expect((await api(stack, 'GET', '/console/webhooks/not-a-uuid/deliveries', { token })).status).toBe(404);
    expect((await api(stack, 'GET', `/console/webhooks/${created[0]}/deliveries`, { token: tenant.operators.READER.token })).status).toBe(403);
    expect((await api(stack, 'GET', `/console/webhooks/${created[0]}/deliveries`, { token })).body).toEqual({ results: [], next_cursor: null });
    expect((await api(stack, 'DELETE', `/console/webhooks/${created[0]}`, { token })).status).toBe(204);
    expect((await api(stack, 'DELETE', `/console/webhooks/${created[0]}`, { token })).status).toBe(404);
    expect((await api(stack, 'GET', `/console/webhooks/${created[0]}/deliveries`, { token })).status).toBe(404);
    expect((await api(stack, 'GET', '/console/webhooks', { token })).body.results).toHaveLength(2);
    // The URL comes back as it was sent (trimmed), not normalised.
    const origin = new URL(r.url).origin;
    const bare = await api(stack, 'POST', '/console/webhooks', { token, body: { url: ` ${origin} `, events: ['import.completed', 'import.completed'] } });
    expect(bare.body).toMatchObject({ url: origin, events: ['import.completed'] });
  });

  test('an application without a subscription stores no events', async () => {
    const tenant = await createTenant(stack.database.db);
    const done = await importFile(stack, tenant.operators.ADMIN.token, rows('none', 2));
    await waitForStatus(stack, tenant.operators.ADMIN.token, done.id, ['COMPLETED']);
    const events = await stack.database.db.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM webhook_events WHERE application_id = ${tenant.applicationId}`);
    expect(events.rows[0].n).toBe(0);
  });
});
