import { MockActivityEnvironment } from '@temporalio/testing';
import { sql } from 'drizzle-orm';
import { parse } from 'csv-parse/sync';
import { createRetentionActivities } from '../activities/retention';
import { RESTORED_COLUMN_NAMES } from '../src/imports/undo';
import { createStorage } from '../src/storage';
import { recordApprovedSession } from '../src/users/queries';
import { api, createTenant, startTestStack, type TestStack, type TestTenant } from './helpers/stack';
import { csvOf, getImport, uploadAndValidate, waitForStatus } from './fixtures/imports/support';

/**
 * Undo (API.md "Controlling imports"): an import that updated 50 users (some verified) and created 50 is undone; every
 * updated user is back exactly as it was (whole rows), every created one deleted, except the users changed or verified
 * since, which are conflicts left as they are.
 */

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack({ env: { IMPORT_CHUNK_ROWS: '10', IMPORT_CHUNK_CONCURRENCY: '3' } });
});
afterAll(async () => {
  await stack?.stop();
});

type Row = Record<string, unknown>;

/** Every user of the application as its whole row (to_jsonb), by vendor_data. */
async function usersOf(applicationId: string): Promise<Map<string, Row>> {
  const result = await stack.database.db.execute<{ vendor_data: string; row: Row }>(
    sql`SELECT vendor_data, to_jsonb(u) AS row FROM users u WHERE application_id = ${applicationId}`,
  );
  return new Map(result.rows.map((r) => [r.vendor_data, r.row]));
}

/** 50 existing users with every field set, the first 10 verified (an approved session: full_name and date_of_birth). */
async function seed(t: TestTenant, prefix: string) {
  for (let i = 0; i < 50; i++) {
    await stack.database.db.execute(sql`
      INSERT INTO users (application_id, vendor_data, vendor_data_key, display_name, full_name, email, phone, country, status, tags, metadata, updated_at, created_at)
      VALUES (${t.applicationId}, ${`${prefix}-u-${i}`}, ${`${prefix}-u-${i}`}, ${`old ${i}`}, ${`Old Name ${i}`}, ${`old${i}@example.com`},
        '+34600111222', 'ESP', 'ACTIVE', ARRAY['a', 'b'], ${JSON.stringify({ k: i, keep: 'yes' })}::jsonb,
        now() - interval '3 days', now() - interval '5 days')`);
    if (i < 10) {
      await recordApprovedSession(stack.database.db, {
        applicationId: t.applicationId,
        vendorData: `${prefix}-u-${i}`,
        fullName: `Verified Name ${i}`,
        dateOfBirth: '1990-01-02',
      });
    }
  }
}

function fileOf(prefix: string) {
  const rows: string[][] = [];
  for (let i = 0; i < 50; i++) {
    rows.push([`${prefix}-u-${i}`, `new ${i}`, `New Name ${i}`, `new${i}@example.com`, i % 2 ? 'FLAGGED' : 'ACTIVE', 'x,y', JSON.stringify({ k: -i, added: true })]);
    rows.push([`${prefix}-n-${i}`, `created ${i}`, `Created ${i}`, `c${i}@example.com`, '', 'z', '{"c":1}']);
  }
  return csvOf(['vendor_data', 'display_name', 'full_name', 'email', 'status', 'tags', 'metadata_json'], rows);
}

async function importFile(t: TestTenant, prefix: string) {
  const token = t.operators.ADMIN.token;
  const preview = await uploadAndValidate(stack, token, fileOf(prefix));
  expect(preview).toMatchObject({ status: 'AWAITING_CONFIRMATION', to_create: 50, to_update: 50 });
  await api(stack, 'POST', `/console/users/imports/${preview.id}/confirm`, { token });
  const done = await waitForStatus(stack, token, preview.id, ['COMPLETED'], 60_000);
  expect(done).toMatchObject({ created_count: 50, updated_count: 50, undo: null });
  return done;
}

