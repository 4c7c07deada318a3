import { sql } from 'drizzle-orm';
import { responseSchemas } from '../src/api/openapi';
import { setApprovalPolicy } from '../src/auth/accounts';
import { api, createTenant, startTestStack, waitFor, type TestStack, type TestTenant } from './helpers/stack';
import { csvOf, TERMINAL, upload as consoleUpload, waitForStatus } from './fixtures/imports/support';

// The public bulk API (API.md "Public bulk API"): the console's imports under /v3/users/imports with x-api-key.
let stack: TestStack;
let tenant: TestTenant;
let other: TestTenant;

beforeAll(async () => {
  stack = await startTestStack();
  tenant = await createTenant(stack.database.db);
  other = await createTenant(stack.database.db);
});
afterAll(async () => {
  await stack?.stop();
});

/** POSTs a file (and fields) as multipart/form-data to /v3/users/imports with an API key. */
async function apiUpload(apiKey: string, content: string, fields: Record<string, string> = {}) {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  form.append('file', new Blob([Buffer.from(content)], { type: 'text/csv' }), 'users.csv');
  const res = await fetch(`${stack.baseUrl}/v3/users/imports`, { method: 'POST', headers: { 'x-api-key': apiKey }, body: form });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text), text };
}

/** Polls an import through the public API until its status is one of `statuses`. */
function waitForApiStatus(apiKey: string, id: string, statuses: string[], timeoutMs = 90_000) {
  return waitFor(async () => {
    const res = await api(stack, 'GET', `/v3/users/imports/${id}`, { apiKey });
    if (res.status !== 200) throw new Error(`GET import: ${res.status} ${res.text}`);
    if (statuses.includes(res.body.status)) return res.body;
    if (TERMINAL.includes(res.body.status)) throw new Error(`import ended ${res.body.status}: ${res.text}`);
    return undefined;
  }, timeoutMs, 100);
}

async function count(query: ReturnType<typeof sql>): Promise<number> {
  const result = await stack.database.db.execute<{ n: number }>(query);
  return result.rows[0].n;
}

const rowsOf = (prefix: string, n: number, extra: (i: number) => string[] = () => []) =>
  csvOf(['vendor_data', 'display_name', 'email'], Array.from({ length: n }, (_, i) => [`${prefix}-${i}`, `Name ${i}`, `${prefix}-${i}@example.com`, ...extra(i)]));

