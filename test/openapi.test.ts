import { openApiDocument, responseSchemas } from '../src/api/openapi';
import { api, createTenant, startTestStack, waitFor, type TestStack, type TestTenant } from './helpers/stack';
import { runExport } from './helpers/exports';
import { uploadWith, waitForStatus } from './fixtures/imports/support';

/**
 * /openapi.json cannot drift from what the API answers: real answers of a real stack (a user, an import through its
 * preview to COMPLETED, a saved mapping, an export, the audit entries they wrote, /console/me, an error) are parsed
 * with the response schemas the document is made from, and must come out unchanged (no field the schema lacks).
 */

let stack: TestStack;
let tenant: TestTenant;
let token: string;

beforeAll(async () => {
  stack = await startTestStack();
  tenant = await createTenant(stack.database.db);
  token = tenant.operators.OWNER.token;
});

afterAll(async () => {
  await stack?.stop();
});

function expectConforms(name: keyof typeof responseSchemas, body: unknown) {
  const parsed = responseSchemas[name].safeParse(body);
  expect(parsed.error?.issues).toBeUndefined();
  // Parsing drops what the schema does not name: an answer with a field the document lacks changes here.
  expect(parsed.data).toEqual(body);
}

function uploadWithOptions(content: string, fields: Record<string, string>) {
  return uploadWith(stack, token, content, fields);
}

describe('the answers validate against the response schemas of /openapi.json', () => {
  test('users: create, get, list, and an error', async () => {
    const created = await api(stack, 'POST', '/v3/users/create/', {
      apiKey: tenant.apiKey,
      body: { vendor_data: 'doc-1', email: 'doc-1@example.com', country: 'esp', tags: ['a'], metadata: { k: 1 } },
    });
    expect(created.status).toBe(201);
    expectConforms('User', created.body);
    const one = await api(stack, 'GET', '/v3/users/DOC-1/', { apiKey: tenant.apiKey });
    expectConforms('User', one.body);
    const list = await api(stack, 'GET', '/v3/users/?limit=1', { apiKey: tenant.apiKey });
    expectConforms('UserList', list.body);
    const missing = await api(stack, 'GET', '/v3/users/nobody/', { apiKey: tenant.apiKey });
    expect(missing.status).toBe(404);
    expectConforms('Error', missing.body);
    const invalid = await api(stack, 'POST', '/v3/users/create/', { apiKey: tenant.apiKey, body: { vendor_data: '', email: 'x' } });
    expect(invalid.status).toBe(400);
    expectConforms('Error', invalid.body);
  });

  test('an import from upload to COMPLETED, its preview rows, the saved mapping', async () => {
    const csv = 'external_id,email,country,metadata_json\ndoc-1,doc-1-new@example.com,ES,\ndoc-2,,Spain,\ndoc-3,bad,,[1]\n';
    const started = await uploadWithOptions(csv, { save_mapping: 'true', mode: 'upsert' });
    expect(started.status).toBe(202);
    expectConforms('Import', started.body);
    const preview = await waitForStatus(stack, token, started.body.id, ['AWAITING_CONFIRMATION']);
    expectConforms('Import', preview);
    expect(preview.mapping).not.toBeNull();
    const rows = await api(stack, 'GET', `/console/users/imports/${preview.id}/rows?limit=2`, { token });
    expect(rows.body.next_cursor).not.toBeNull();
    expectConforms('PreviewRowList', rows.body);
    const rest = await api(stack, 'GET', `/console/users/imports/${preview.id}/rows?cursor=${rows.body.next_cursor}`, { token });
    expectConforms('PreviewRowList', rest.body);
    const all = [...rows.body.results, ...rest.body.results];
    expect(all.map((r) => r.action)).toEqual(['update', 'create', 'invalid']);
    expect(all[0].changes.length).toBeGreaterThan(0);
    expect(all[1].normalized.length).toBeGreaterThan(0);
    expect(all[2].errors.length).toBeGreaterThan(0);

    const confirmed = await api(stack, 'POST', `/console/users/imports/${preview.id}/confirm`, { token });
    expect(confirmed.status).toBe(202);
    expectConforms('Import', confirmed.body);
    const done = await waitForStatus(stack, token, preview.id, ['COMPLETED']);
    expectConforms('Import', done);
    expectConforms('ImportList', (await api(stack, 'GET', '/console/users/imports', { token })).body);
    const retry = await api(stack, 'POST', `/console/users/imports/${preview.id}/retry`, { token });
    expect(retry.status).toBe(409);
    expectConforms('Error', retry.body);

    const mappings = await api(stack, 'GET', '/console/users/import-mappings', { token });
    expect(mappings.body.results).toHaveLength(1);
    expectConforms('SavedMappingList', mappings.body);
  });

  test('an export, the export history, the audit log, /console/me', async () => {
    const done = await runExport(stack, token, { filters: { status: ['active'], country: ['ESP'], search: 'doc' }, columns: ['id', 'vendor_data', 'email'] });
    expect(done.status).toBe('COMPLETED');
    expect(done.download_url).toEqual(expect.any(String));
    expectConforms('Export', done);
    const asAnother = await api(stack, 'GET', `/console/users/exports/${done.id}`, { token: tenant.operators.ADMIN.token });
    expect(asAnother.body.download_url).toBeNull();
    expectConforms('Export', asAnother.body);
    expectConforms('ExportList', (await api(stack, 'GET', '/console/users/exports', { token })).body);
    const forbidden = await api(stack, 'POST', '/console/users/exports', { token: tenant.operators.READER.token, body: { columns: ['email'] } });
    expect(forbidden.status).toBe(403);
    expectConforms('Error', forbidden.body);

    const audit = await waitFor(async () => {
      const res = await api(stack, 'GET', '/console/audit-log', { token });
      return res.body.results.length >= 2 ? res.body : undefined;
    });
    expect(audit.results.map((e: { action: string }) => e.action).sort()).toEqual(['users.export', 'users.import']);
    expectConforms('AuditEntryList', audit);

    for (const role of ['OWNER', 'READER'] as const) {
      expectConforms('ConsoleMe', (await api(stack, 'GET', '/console/me', { token: tenant.operators[role].token })).body);
    }
  });

  test('an export schedule, the list of them', async () => {
    const created = await api(stack, 'POST', '/console/users/export-schedules', { token, body: { name: 'conformance', every: '1d', incremental: true } });
    expect(created.status).toBe(201);
    try {
      expectConforms('ExportSchedule', created.body);
      expectConforms('ExportScheduleList', (await api(stack, 'GET', '/console/users/export-schedules', { token })).body);
      const bad = await api(stack, 'POST', '/console/users/export-schedules', { token, body: { name: 'x', cron: 'nope' } });
      expect(bad.status).toBe(400);
      expectConforms('Error', bad.body);
    } finally {
      expect((await api(stack, 'DELETE', `/console/users/export-schedules/${created.body.id}`, { token })).status).toBe(204);
    }
  });
});

test('every $ref of the document names one of its components', () => {
  const doc = openApiDocument();
  const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]);
  expect(refs.length).toBeGreaterThan(20);
  for (const name of refs) expect(doc.components.schemas[name]).toBeDefined();
  expect(Object.keys(doc.components.schemas).sort()).toEqual(Object.keys(responseSchemas).sort());
});