/** What the chunk writes of an import recorded for its undo, one entry per user. */
function imagesOf(importId: string) {
  return stack.database.db.execute<{ user_id: string; vendor_data: string; kind: string; before: Row | null; written: string; undone: boolean }>(sql`
    SELECT b.id AS user_id, b.vendor_data, 'updated' AS kind, to_jsonb(b) AS before,
      to_jsonb(c.written_updated_at) #>> '{}' AS written, c.undone_at IS NOT NULL AS undone
    FROM import_undo_chunks c, unnest(c.before) b WHERE c.import_id = ${importId}
    UNION ALL
    SELECT x.id, x.vendor_data, 'created', NULL, to_jsonb(c.written_updated_at) #>> '{}', c.undone_at IS NOT NULL
    FROM import_undo_chunks c, unnest(c.created_ids, c.created_vendor_data) x(id, vendor_data) WHERE c.import_id = ${importId}
    UNION ALL
    SELECT x.id, x.vendor_data, 'no_image', NULL, to_jsonb(c.written_updated_at) #>> '{}', c.undone_at IS NOT NULL
    FROM import_undo_chunks c, unnest(c.no_image_ids, c.no_image_vendor_data) x(id, vendor_data) WHERE c.import_id = ${importId}`);
}

it('records a before-image of every updated user and the id of every created one, in the chunk write', async () => {
  const t = await createTenant(stack.database.db);
  await seed(t, 'bi');
  const before = await usersOf(t.applicationId);
  const done = await importFile(t, 'bi');
  const after = await usersOf(t.applicationId);
  const images = await imagesOf(done.id);
  expect(images.rows).toHaveLength(100);
  for (const image of images.rows) {
    expect(image.undone).toBe(false);
    const now = after.get(image.vendor_data)!;
    expect(image.user_id).toBe(now.id);
    expect(new Date(image.written).getTime()).toBe(new Date(now.updated_at as string).getTime());
    if (image.vendor_data.startsWith('bi-u-')) {
      expect(image.kind).toBe('updated');
      expect(image.before).toEqual(before.get(image.vendor_data));
    } else {
      expect(image.kind).toBe('created');
      expect(image.before).toBeNull();
    }
  }
});

it('keeps no before-image of a user the import left as it was (a row with nothing to change)', async () => {
  const t = await createTenant(stack.database.db);
  await seed(t, 'nc');
  const token = t.operators.ADMIN.token;
  const file = csvOf(
    ['vendor_data', 'display_name', 'full_name', 'email', 'status', 'tags', 'metadata_json'],
    [
      ['nc-u-20', 'old 20', 'Old Name 20', 'old20@example.com', 'ACTIVE', 'a,b', '{"k":20,"keep":"yes"}'],
      ['nc-u-21', 'changed 21', 'Old Name 21', 'old21@example.com', 'ACTIVE', 'a,b', '{"k":21,"keep":"yes"}'],
    ],
  );
  const preview = await uploadAndValidate(stack, token, file);
  expect(preview).toMatchObject({ status: 'AWAITING_CONFIRMATION', to_update: 1, to_unchanged: 1 });
  await api(stack, 'POST', `/console/users/imports/${preview.id}/confirm`, { token });
  await waitForStatus(stack, token, preview.id, ['COMPLETED'], 60_000);
  const images = await imagesOf(preview.id);
  expect(images.rows.map((r) => ({ vendor_data: r.vendor_data, kind: r.kind }))).toEqual([{ vendor_data: 'nc-u-21', kind: 'updated' }]);
});