test('a 1,000-row import with auto_confirm by API key completes: users written, operator null, api_key.prefix, the audit entry', async () => {
  const prefix = tenant.apiKey.slice(0, 12);
  const started = await apiUpload(tenant.apiKey, rowsOf('bulk', 1000), { auto_confirm: 'true' });
  expect(started.status).toBe(202);
  expect(started.body).toMatchObject({ status: 'VALIDATING', operator: null, api_key: { prefix }, auto_confirm: true, rows_per_second: null, eta_seconds: null });
  const id = started.body.id as string;

  const done = await waitForApiStatus(tenant.apiKey, id, ['COMPLETED']);
  expect(done).toMatchObject({
    operator: null,
    api_key: { prefix },
    total_rows: 1000,
    valid_rows: 1000,
    processed_rows: 1000,
    created_count: 1000,
    progress: 1,
    rows_per_second: null,
    eta_seconds: null,
    error: null,
  });
  expect(done.confirmed_at).not.toBeNull();
  // The answer is what /openapi.json documents (operator null, api_key), no field more.
  expect(responseSchemas.Import.parse(done)).toEqual(done);
  expect(prefix).toMatch(/^kyc_ak_.{5}$/);

  // The users are in the database, and the import row says who started it.
  expect(await count(sql`SELECT count(*)::int AS n FROM users WHERE application_id = ${tenant.applicationId} AND vendor_data LIKE 'bulk-%'`)).toBe(1000);
  const row = await stack.database.db.execute<{ operator_id: string | null; api_key_prefix: string | null; auto_confirm: boolean }>(
    sql`SELECT operator_id, api_key_prefix, auto_confirm FROM imports WHERE id = ${id}`,
  );
  expect(row.rows[0]).toEqual({ operator_id: null, api_key_prefix: prefix, auto_confirm: true });

  // The console sees the same import object.
  const inConsole = await api(stack, 'GET', `/console/users/imports/${id}`, { token: tenant.operators.READER.token });
  expect(inConsole.body).toEqual({ ...done, rows_per_second: null, eta_seconds: null });

  // The audit entry names the API key, no operator.
  const audit = await api(stack, 'GET', '/console/audit-log?action=users.import', { token: tenant.operators.OWNER.token });
  const entry = audit.body.results.find((e: { target_id: string }) => e.target_id === id);
  expect(entry).toMatchObject({ action: 'users.import', status: 'SUCCESS', operator: null, api_key: { prefix } });
  expect(entry.details).toMatchObject({ actor: 'api_key', api_key: { prefix }, auto_confirm: true, created_count: 1000 });
  const stored = await stack.database.db.execute<{ operator_id: string | null; api_key_prefix: string }>(
    sql`SELECT operator_id, api_key_prefix FROM audit_log WHERE target_id = ${id}`,
  );
  expect(stored.rows).toEqual([{ operator_id: null, api_key_prefix: prefix }]);

  // Rows, errors.csv through the API; a console import keeps its operator and has api_key null.
  const rows = await api(stack, 'GET', `/v3/users/imports/${id}/rows?limit=2`, { apiKey: tenant.apiKey });
  expect(rows.status).toBe(200);
  expect(rows.body.results.map((r: { row_number: number }) => r.row_number)).toEqual([2, 3]);
  const errors = await api(stack, 'GET', `/v3/users/imports/${id}/errors.csv`, { apiKey: tenant.apiKey });
  expect(errors.status).toBe(200);
  expect(errors.headers.get('content-type')).toMatch(/^text\/csv/);
  expect(errors.text.split(/\r?\n/)[0]).toBe('row_number,vendor_data,column,code,message,raw_row');
}, 120_000);

test('without auto_confirm: confirm and cancel through the API; personal data in changes is shown to the key', async () => {
  await api(stack, 'POST', '/v3/users/create/', { apiKey: tenant.apiKey, body: { vendor_data: 'pd-1', email: 'old@example.com' } });
  const started = await apiUpload(tenant.apiKey, csvOf(['vendor_data', 'email'], [['pd-1', 'new@example.com'], ['pd-2', 'x@example.com']]));
  expect(started.status).toBe(202);
  const preview = await waitForApiStatus(tenant.apiKey, started.body.id, ['AWAITING_CONFIRMATION']);
  expect(preview.auto_confirm).toBe(false);
  const rows = await api(stack, 'GET', `/v3/users/imports/${preview.id}/rows?action=update`, { apiKey: tenant.apiKey });
  expect(rows.body.results[0].changes).toEqual([{ field: 'email', from: 'old@example.com', to: 'new@example.com' }]);
  // A READER in the console does not see that personal data.
  const asReader = await api(stack, 'GET', `/console/users/imports/${preview.id}/rows?action=update`, { token: tenant.operators.READER.token });
  expect(asReader.body.results[0].changes).toEqual([]);

  const confirmed = await api(stack, 'POST', `/v3/users/imports/${preview.id}/confirm`, { apiKey: tenant.apiKey });
  expect(confirmed.status).toBe(202);
  expect(confirmed.body.status).toBe('RUNNING');
  await waitForApiStatus(tenant.apiKey, preview.id, ['COMPLETED']);
  const again = await api(stack, 'POST', `/v3/users/imports/${preview.id}/confirm`, { apiKey: tenant.apiKey });
  expect(again.status).toBe(409);
  expect(again.body.error.code).toBe('invalid_state');

  const second = await apiUpload(tenant.apiKey, rowsOf('cancelled', 3));
  await waitForApiStatus(tenant.apiKey, second.body.id, ['AWAITING_CONFIRMATION']);
  const cancelled = await api(stack, 'POST', `/v3/users/imports/${second.body.id}/cancel`, { apiKey: tenant.apiKey });
  expect(cancelled.status).toBe(202);
  expect(cancelled.body.status).toBe('CANCELLED');
}, 120_000);

