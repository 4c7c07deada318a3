import { sql } from 'drizzle-orm';
import { api, createTenant, startTestStack, type TestStack } from './helpers/stack';
import { csvOf, importFile } from './fixtures/imports/support';

/**
 * IMPORT_UNDO_DAYS=0 turns undo off: the chunk writes record no before-images (nor the ids they create), the import is
 * written as usual, and an undo is refused with 409 invalid_state, also after undo is turned back on.
 */

let off: TestStack;

beforeAll(async () => {
  off = await startTestStack({ env: { IMPORT_UNDO_DAYS: '0', IMPORT_CHUNK_ROWS: '10' } });
});
afterAll(async () => {
  await off?.stop();
});

it('writes no before-images and refuses the undo', async () => {
  const t = await createTenant(off.database.db);
  await off.database.db.execute(sql`
    INSERT INTO users (application_id, vendor_data, vendor_data_key, display_name)
    SELECT ${t.applicationId}, 'old-' || i, 'old-' || i, 'Before' FROM generate_series(1, 15) i`);
  const rows = Array.from({ length: 30 }, (_, i) => [i < 15 ? `old-${i + 1}` : `new-${i}`, 'After']);
  const done = await importFile(off, t.operators.ADMIN.token, csvOf(['vendor_data', 'display_name'], rows));
  expect(done).toMatchObject({ status: 'COMPLETED', created_count: 15, updated_count: 15 });

  const images = await off.database.db.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM import_undo_chunks WHERE import_id = ${done.id}`);
  expect(images.rows[0].n).toBe(0);
  const recorded = await off.database.db.execute<{ undo_recorded: boolean }>(sql`SELECT undo_recorded FROM imports WHERE id = ${done.id}`);
  expect(recorded.rows[0].undo_recorded).toBe(false);
  const users = await off.database.db.execute<{ n: number }>(
    sql`SELECT count(*)::int AS n FROM users WHERE application_id = ${t.applicationId} AND display_name = 'After'`,
  );
  expect(users.rows[0].n).toBe(30);

  const refused = await api(off, 'POST', `/console/users/imports/${done.id}/undo`, { token: t.operators.ADMIN.token });
  expect(refused.status).toBe(409);
  expect(refused.body.error.code).toBe('invalid_state');
  expect(refused.body.error.message).toContain('IMPORT_UNDO_DAYS=0');

  // Undo turned back on: this import still kept nothing to put back, so it is still refused, and nothing moved.
  const on = await startTestStack({ worker: false, env: { IMPORT_UNDO_DAYS: '30' } });
  try {
    const again = await api(on, 'POST', `/console/users/imports/${done.id}/undo`, { token: t.operators.ADMIN.token });
    expect(again.status).toBe(409);
    expect(again.body.error.message).toContain('kept no before-images');
  } finally {
    await on.stop();
  }
  const status = await off.database.db.execute<{ status: string; undo_status: string | null }>(
    sql`SELECT status, undo_status FROM imports WHERE id = ${done.id}`,
  );
  expect(status.rows[0]).toEqual({ status: 'COMPLETED', undo_status: null });
});