it('undo restores every updated user exactly, deletes the created ones, and leaves users changed or verified since as conflicts', async () => {
  const t = await createTenant(stack.database.db);
  const admin = t.operators.ADMIN.token;
  await seed(t, 'ud');
  const before = await usersOf(t.applicationId);
  const done = await importFile(t, 'ud');

  // After the import: one user changed through the public API, one updated user and one created user verified.
  const patched = await api(stack, 'PATCH', '/v3/users/ud-u-20/', { apiKey: t.apiKey, body: { display_name: 'changed later' } });
  expect(patched.status).toBe(200);
  await recordApprovedSession(stack.database.db, { applicationId: t.applicationId, vendorData: 'ud-u-3', fullName: 'Session Since' });
  await recordApprovedSession(stack.database.db, { applicationId: t.applicationId, vendorData: 'ud-n-7', dateOfBirth: '1980-05-06' });
  const beforeUndo = await usersOf(t.applicationId);

  // Not READER, COMPLIANCE_OFFICER or DEVELOPER.
  for (const role of ['READER', 'COMPLIANCE_OFFICER', 'DEVELOPER'] as const) {
    const refused = await api(stack, 'POST', `/console/users/imports/${done.id}/undo`, { token: t.operators[role].token });
    expect(refused.status).toBe(403);
  }
  const undo = await api(stack, 'POST', `/console/users/imports/${done.id}/undo`, { token: admin });
  expect(undo.status).toBe(202);
  expect(undo.body.status).toBe('UNDOING');
  expect(undo.body.undo).toMatchObject({ status: 'RUNNING', finished_at: null });
  const again = await api(stack, 'POST', `/console/users/imports/${done.id}/undo`, { token: t.operators.OWNER.token });
  expect(again.status).toBe(409);
  expect(again.body.error.code).toBe('invalid_state');

  const undone = await waitForStatus(stack, admin, done.id, ['UNDONE'], 60_000);
  expect(undone.undo).toEqual({ status: 'COMPLETED', restored: 48, deleted: 49, conflicts: 3, finished_at: expect.any(String) });

  const now = await usersOf(t.applicationId);
  const conflicts = new Set(['ud-u-20', 'ud-u-3', 'ud-n-7']);
  // The seeded users: whole rows as before the import, but the conflicts, as they were just before the undo.
  for (const [vendorData, row] of before) {
    expect(now.get(vendorData)).toEqual(conflicts.has(vendorData) ? beforeUndo.get(vendorData) : row);
  }
  // The created users are gone, but the one verified since.
  expect([...now.keys()].filter((v) => !before.has(v))).toEqual(['ud-n-7']);
  expect(now.get('ud-n-7')).toEqual(beforeUndo.get('ud-n-7'));

  const report = await fetch(`${stack.baseUrl}/console/users/imports/${done.id}/undo-conflicts.csv`, { headers: { authorization: `Bearer ${t.operators.READER.token}` } });
  expect(report.status).toBe(200);
  expect(report.headers.get('content-type')).toMatch(/^text\/csv/);
  const records = parse(await report.text(), { columns: true }) as { vendor_data: string; reason: string }[];
  expect(records.sort((a, b) => a.vendor_data.localeCompare(b.vendor_data))).toEqual([
    { vendor_data: 'ud-n-7', reason: 'session_since' },
    { vendor_data: 'ud-u-20', reason: 'changed_since' },
    { vendor_data: 'ud-u-3', reason: 'session_since' },
  ]);

  const audit = await api(stack, 'GET', '/console/audit-log?action=users.import.undo', { token: admin });
  expect(audit.status).toBe(200);
  const entry = audit.body.results.find((e: { target_id: string }) => e.target_id === done.id);
  expect(entry).toMatchObject({ action: 'users.import.undo', details: { restored: 48, deleted: 49, conflicts: 3 } });

  // UNDONE cannot be undone again.
  const twice = await api(stack, 'POST', `/console/users/imports/${done.id}/undo`, { token: admin });
  expect(twice.status).toBe(409);
  expect(twice.body.error.code).toBe('invalid_state');
});

it('refuses to undo an import that is not finished, or finished more than IMPORT_UNDO_DAYS ago (409 invalid_state)', async () => {
  const t = await createTenant(stack.database.db);
  const admin = t.operators.ADMIN.token;
  const waiting = await uploadAndValidate(stack, admin, csvOf(['vendor_data'], [['w-1']]));
  const early = await api(stack, 'POST', `/console/users/imports/${waiting.id}/undo`, { token: admin });
  expect(early.status).toBe(409);
  expect(early.body.error.code).toBe('invalid_state');
  expect((await getImport(stack, admin, waiting.id)).status).toBe('AWAITING_CONFIRMATION');

  await api(stack, 'POST', `/console/users/imports/${waiting.id}/confirm`, { token: admin });
  await waitForStatus(stack, admin, waiting.id, ['COMPLETED']);
  await stack.database.db.execute(sql`UPDATE imports SET finished_at = now() - interval '31 days' WHERE id = ${waiting.id}`);
  const late = await api(stack, 'POST', `/console/users/imports/${waiting.id}/undo`, { token: admin });
  expect(late.status).toBe(409);
  expect(late.body.error.code).toBe('invalid_state');
  expect((await getImport(stack, admin, waiting.id)).status).toBe('COMPLETED');

  // Another application's import: 404.
  const other = await createTenant(stack.database.db);
  expect((await api(stack, 'POST', `/console/users/imports/${waiting.id}/undo`, { token: other.operators.ADMIN.token })).status).toBe(404);
});