test('auto_confirm still follows the approval policy: AWAITING_APPROVAL, then an operator approves', async () => {
  const tenant2 = await createTenant(stack.database.db);
  await setApprovalPolicy(stack.database.db, { applicationId: tenant2.applicationId, statuses: ['BLOCKED'] });
  const started = await apiUpload(tenant2.apiKey, csvOf(['vendor_data', 'status'], [['ap-1', 'BLOCKED'], ['ap-2', 'ACTIVE']]), { auto_confirm: 'true' });
  expect(started.status).toBe(202);
  const waiting = await waitForApiStatus(tenant2.apiKey, started.body.id, ['AWAITING_APPROVAL']);
  expect(waiting.approval).toMatchObject({ required: true, reasons: ['sets status BLOCKED on 1 user'] });
  expect(await count(sql`SELECT count(*)::int AS n FROM users WHERE application_id = ${tenant2.applicationId}`)).toBe(0);
  // Any operator with the role may approve an import an API key started.
  const approved = await api(stack, 'POST', `/console/users/imports/${waiting.id}/approve`, { token: tenant2.operators.ADMIN.token });
  expect(approved.status).toBe(202);
  const done = await waitForApiStatus(tenant2.apiKey, waiting.id, ['COMPLETED']);
  expect(done.approval.approved_by).toEqual({ id: tenant2.operators.ADMIN.id, email: tenant2.operators.ADMIN.email });
  expect(await count(sql`SELECT count(*)::int AS n FROM users WHERE application_id = ${tenant2.applicationId}`)).toBe(2);
}, 90_000);

test("another application's key gets 404 on every route; a bad key 401; a bad option 400; the console refuses auto_confirm", async () => {
  const started = await apiUpload(tenant.apiKey, rowsOf('mine', 2));
  const id = started.body.id as string;
  await waitForApiStatus(tenant.apiKey, id, ['AWAITING_CONFIRMATION']);
  const routes: [string, string][] = [
    ['GET', `/v3/users/imports/${id}`],
    ['GET', `/v3/users/imports/${id}/rows`],
    ['GET', `/v3/users/imports/${id}/errors.csv`],
    ['POST', `/v3/users/imports/${id}/confirm`],
    ['POST', `/v3/users/imports/${id}/cancel`],
  ];
  for (const [method, path] of routes) {
    const res = await api(stack, method, path, { apiKey: other.apiKey });
    expect([path, res.status, res.body?.error?.code]).toEqual([path, 404, 'not_found']);
    const bad = await api(stack, method, path, { apiKey: 'kyc_ak_not-a-key' });
    expect([path, bad.status]).toEqual([path, 401]);
  }
  // The other application's history does not hold it; the import is still waiting, untouched.
  const list = await api(stack, 'GET', '/v3/users/imports', { apiKey: other.apiKey });
  expect(list.body.results.map((r: { id: string }) => r.id)).not.toContain(id);
  // With a trailing slash it is the user whose vendor_data is `imports` (API.md: GET /v3/users/{vendor_data}/).
  const named = await api(stack, 'POST', '/v3/users/create/', { apiKey: other.apiKey, body: { vendor_data: 'Imports', email: 'imports@example.com' } });
  expect(named.status).toBe(201);
  const user = await api(stack, 'GET', '/v3/users/imports/', { apiKey: other.apiKey });
  expect([user.status, user.body.id, user.body.vendor_data]).toEqual([200, named.body.id, 'Imports']);
  expect((await api(stack, 'GET', '/v3/users/imports', { apiKey: other.apiKey })).body.results).toEqual(expect.any(Array));
  expect((await api(stack, 'GET', `/v3/users/imports/${id}`, { apiKey: tenant.apiKey })).body.status).toBe('AWAITING_CONFIRMATION');
  expect((await api(stack, 'POST', '/v3/users/imports', { apiKey: 'kyc_ak_not-a-key' })).status).toBe(401);

  const badOption = await apiUpload(tenant.apiKey, rowsOf('bad', 1), { auto_confirm: 'yes' });
  expect(badOption.status).toBe(400);
  expect(badOption.body.error).toMatchObject({ code: 'invalid_field', details: [{ field: 'auto_confirm' }] });
  const viaConsole = await (async () => {
    const form = new FormData();
    form.append('auto_confirm', 'true');
    form.append('file', new Blob([Buffer.from(rowsOf('c', 1))], { type: 'text/csv' }), 'users.csv');
    const res = await fetch(`${stack.baseUrl}/console/users/imports`, { method: 'POST', headers: { authorization: `Bearer ${tenant.operators.ADMIN.token}` }, body: form });
    return { status: res.status, body: (await res.json()) as { error: { code: string; details: { field: string }[] } } };
  })();
  expect(viaConsole.status).toBe(400);
  expect(viaConsole.body.error.details[0].field).toBe('auto_confirm');
  await api(stack, 'POST', `/v3/users/imports/${id}/cancel`, { apiKey: tenant.apiKey });
}, 90_000);

