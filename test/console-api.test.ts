import fs from 'node:fs';
import path from 'node:path';
import { api, createTenant, startTestStack, type TestStack, type TestTenant } from './helpers/stack';
import { csvOf, uploadAndValidate } from './fixtures/imports/support';
import { EXPORT_COLUMNS } from '../src/exports/columns';

/** The console's server side: the built page under /console/, the SPA fallback, /console/me, and `raw` on preview rows. */

let stack: TestStack;
let tenant: TestTenant;

beforeAll(async () => {
  stack = await startTestStack({ worker: true, env: { TEMPORAL_UI_URL: 'http://temporal-ui.example:8080/' } });
  tenant = await createTenant(stack.database.db);
});
afterAll(async () => {
  await stack?.stop();
});

describe('serving the console', () => {
  it('redirects / to /console/ and serves the built page, with hashed assets cached for good', async () => {
    const root = await fetch(`${stack.baseUrl}/`, { redirect: 'manual' });
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe('/console/');

    const page = await fetch(`${stack.baseUrl}/console/`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.headers.get('cache-control')).toBe('no-cache');
    const html = await page.text();
    expect(html).toBe(fs.readFileSync(path.join(stack.config.console.dir, 'index.html'), 'utf8'));

    // Any client that takes HTML gets the page at the console's address: no Accept header, `*/*` (curl, fetch).
    const clients: Record<string, string>[] = [{}, { accept: '*/*' }, { accept: 'application/json, text/html;q=0.5' }];
    for (const headers of clients) {
      const anyClient = await fetch(`${stack.baseUrl}/console/`, { headers });
      expect([anyClient.status, anyClient.headers.get('content-type')]).toEqual([200, expect.stringMatching(/text\/html/)]);
      expect(await anyClient.text()).toBe(html);
    }
    const jsonOnly = await fetch(`${stack.baseUrl}/console/`, { headers: { accept: 'application/json' } });
    expect(jsonOnly.status).toBe(404);
    expect(((await jsonOnly.json()) as { error: { code: string } }).error.code).toBe('not_found');

    const asset = /src="(\/console\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(asset).toBeDefined();
    const script = await fetch(`${stack.baseUrl}${asset}`);
    expect(script.status).toBe(200);
    expect(script.headers.get('cache-control')).toMatch(/immutable/);
    expect(script.headers.get('content-type')).toMatch(/javascript/);
  });

  it("answers a page of the app (a browser's deep link) with index.html, and an API client with a JSON 404", async () => {
    const deep = await fetch(`${stack.baseUrl}/console/imports/4e0c1f0a-0000-4000-8000-000000000000`, { headers: { accept: 'text/html' } });
    expect(deep.status).toBe(200);
    expect(await deep.text()).toContain('<div id="root">');

    const missingAsset = await fetch(`${stack.baseUrl}/console/assets/nope.js`);
    expect(missingAsset.status).toBe(404);

    const unknownApi = await api(stack, 'GET', '/console/users/nothing-here', { token: tenant.operators.ADMIN.token });
    expect(unknownApi.status).toBe(404);
    expect(unknownApi.body.error.code).toBe('not_found');
  });
});

describe('GET /console/me', () => {
  it('needs a valid token', async () => {
    expect((await api(stack, 'GET', '/console/me')).status).toBe(401);
    const bad = await api(stack, 'GET', '/console/me', { token: 'kyc_op_not-a-token' });
    expect(bad.status).toBe(401);
    expect(bad.body.error.code).toBe('unauthenticated');
  });

  it("says who the operator is, what the role may do and which columns it may export", async () => {
    const admin = await api(stack, 'GET', '/console/me', { token: tenant.operators.ADMIN.token });
    expect(admin.status).toBe(200);
    expect(admin.body).toEqual({
      operator: { id: tenant.operators.ADMIN.id, email: tenant.operators.ADMIN.email, role: 'ADMIN' },
      application: { id: tenant.applicationId, name: expect.any(String) },
      permissions: [
        'imports.write',
        'imports.read',
        'imports.retry',
        'imports.control',
        'imports.approve',
        'imports.undo',
        'exports.all_columns',
        'exports.restricted_columns',
        'exports.read',
        'exports.control_any',
        'exports.schedules',
        'audit.read',
        'mappings.manage',
        'webhooks.manage',
      ],
      export_columns: EXPORT_COLUMNS.map((name) => ({ name, allowed: true, reason: null })),
      temporal_ui: { url: 'http://temporal-ui.example:8080', namespace: 'default' },
    });

    const reader = await api(stack, 'GET', '/console/me', { token: tenant.operators.READER.token });
    expect(reader.body.permissions).toEqual(['imports.read', 'exports.restricted_columns', 'exports.read']);
    const forbidden = reader.body.export_columns.filter((c: { allowed: boolean }) => !c.allowed).map((c: { name: string }) => c.name);
    expect(forbidden).toEqual(['full_name', 'date_of_birth', 'email', 'phone', 'metadata_json']);
    expect(reader.body.export_columns.find((c: { name: string }) => c.name === 'email').reason).toMatch(/personal data.*READER/);

    const developer = await api(stack, 'GET', '/console/me', { token: tenant.operators.DEVELOPER.token });
    expect(developer.body.permissions).toContain('imports.retry');
    expect(developer.body.permissions).not.toContain('imports.write');
    expect(developer.body.permissions).toContain('imports.control');
    expect(developer.body.permissions).not.toContain('imports.approve');
  });
});

describe('preview rows carry the row as it was in the file', () => {
  it('pairs each header with its cell, for valid and invalid rows alike', async () => {
    const token = tenant.operators.OWNER.token;
    const file = csvOf(
      ['vendor_data', 'Email', 'country', 'tags'],
      [
        ['  raw-1 ', 'ok@example.com', 'esp', 'a, b'],
        ['raw-2', 'not-an-email', 'XXX', ''],
        ['raw-3', '', '', '"quoted, tag"'],
      ],
    );
    const preview = await uploadAndValidate(stack, token, file, 'raw.csv');
    const rows = await api(stack, 'GET', `/console/users/imports/${preview.id}/rows`, { token });
    expect(rows.status).toBe(200);
    expect(rows.body.results.map((r: { raw: unknown }) => r.raw)).toEqual([
      { vendor_data: '  raw-1 ', Email: 'ok@example.com', country: 'esp', tags: 'a, b' },
      { vendor_data: 'raw-2', Email: 'not-an-email', country: 'XXX', tags: '' },
      { vendor_data: 'raw-3', Email: '', country: '', tags: '"quoted, tag"' },
    ]);
    expect(rows.body.results[1].errors.map((e: { column: string }) => e.column).sort()).toEqual(['country', 'email']);
  });
});
