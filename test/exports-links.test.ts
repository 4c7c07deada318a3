import { and, eq } from 'drizzle-orm';
import { auditLog, exportsTable } from '../drizzle/schema';
import { download, runExport, seedUsers } from './helpers/exports';
import { startS3Server, type S3TestServer } from './helpers/s3-server';
import { api, createTenant, startTestStack, waitFor, type TestStack, type TestTenant } from './helpers/stack';

/**
 * Download links served by the API (`/downloads/<token>`): an audit entry per download, revocation of every link of
 * an export at once, and, on S3, a 302 to a presigned URL that stops working after EXPORT_REDIRECT_TTL_SECONDS
 * while the API link goes on working.
 */

jest.setTimeout(180_000);

async function downloadsOf(stack: TestStack, exportId: string) {
  return stack.database.db
    .select()
    .from(auditLog)
    .where(and(eq(auditLog.action, 'users.export.download'), eq(auditLog.targetId, exportId)));
}

describe('local files', () => {
  let stack: TestStack;
  let tenant: TestTenant;

  beforeAll(async () => {
    stack = await startTestStack();
    tenant = await createTenant(stack.database.db);
    await seedUsers(stack.database.db, tenant.applicationId, [
      { vendorData: 'link-1', createdAt: new Date('2024-01-01T00:00:00Z') },
      { vendorData: 'link-2', createdAt: new Date('2024-01-02T00:00:00Z') },
    ]);
  });
  afterAll(async () => {
    await stack?.stop();
  });

  test('each download writes an audit entry users.export.download: operator, export, IP, user agent', async () => {
    const requester = tenant.operators.COMPLIANCE_OFFICER;
    const done = await runExport(stack, requester.token, { columns: ['vendor_data'] });
    expect(done.download_url).toMatch(new RegExp(`^${stack.baseUrl}/downloads/${done.id}\\.0\\.\\d+\\.[A-Za-z0-9_-]{43}$`));
    expect(await downloadsOf(stack, done.id)).toEqual([]);

    const res = await fetch(done.download_url, { headers: { 'user-agent': 'warehouse-sync/1.0' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/csv');
    expect(await res.text()).toBe('vendor_data\r\nlink-1\r\nlink-2\r\n');
    expect((await download(done.download_url)).status).toBe(200);

    const entries = await downloadsOf(stack, done.id);
    expect(entries).toHaveLength(2);
    const entry = entries.find((e) => (e.details as { user_agent?: string }).user_agent === 'warehouse-sync/1.0')!;
    expect(entry).toMatchObject({ applicationId: tenant.applicationId, operatorId: requester.id, targetId: done.id, status: 'SUCCESS' });
    expect(entry.details).toMatchObject({ export_id: done.id, storage: 'local', user_agent: 'warehouse-sync/1.0' });
    expect((entry.details as { ip: string }).ip).toMatch(/127\.0\.0\.1|::1/);

    const log = await api(stack, 'GET', '/console/audit-log?action=users.export.download', { token: tenant.operators.OWNER.token });
    expect(log.status).toBe(200);
    expect(log.body.results.filter((e: { target_id: string }) => e.target_id === done.id)).toHaveLength(2);
    expect(log.body.results[0]).toMatchObject({ action: 'users.export.download', operator: { id: requester.id, email: requester.email } });
  });

  test('DELETE .../links revokes every link at once (403 link_revoked); a fresh link works; who may revoke', async () => {
    const requester = tenant.operators.DEVELOPER;
    const done = await runExport(stack, requester.token, { columns: ['vendor_data'] });
    const first = done.download_url as string;
    expect((await download(first)).status).toBe(200);

    for (const role of ['COMPLIANCE_OFFICER', 'READER'] as const) {
      const refused = await api(stack, 'DELETE', `/console/users/exports/${done.id}/links`, { token: tenant.operators[role].token });
      expect(refused.status).toBe(403);
      expect(refused.body.error.code).toBe('forbidden');
    }
    const stranger = await createTenant(stack.database.db);
    const hidden = await api(stack, 'DELETE', `/console/users/exports/${done.id}/links`, { token: stranger.operators.OWNER.token });
    expect(hidden.status).toBe(404);
    expect((await download(first)).status).toBe(200);

    const revoked = await api(stack, 'DELETE', `/console/users/exports/${done.id}/links`, { token: requester.token });
    expect(revoked.status).toBe(204);
    const [row] = await stack.database.db.select().from(exportsTable).where(eq(exportsTable.id, done.id));
    expect(row.linkGeneration).toBe(1);
    const after = await api(stack, 'GET', new URL(first).pathname);
    expect(after.status).toBe(403);
    expect(after.body.error.code).toBe('link_revoked');
    const auditedBefore = (await downloadsOf(stack, done.id)).length;

    // Until its requester asks for a new link, the export has none: no link of it works.
    const shown = await api(stack, 'GET', `/console/users/exports/${done.id}`, { token: requester.token });
    expect([shown.body.download_url, shown.body.link_expires_at]).toEqual([null, null]);
    const fresh = await api(stack, 'POST', `/console/users/exports/${done.id}/link`, { token: requester.token });
    expect(fresh.status).toBe(200);
    expect(fresh.body.download_url).not.toBe(first);
    expect((await download(fresh.body.download_url)).text).toBe('vendor_data\r\nlink-1\r\nlink-2\r\n');
    expect((await api(stack, 'GET', `/console/users/exports/${done.id}`, { token: requester.token })).body.download_url).toBe(fresh.body.download_url);
    expect((await downloadsOf(stack, done.id)).length).toBe(auditedBefore + 1);

    // An ADMIN (not the requester) may revoke too.
    expect((await api(stack, 'DELETE', `/console/users/exports/${done.id}/links`, { token: tenant.operators.ADMIN.token })).status).toBe(204);
    const again = await api(stack, 'GET', new URL(fresh.body.download_url).pathname);
    expect(again.body.error.code).toBe('link_revoked');
  });
});

describe('S3', () => {
  let s3: S3TestServer;
  let stack: TestStack;

  beforeAll(async () => {
    s3 = await startS3Server();
    const created = await s3.bucket();
    stack = await startTestStack({ env: { ...created.env, EXPORT_REDIRECT_TTL_SECONDS: '2' } });
  });
  afterAll(async () => {
    await stack?.stop();
    await s3?.close();
  });

  test('a download is a 302 to a presigned URL that stops working after its TTL, while the API link still works', async () => {
    const tenant = await createTenant(stack.database.db);
    await seedUsers(stack.database.db, tenant.applicationId, [{ vendorData: 's3-link-1' }]);
    const token = tenant.operators.OWNER.token;
    const done = await runExport(stack, token, { columns: ['vendor_data'] });
    expect(done.download_url.startsWith(`${stack.baseUrl}/downloads/`)).toBe(true);

    const redirect = await fetch(done.download_url, { redirect: 'manual' });
    expect(redirect.status).toBe(302);
    const presigned = redirect.headers.get('location')!;
    // At least the 2 s asked for, counted from the signature's whole second.
    expect(presigned).toMatch(/X-Amz-Expires=[23]&/);
    const issued = Date.now();
    const [entry] = await downloadsOf(stack, done.id);
    expect(entry.details).toMatchObject({ storage: 's3', export_id: done.id });

    await waitFor(async () => (Date.now() > issued + 3500 ? true : undefined), 10_000, 100);
    expect((await fetch(presigned)).status).toBe(403);
    const followed = await download(done.download_url);
    expect(followed.status).toBe(200);
    expect(followed.text).toBe('vendor_data\r\ns3-link-1\r\n');
    expect(await downloadsOf(stack, done.id)).toHaveLength(2);

    expect((await api(stack, 'DELETE', `/console/users/exports/${done.id}/links`, { token })).status).toBe(204);
    const revoked = await fetch(done.download_url, { redirect: 'manual' });
    expect(revoked.status).toBe(403);
    expect(((await revoked.json()) as { error: { code: string } }).error.code).toBe('link_revoked');
  });
});