test('the limit of active imports counts console and API together: the sixth, by API, is 429; another application is unaffected', async () => {
  expect(stack.config.imports.activePerApplication).toBe(5);
  const a = await createTenant(stack.database.db);
  const b = await createTenant(stack.database.db);
  // Each import's only chunk holds its transaction open, so the import stays RUNNING meanwhile.
  const slow = (name: string) => csvOf(['vendor_data'], [[`test-fault:delay-6000-${name}`], [`${name}-1`]]);
  const byConsole = [];
  for (const name of ['c0', 'c1']) {
    const res = await consoleUpload(stack, a.operators.ADMIN.token, slow(name));
    expect(res.status).toBe(202);
    byConsole.push(res.body.id as string);
  }
  const byApi = [];
  for (const name of ['a0', 'a1', 'a2']) {
    const res = await apiUpload(a.apiKey, slow(name), { auto_confirm: 'true' });
    expect(res.status).toBe(202);
    byApi.push(res.body.id as string);
  }
  for (const id of byConsole) {
    await waitForStatus(stack, a.operators.ADMIN.token, id, ['AWAITING_CONFIRMATION']);
    expect((await api(stack, 'POST', `/console/users/imports/${id}/confirm`, { token: a.operators.ADMIN.token })).status).toBe(202);
  }
  for (const id of byApi) await waitForApiStatus(a.apiKey, id, ['RUNNING']);
  expect(await count(sql`SELECT count(*)::int AS n FROM imports WHERE application_id = ${a.applicationId} AND status = 'RUNNING'`)).toBe(5);

  const sixth = await apiUpload(a.apiKey, slow('a3'), { auto_confirm: 'true' });
  expect(sixth.status).toBe(429);
  expect(sixth.body.error.code).toBe('too_many_active_imports');
  const sixthByConsole = await consoleUpload(stack, a.operators.ADMIN.token, slow('c2'));
  expect(sixthByConsole.status).toBe(429);
  expect(await count(sql`SELECT count(*)::int AS n FROM imports WHERE application_id = ${a.applicationId}`)).toBe(5);

  const elsewhere = await apiUpload(b.apiKey, rowsOf('b', 2), { auto_confirm: 'true' });
  expect(elsewhere.status).toBe(202);
  await waitForApiStatus(b.apiKey, elsewhere.body.id, ['COMPLETED']);

  // Once they are written, one more is taken.
  for (const id of [...byConsole, ...byApi]) await waitForApiStatus(a.apiKey, id, ['COMPLETED']);
  const later = await apiUpload(a.apiKey, rowsOf('later', 2), { auto_confirm: 'true' });
  expect(later.status).toBe(202);
  await waitForApiStatus(a.apiKey, later.body.id, ['COMPLETED']);
}, 150_000);