it('retention deletes the before-images of imports finished more than IMPORT_UNDO_DAYS ago, and keeps the others', async () => {
  const t = await createTenant(stack.database.db);
  const admin = t.operators.ADMIN.token;
  const old = await uploadAndValidate(stack, admin, csvOf(['vendor_data'], [['r-old-1'], ['r-old-2']]));
  await api(stack, 'POST', `/console/users/imports/${old.id}/confirm`, { token: admin });
  await waitForStatus(stack, admin, old.id, ['COMPLETED']);
  const recent = await uploadAndValidate(stack, admin, csvOf(['vendor_data'], [['r-new-1']]));
  await api(stack, 'POST', `/console/users/imports/${recent.id}/confirm`, { token: admin });
  await waitForStatus(stack, admin, recent.id, ['COMPLETED']);
  await stack.database.db.execute(sql`UPDATE imports SET finished_at = now() - interval '31 days' WHERE id = ${old.id}`);

  const count = async (id: string) =>
    (await stack.database.db.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM import_undo_chunks WHERE import_id = ${id}`)).rows[0].n;
  // One row of before-images per chunk: the old import's one chunk (other tests' expired imports may go too).
  expect(await count(old.id)).toBe(1);
  const activities = createRetentionActivities({ db: stack.database.db, storage: createStorage(stack.config), config: stack.config, mailer: undefined as never });
  const result = (await new MockActivityEnvironment().run(activities.deleteExpiredUndoImages, {})) as { deleted: number };
  expect(result.deleted).toBeGreaterThanOrEqual(1);
  expect(await count(old.id)).toBe(0);
  expect(await count(recent.id)).toBe(1);
});

it('restores every column of users but the id and the application: the list is the schema, not written by hand', async () => {
  const result = await stack.database.db.execute<{ column_name: string }>(sql`
    SELECT column_name FROM information_schema.columns
    WHERE table_schema = current_schema() AND table_name = 'users' AND column_name NOT IN ('id', 'application_id')
    ORDER BY ordinal_position`);
  expect([...RESTORED_COLUMN_NAMES].sort()).toEqual(result.rows.map((r) => r.column_name).sort());
});

it('a NOT NULL column the before-image holds as null (added after the image was taken) keeps its value; the others are restored', async () => {
  const t = await createTenant(stack.database.db);
  await seed(t, 'oi');
  const before = await usersOf(t.applicationId);
  const done = await importFile(t, 'oi');
  const after = await usersOf(t.applicationId);
  // An image taken before metadata (NOT NULL) was added to users: a users row read back then holds it as null.
  await stack.database.db.execute(sql`
    UPDATE import_undo_chunks SET before = ARRAY(
      SELECT CASE WHEN b.vendor_data = 'oi-u-30' THEN jsonb_populate_record(b, '{"metadata": null}') ELSE b END
      FROM unnest(before) b)
    WHERE import_id = ${done.id}`);
  const undo = await api(stack, 'POST', `/console/users/imports/${done.id}/undo`, { token: t.operators.ADMIN.token });
  expect(undo.status).toBe(202);
  const undone = await waitForStatus(stack, t.operators.ADMIN.token, done.id, ['UNDONE'], 60_000);
  expect(undone.undo).toMatchObject({ restored: 50, deleted: 50, conflicts: 0 });
  const now = await usersOf(t.applicationId);
  expect(now.get('oi-u-30')).toEqual({ ...before.get('oi-u-30'), metadata: after.get('oi-u-30')!.metadata });
  expect(after.get('oi-u-30')!.metadata).not.toEqual(before.get('oi-u-30')!.metadata);
  expect(now.get('oi-u-31')).toEqual(before.get('oi-u-31'));
});
