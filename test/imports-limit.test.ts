import { sql } from 'drizzle-orm';
import { api, createTenant, startTestStack, type TestStack } from './helpers/stack';
import { csvOf, upload, waitForStatus } from './fixtures/imports/support';

// IMPORT_ACTIVE_PER_APPLICATION (default 5): imports validating or running at once, counted in the database.
// The stack starts without a worker, so uploaded imports stay VALIDATING (and confirmed ones RUNNING) until it starts.
let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack({ worker: false });
});
afterAll(async () => {
  await stack?.stop();
});

async function statusesOf(applicationId: string): Promise<string[]> {
  const result = await stack.database.db.execute<{ status: string }>(
    sql`SELECT status FROM imports WHERE application_id = ${applicationId} ORDER BY status`,
  );
  return result.rows.map((r) => r.status);
}

const fileOf = (prefix: string) => csvOf(['vendor_data'], [[`${prefix}-1`], [`${prefix}-2`]]);

it('six imports at once: five are taken, the sixth is 429 too_many_active_imports; another application is unaffected', async () => {
  expect(stack.config.imports.activePerApplication).toBe(5);
  const a = await createTenant(stack.database.db);
  const b = await createTenant(stack.database.db);
  const token = a.operators.ADMIN.token;

  const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => upload(stack, token, fileOf(`lim-${i}`))));
  const statuses = answers.map((r) => r.status).sort();
  expect(statuses).toEqual([202, 202, 202, 202, 202, 429]);
  const refused = answers.find((r) => r.status === 429)!;
  expect(refused.body.error.code).toBe('too_many_active_imports');
  expect(await statusesOf(a.applicationId)).toEqual(Array(5).fill('VALIDATING'));

  // Another application has its own five.
  const other = await upload(stack, b.operators.OWNER.token, fileOf('other'));
  expect(other.status).toBe(202);
  expect(await statusesOf(b.applicationId)).toEqual(['VALIDATING']);

  // Imports awaiting confirmation do not count: once validated, a sixth upload is taken.
  await stack.startWorker();
  const taken = answers.filter((r) => r.status === 202).map((r) => r.body.id as string);
  for (const id of taken) await waitForStatus(stack, token, id, ['AWAITING_CONFIRMATION']);
  const sixth = await upload(stack, token, fileOf('lim-6'));
  expect(sixth.status).toBe(202);
  taken.push(sixth.body.id);
  await waitForStatus(stack, token, sixth.body.id, ['AWAITING_CONFIRMATION']);

  // Confirming moves an import to RUNNING, which counts: of six confirms at once, one is refused (the worker is
  // stopped, so the confirmed ones stay RUNNING meanwhile).
  await stack.stopWorker();
  const confirms = await Promise.all(taken.map((id) => api(stack, 'POST', `/console/users/imports/${id}/confirm`, { token })));
  expect(confirms.map((r) => r.status).sort()).toEqual([202, 202, 202, 202, 202, 429]);
  expect(confirms.find((r) => r.status === 429)!.body.error.code).toBe('too_many_active_imports');
  expect(await statusesOf(a.applicationId)).toEqual(['AWAITING_CONFIRMATION', ...Array(5).fill('RUNNING')]);
  const waiting = taken[confirms.findIndex((r) => r.status === 429)];

  // Once they are written, the sixth may go.
  await stack.startWorker();
  for (const id of taken.filter((t) => t !== waiting)) await waitForStatus(stack, token, id, ['COMPLETED']);
  expect((await api(stack, 'POST', `/console/users/imports/${waiting}/confirm`, { token })).status).toBe(202);
  await waitForStatus(stack, token, waiting, ['COMPLETED']);
  const users = await stack.database.db.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM users WHERE application_id = ${a.applicationId}`);
  expect(users.rows[0].n).toBe(12);
}, 120_000);
