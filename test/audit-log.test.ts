import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { recordAuditEntry } from '../src/audit/queries';
import { api, createTenant, startTestStack, type TestStack, type TestTenant } from './helpers/stack';

/** GET /console/audit-log: who may read it, what it shows, newest first, and that entries never change. */

let stack: TestStack;
let tenant: TestTenant;
const ids: string[] = [];

beforeAll(async () => {
  stack = await startTestStack({ worker: false });
  tenant = await createTenant(stack.database.db);
  const base = Date.now() - 60_000;
  for (let i = 0; i < 5; i++) {
    const targetId = randomUUID();
    ids.push(targetId);
    await recordAuditEntry(stack.database.db, {
      applicationId: tenant.applicationId,
      action: i % 2 === 0 ? 'users.import' : 'users.export',
      operatorId: tenant.operators.ADMIN.id,
      targetId,
      status: i === 4 ? 'FAILURE' : 'SUCCESS',
      details: i % 2 === 0 ? { total_rows: 10 * i, created_count: i } : { filters: {}, columns: ['id'], row_count: i },
      startedAt: new Date(base + i * 1000),
      finishedAt: new Date(base + i * 1000 + 500),
      idempotencyKey: `test-${targetId}`,
    });
    // Distinct created_at, so the order is the insertion order.
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
});

afterAll(async () => {
  await stack?.stop();
});

test('roles with audit.read see the entries, newest first, in the shape of API.md', async () => {
  for (const role of ['OWNER', 'ADMIN', 'COMPLIANCE_OFFICER'] as const) {
    const res = await api(stack, 'GET', '/console/audit-log', { token: tenant.operators[role].token });
    expect(res.status).toBe(200);
    expect(res.body.results.map((e: any) => e.target_id)).toEqual([...ids].reverse());
    expect(res.body.next_cursor).toBeNull();
  }
  const res = await api(stack, 'GET', '/console/audit-log', { token: tenant.operators.OWNER.token });
  const entry = res.body.results[0];
  expect(Object.keys(entry).sort()).toEqual(
    // API.md's fields, and api_key (null here), which names the key that started a job through the public API.
    ['id', 'action', 'operator', 'api_key', 'target_id', 'status', 'details', 'started_at', 'finished_at', 'created_at'].sort(),
  );
  expect(entry).toMatchObject({
    action: 'users.import',
    operator: { id: tenant.operators.ADMIN.id, email: tenant.operators.ADMIN.email },
    api_key: null,
    target_id: ids[4],
    status: 'FAILURE',
    details: { total_rows: 40, created_count: 4 },
  });
});

test('DEVELOPER and READER may not read it; no token is 401', async () => {
  for (const role of ['DEVELOPER', 'READER'] as const) {
    const res = await api(stack, 'GET', '/console/audit-log', { token: tenant.operators[role].token });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('forbidden');
  }
  expect((await api(stack, 'GET', '/console/audit-log')).status).toBe(401);
});

test('filter by action, pages with a cursor, bad parameters are 400', async () => {
  const token = tenant.operators.COMPLIANCE_OFFICER.token;
  const exportsOnly = await api(stack, 'GET', '/console/audit-log?action=users.export', { token });
  expect(exportsOnly.body.results.map((e: any) => e.target_id)).toEqual([ids[3], ids[1]]);
  const first = await api(stack, 'GET', '/console/audit-log?limit=2', { token });
  const second = await api(stack, 'GET', `/console/audit-log?limit=2&cursor=${first.body.next_cursor}`, { token });
  const third = await api(stack, 'GET', `/console/audit-log?limit=2&cursor=${second.body.next_cursor}`, { token });
  expect([...first.body.results, ...second.body.results, ...third.body.results].map((e: any) => e.target_id)).toEqual([...ids].reverse());
  expect(third.body.next_cursor).toBeNull();
  // Empty parameters are not given (API.md writes the list as `?action=&limit=&cursor=`).
  const empty = await api(stack, 'GET', '/console/audit-log?action=&limit=&cursor=', { token });
  expect([empty.status, empty.body.results.length]).toEqual([200, ids.length]);
  expect((await api(stack, 'GET', '/console/audit-log?action=users.delete', { token })).body.error.code).toBe('invalid_filter');
  expect((await api(stack, 'GET', '/console/audit-log?limit=500', { token })).body.error.code).toBe('invalid_limit');
  expect((await api(stack, 'GET', '/console/audit-log?cursor=garbage', { token })).body.error.code).toBe('invalid_cursor');
});

test("another application's entries are not shown", async () => {
  const other = await createTenant(stack.database.db);
  const res = await api(stack, 'GET', '/console/audit-log', { token: other.operators.OWNER.token });
  expect(res.body).toEqual({ results: [], next_cursor: null });
});

test('a retried write adds nothing; entries cannot be updated or deleted', async () => {
  const targetId = randomUUID();
  const entry = {
    applicationId: tenant.applicationId,
    action: 'users.export' as const,
    operatorId: tenant.operators.OWNER.id,
    targetId,
    status: 'SUCCESS' as const,
    details: { row_count: 1 },
    startedAt: null,
    finishedAt: new Date(),
    idempotencyKey: `retry-${targetId}`,
  };
  await recordAuditEntry(stack.database.db, entry);
  await recordAuditEntry(stack.database.db, { ...entry, details: { row_count: 999 } });
  const rows = await stack.database.db.execute(sql`SELECT details FROM audit_log WHERE target_id = ${targetId}`);
  expect(rows.rows).toEqual([{ details: { row_count: 1 } }]);
  await expect(stack.database.db.execute(sql`UPDATE audit_log SET status = 'FAILURE' WHERE target_id = ${targetId}`)).rejects.toThrow();
  await expect(stack.database.db.execute(sql`DELETE FROM audit_log WHERE target_id = ${targetId}`)).rejects.toThrow();
});
