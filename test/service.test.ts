import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { systemCheckWorkflow } from './workflows/system-check';
import { applications } from '../drizzle/schema';
import { api, createTenant, startTestStack, type TestStack } from './helpers/stack';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.stop();
});

describe('Temporal wiring', () => {
  test('the worker runs a bundled workflow whose activity reads Postgres', async () => {
    await createTenant(stack.database.db);
    const [{ n }] = await stack.database.db.select({ n: sql<number>`count(*)::int` }).from(applications);
    const result = await stack.client.workflow.execute(systemCheckWorkflow, {
      taskQueue: stack.config.temporal.taskQueue,
      workflowId: `system-check-${randomUUID()}`,
      args: [{ requestedBy: 'test' }],
      workflowExecutionTimeout: '30 seconds',
    });
    expect(result.requestedBy).toBe('test');
    expect(result.serverVersion).toMatch(/^\d+/);
    expect(result.applications).toBe(n);
  });
});

describe('health and documents', () => {
  test('/healthz and /readyz answer 200 while Postgres and Temporal answer', async () => {
    expect((await api(stack, 'GET', '/healthz')).status).toBe(200);
    const ready = await api(stack, 'GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.checks).toEqual({ postgres: 'ok', temporal: 'ok' });
  });

  test('/openapi.json is an OpenAPI 3.1 document with the user endpoints and their schemas', async () => {
    const res = await api(stack, 'GET', '/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
    const create = res.body.paths['/v3/users/create/'].post;
    const schema = create.requestBody.content['application/json'].schema;
    expect(schema.required).toEqual(['vendor_data']);
    expect(schema.additionalProperties).toBe(false);
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining(['vendor_data', 'email', 'phone', 'country', 'status', 'tags', 'metadata']),
    );
    expect(res.body.paths['/v3/users/{vendor_data}/'].patch).toBeDefined();
  });

  test('an unknown path is a JSON 404', async () => {
    const res = await api(stack, 'GET', '/nope');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
  });

  test('every answer carries a request id, the given one when it is sane', async () => {
    const res = await api(stack, 'GET', '/healthz', { headers: { 'x-request-id': 'abc-123' } });
    expect(res.headers.get('x-request-id')).toBe('abc-123');
    const generated = await api(stack, 'GET', '/healthz', { headers: { 'x-request-id': 'bad id with spaces' } });
    expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('console authentication', () => {
  test('the import template needs an operator token', async () => {
    const tenant = await createTenant(stack.database.db);
    expect((await api(stack, 'GET', '/console/users/import-template.csv')).status).toBe(401);
    const bad = await api(stack, 'GET', '/console/users/import-template.csv', { token: 'kyc_op_nope' });
    expect(bad.status).toBe(401);
    expect(bad.body.error.code).toBe('unauthenticated');
    const res = await api(stack, 'GET', '/console/users/import-template.csv', { token: tenant.operators.READER.token });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(res.text.trim()).toBe('vendor_data,display_name,full_name,email,phone,country,status,tags,metadata_json');
  });

  test('the audit log is append-only in the database itself', async () => {
    const tenant = await createTenant(stack.database.db);
    await stack.database.db.execute(sql`
      insert into audit_log (application_id, action, status, idempotency_key)
      values (${tenant.applicationId}, 'users.import', 'SUCCESS', ${randomUUID()})`);
    await expect(stack.database.db.execute(sql`update audit_log set status = 'FAILURE'`)).rejects.toThrow();
    await expect(stack.database.db.execute(sql`delete from audit_log`)).rejects.toThrow();
    await expect(stack.database.db.execute(sql`truncate audit_log`)).rejects.toThrow();
  });
});
