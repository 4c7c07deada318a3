import { sql } from 'drizzle-orm';
import { Client } from 'pg';
import { api, createTenant, startTestStack, testEnv, waitFor, type TestStack, type TestTenant } from '../helpers/stack';
import { csvOf, upload } from '../fixtures/imports/support';

/**
 * Postgres drops the service's connections (a failover, an idle-connection reaper: pg_terminate_backend) while
 * requests and an import are running. No process may die; a request caught in it answers 503 at worst, and the
 * service answers normally again right after.
 */

jest.setTimeout(120_000);

/** Only this stack's connections are terminated: the run's database is shared with the test files beside this one. */
const APPLICATION_NAME = 'kyc-test-connections';

let stack: TestStack;
let tenant: TestTenant;

beforeAll(async () => {
  stack = await startTestStack({ env: { IMPORT_CHUNK_ROWS: '50' }, applicationName: APPLICATION_NAME });
  tenant = await createTenant(stack.database.db);
});
afterAll(async () => {
  await stack?.stop();
});

/** Terminates every backend of this test run's database except the caller's; returns how many it ended. */
async function terminateBackends(): Promise<number> {
  const admin = new Client({ connectionString: testEnv().databaseUrl });
  await admin.connect();
  try {
    const result = await admin.query<{ n: number }>(
      `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
       WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = $1`,
      [APPLICATION_NAME],
    );
    return result.rows[0].n;
  } finally {
    await admin.end();
  }
}

it('keeps the process alive and answers 503 at worst while Postgres terminates its connections under load', async () => {
  const token = tenant.operators.ADMIN.token;
  const statuses: number[] = [];
  let load = true;
  const worker = async () => {
    while (load) {
      const res = await api(stack, 'GET', '/console/users/imports?limit=5', { token });
      statuses.push(res.status);
      if (res.status >= 500) expect(res.body?.error?.code).toBe('database_unavailable');
    }
  };
  const clients = Array.from({ length: 8 }, () => worker());
  const rows = Array.from({ length: 2000 }, (_, i) => [`conn-${i}`, `Name ${i}`]);
  /** The import object, or undefined while the API answers 503 (the connections are being dropped). */
  const current = async (id: string) => {
    const res = await api(stack, 'GET', `/console/users/imports/${id}`, { token });
    if (res.status === 503) return undefined;
    expect(res.status).toBe(200);
    return res.body;
  };
  const importing = (async () => {
    // A script sends the file again when the API answers 503.
    const uploaded = await waitFor(async () => {
      const res = await upload(stack, token, csvOf(['vendor_data', 'display_name'], rows), 'conn.csv');
      if (res.status === 503) return undefined;
      expect(res.status).toBe(202);
      return res;
    });
    const id = uploaded.body.id as string;
    await waitFor(async () => ((await current(id))?.status === 'AWAITING_CONFIRMATION' ? true : undefined), 60_000);
    await waitFor(async () => {
      const res = await api(stack, 'POST', `/console/users/imports/${id}/confirm`, { token });
      if (res.status === 503) return undefined;
      expect(res.status).toBe(202);
      return true;
    });
    return waitFor(async () => {
      const body = await current(id);
      return body && ['COMPLETED', 'COMPLETED_WITH_ERRORS', 'FAILED'].includes(body.status) ? body : undefined;
    }, 90_000);
  })();

  let terminated = 0;
  for (let round = 0; round < 5; round++) {
    await waitFor(async () => (statuses.length > (round + 1) * 20 ? true : undefined));
    terminated += await terminateBackends();
  }
  expect(terminated).toBeGreaterThan(0);

  const done = await importing;
  load = false;
  await Promise.all(clients);
  expect(statuses.every((s) => s === 200 || s === 503)).toBe(true);
  // Right after: the service answers as before, and the import wrote each row once.
  expect((await api(stack, 'GET', '/console/users/imports?limit=5', { token })).status).toBe(200);
  expect((await api(stack, 'GET', '/readyz')).status).toBe(200);
  expect(done.status).toBe('COMPLETED');
  expect(done.created_count).toBe(2000);
  const count = await stack.database.db.execute<{ n: number }>(
    sql`SELECT count(*)::int AS n FROM users WHERE application_id = ${tenant.applicationId}`,
  );
  expect(count.rows[0].n).toBe(2000);
});
