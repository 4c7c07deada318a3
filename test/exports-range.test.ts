import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzipSync, gzip } from 'node:zlib';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { CancelledFailure } from '@temporalio/common';
import { eq } from 'drizzle-orm';
import { exportParts, exportsTable } from '../drizzle/schema';
import { createExportActivities, type ExportPlan, type PartDetails, type RangeResult } from '../activities/exports';
import type { ExportColumn } from '../src/exports/columns';
import { csvHeader } from '../src/exports/csv';
import { poolOf } from '../src/exports/queries';
import { writeRange, type RangeCheckpoint } from '../src/exports/range-writer';
import { OutboxMailer } from '../src/email/outbox';
import { LocalStorage } from '../src/storage/local';
import { ALL_COLUMNS, expectedCsv, parseCsv, seedUsers, usersInOrder, type SeedUser } from './helpers/exports';
import { createTenant, testConfig, testEnv } from './helpers/stack';
import { createDatabase, type Database } from '../src/db/client';

/**
 * One range of an export, below the workflow: Postgres's CSV against the reference formatter on random values, a
 * range that dies mid-way and resumes from its checkpoint, and the activity's heartbeat resume and cancellation
 * (MockActivityEnvironment).
 */

let database: Database;
let dir: string;
let storage: LocalStorage;

beforeAll(() => {
  database = createDatabase(testEnv().databaseUrl, { poolSize: 5 });
  dir = mkdtempSync(path.join(tmpdir(), 'kyc-range-'));
  storage = new LocalStorage(dir, { signingSecret: 'x' });
});

afterAll(async () => {
  await database?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A small deterministic PRNG, so a failure can be replayed. */
function prng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = ['a', 'Z', '7', ' ', ',', '"', '""', '\n', '\r\n', '\r', '\t', '=', '+', '-', '@', "'", 'é', '😀', '日本', '\\', '{', '0', '.', 'e'];
const STARTS = ['=', '+', '-', '@', '\t', '\r', "'", '+1', '-2.5', '+34600111222', ''];

function randomText(rand: () => number, max = 12): string {
  let text = STARTS[Math.floor(rand() * STARTS.length)];
  const n = Math.floor(rand() * max);
  for (let i = 0; i < n; i++) text += PIECES[Math.floor(rand() * PIECES.length)];
  return text;
}

function randomUser(rand: () => number, i: number): SeedUser {
  const maybe = (text: () => string) => (rand() < 0.2 ? null : text());
  return {
    vendorData: `${randomText(rand, 6)}#${i}`,
    displayName: maybe(() => randomText(rand)),
    fullName: maybe(() => randomText(rand)),
    dateOfBirth: rand() < 0.5 ? null : `19${10 + Math.floor(rand() * 89)}-0${1 + Math.floor(rand() * 9)}-1${Math.floor(rand() * 9)}`,
    email: maybe(() => randomText(rand)),
    phone: maybe(() => (rand() < 0.5 ? `+${1 + Math.floor(rand() * 9)}${Math.floor(rand() * 1e9)}` : randomText(rand))),
    country: rand() < 0.3 ? null : ['ESP', 'FRA', 'USA'][Math.floor(rand() * 3)],
    status: (['ACTIVE', 'FLAGGED', 'BLOCKED'] as const)[Math.floor(rand() * 3)],
    tags: Array.from({ length: Math.floor(rand() * 4) }, () => randomText(rand, 5) || 'x'),
    metadata: rand() < 0.3 ? {} : { [randomText(rand, 4)]: randomText(rand), n: Math.floor(rand() * 1000), ok: rand() < 0.5, list: [randomText(rand, 3)] },
    sessionCount: Math.floor(rand() * 5),
    approvedCount: Math.floor(rand() * 5),
    declinedCount: Math.floor(rand() * 5),
    inReviewCount: Math.floor(rand() * 5),
    createdAt: new Date(Date.UTC(2023, 0, 1) + Math.floor(rand() * 1e10)),
  };
}

async function readFile(key: string): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of await storage.getStream(key)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const gzipAsync = promisify(gzip);
const until = () => new Date(Date.now() + 60_000).toISOString();

test('Postgres writes the same bytes as the reference formatter, on 2000 random users', async () => {
  const tenant = await createTenant(database.db);
  const rand = prng(20240501);
  await seedUsers(database.db, tenant.applicationId, Array.from({ length: 2000 }, (_, i) => randomUser(rand, i)));
  const result = await writeRange({
    pool: poolOf(database.db),
    open: (state) => storage.openAppend('diff/all.csv', state),
    query: { applicationId: tenant.applicationId, filters: {}, columns: ALL_COLUMNS, until: until() },
    header: csvHeader(ALL_COLUMNS),
    checkpointBytes: 64 * 1024,
    onCheckpoint: async () => undefined,
  });
  const text = await readFile('diff/all.csv');
  const users = await usersInOrder(database.db, tenant.applicationId);
  expect(result.rows).toBe(2000);
  expect(text).toBe(expectedCsv(ALL_COLUMNS, users));
  // And a standard parser reads each cell back as the reference wrote it.
  expect(parseCsv(text)).toHaveLength(2001);
});

/** What a JSON writer must escape, and what COPY text escapes, in every kind of field an NDJSON record holds. */
const NDJSON_PIECES = ['\u0001', '\b', '\f', '\v', '\u001f', '\u007f', '\\N', '\\', '\t', '\n', '"', '\u2028', '😀', 'é', '{}', '[', ':'];

test('NDJSON: the worker writes the bytes of Postgres\'s row_to_json, on 2000 random users', async () => {
  const tenant = await createTenant(database.db);
  const rand = prng(20261203);
  const tricky = () => Array.from({ length: 1 + Math.floor(rand() * 4) }, () => NDJSON_PIECES[Math.floor(rand() * NDJSON_PIECES.length)]).join('');
  await seedUsers(
    database.db,
    tenant.applicationId,
    Array.from({ length: 2000 }, (_, i) => {
      const user = randomUser(rand, i);
      if (i % 2 === 0) return user;
      return {
        ...user,
        displayName: i % 3 === 0 ? '\\N' : tricky(),
        fullName: tricky(),
        email: i % 5 === 0 ? '' : tricky(),
        tags: [tricky(), 'plain'],
        metadata: { [tricky()]: tricky(), nested: { list: [tricky(), 1.5, null, true] } },
      };
    }),
  );
  const result = await writeRange({
    pool: poolOf(database.db),
    open: (state) => storage.openAppend('diff/all.ndjson', state),
    query: { applicationId: tenant.applicationId, filters: {}, columns: ALL_COLUMNS, until: until(), format: 'ndjson' },
    checkpointBytes: 64 * 1024,
    onCheckpoint: async () => undefined,
  });
  expect(result.rows).toBe(2000);
  // The reference: Postgres's own JSON of the same fields (what the export's SQL was before the worker wrote it).
  const iso = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
  const { rows } = await poolOf(database.db).query<{ line: string }>(
    `SELECT row_to_json(j)::text AS line FROM (
       SELECT id, vendor_data, display_name, full_name, date_of_birth, email, phone, NULLIF(country, '') AS country, status,
         tags, metadata, session_count, approved_count, declined_count, in_review_count,
         ${iso('created_at')} AS created_at, ${iso('updated_at')} AS updated_at
       FROM users WHERE application_id = $1 ORDER BY created_at, id) j`,
    [tenant.applicationId],
  );
  const text = await readFile('diff/all.ndjson');
  expect(text).toBe(rows.map((r) => `${r.line}\n`).join(''));
  // And the pieces did reach the file: escaped control characters, a literal backslash-N.
  expect(text).toContain('\\u0001');
  expect(text).toContain('"display_name":"\\\\N"');
});

test('a range that dies after a checkpoint resumes from it: every row once, in order', async () => {
  const tenant = await createTenant(database.db);
  const rand = prng(7);
  await seedUsers(database.db, tenant.applicationId, Array.from({ length: 3000 }, (_, i) => randomUser(rand, i)));
  const columns: ExportColumn[] = ['id', 'vendor_data', 'display_name', 'tags', 'created_at'];
  const query = { applicationId: tenant.applicationId, filters: {}, columns, until: until() };
  const checkpoints: RangeCheckpoint[] = [];
  await expect(
    writeRange({
      pool: poolOf(database.db),
      open: (state) => storage.openAppend('resume/part.csv', state),
      query,
      header: csvHeader(columns),
      checkpointBytes: 16 * 1024,
      onCheckpoint: async (cp) => {
        checkpoints.push(JSON.parse(JSON.stringify(cp)));
        if (checkpoints.length === 3) throw new Error('the worker died');
      },
    }),
  ).rejects.toThrow('the worker died');
  const last = checkpoints[checkpoints.length - 1];
  expect(last.rows).toBeGreaterThan(0);
  expect(last.rows).toBeLessThan(3000);

  const resumed = await writeRange({
    pool: poolOf(database.db),
    open: (state) => storage.openAppend('resume/part.csv', state),
    query,
    header: csvHeader(columns),
    resume: last,
    checkpointBytes: 16 * 1024,
    onCheckpoint: async () => undefined,
  });
  expect(resumed.resumedAtRows).toBe(last.rows);
  expect(resumed.rows).toBe(3000);
  const users = await usersInOrder(database.db, tenant.applicationId);
  expect(await readFile('resume/part.csv')).toBe(expectedCsv(columns, users));
});

test('an NDJSON gzip range that dies after a checkpoint resumes from it: one valid gzip, every row once, in order', async () => {
  const tenant = await createTenant(database.db);
  const rand = prng(11);
  await seedUsers(database.db, tenant.applicationId, Array.from({ length: 3000 }, (_, i) => randomUser(rand, i)));
  const columns: ExportColumn[] = ['id', 'vendor_data', 'display_name', 'tags', 'metadata_json', 'created_at'];
  const query = { applicationId: tenant.applicationId, filters: {}, columns, until: until(), format: 'ndjson' as const };
  const gzipMember = (chunk: Buffer) => gzipAsync(chunk);
  const checkpoints: RangeCheckpoint[] = [];
  await expect(
    writeRange({
      pool: poolOf(database.db),
      open: (state) => storage.openAppend('resume/part.ndjson.gz', state),
      query,
      header: '\uFEFF',
      transform: gzipMember,
      checkpointBytes: 8 * 1024,
      onCheckpoint: async (cp) => {
        checkpoints.push(JSON.parse(JSON.stringify(cp)));
        if (checkpoints.length === 3) throw new Error('the worker died');
      },
    }),
  ).rejects.toThrow('the worker died');
  const last = checkpoints[checkpoints.length - 1];
  expect(last.rows).toBeGreaterThan(0);
  expect(last.rows).toBeLessThan(3000);

  const resumed = await writeRange({
    pool: poolOf(database.db),
    open: (state) => storage.openAppend('resume/part.ndjson.gz', state),
    query,
    header: '\uFEFF',
    transform: gzipMember,
    resume: last,
    checkpointBytes: 8 * 1024,
    onCheckpoint: async () => undefined,
  });
  expect(resumed.resumedAtRows).toBe(last.rows);
  expect(resumed.rows).toBe(3000);
  const chunks: Buffer[] = [];
  for await (const chunk of await storage.getStream('resume/part.ndjson.gz')) chunks.push(chunk as Buffer);
  const text = gunzipSync(Buffer.concat(chunks)).toString('utf8');
  expect(text.startsWith('\uFEFF')).toBe(true);
  const lines = text.slice(1, -1).split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const users = await usersInOrder(database.db, tenant.applicationId);
  expect(lines).toEqual(
    users.map((u) => ({
      id: u.id,
      vendor_data: u.vendorData,
      display_name: u.displayName,
      tags: u.tags,
      metadata: u.metadata,
      created_at: u.createdAt.toISOString(),
    })),
  );
});

describe('the exportRange activity', () => {
  async function plannedExport(count: number) {
    const tenant = await createTenant(database.db);
    const rand = prng(count);
    await seedUsers(database.db, tenant.applicationId, Array.from({ length: count }, (_, i) => randomUser(rand, i)));
    const [row] = await database.db
      .insert(exportsTable)
      .values({ applicationId: tenant.applicationId, operatorId: tenant.operators.OWNER.id, columns: ALL_COLUMNS })
      .returning();
    const config = testConfig({ EXPORT_CHECKPOINT_BYTES: String(32 * 1024), DATA_DIR: dir, EXPORT_PART_ROWS: '100000' });
    const activities = createExportActivities({ db: database.db, storage, mailer: new OutboxMailer(database.db), config });
    const plan = (await new MockActivityEnvironment().run(activities.startExport, { exportId: row.id })) as ExportPlan;
    expect(plan.parts).toBe(1);
    return { tenant, row, activities };
  }

  test('heartbeats its checkpoints; a retry given the heartbeat details resumes there', async () => {
    const { tenant, row, activities } = await plannedExport(2500);
    const beats: unknown[] = [];
    const first = new MockActivityEnvironment({ attempt: 1 });
    first.on('heartbeat', (details: unknown) => {
      beats.push(details);
      if (beats.filter(Boolean).length === 2) first.cancel();
    });
    await expect(first.run(activities.exportRange, { exportId: row.id, partNo: 0 })).rejects.toBeInstanceOf(CancelledFailure);
    const lastBeat = beats.filter(Boolean).pop() as RangeCheckpoint;
    expect(lastBeat.rows).toBeGreaterThan(0);

    // The retry gets the last heartbeat's details (the part row's copy is removed to prove they are used).
    await database.db
      .update(exportParts)
      .set({ details: { from: null, to: null, until: until() } })
      .where(eq(exportParts.exportId, row.id));
    const retry = new MockActivityEnvironment({ attempt: 2, heartbeatDetails: lastBeat });
    const result = await retry.run(activities.exportRange, { exportId: row.id, partNo: 0 });
    expect(result).toMatchObject({ rows: 2500, resumedAtRows: lastBeat.rows });
    const [part] = await database.db.select().from(exportParts).where(eq(exportParts.exportId, row.id));
    expect(part.status).toBe('COMPLETED');
    expect((part.details as unknown as PartDetails).resumes).toEqual([{ attempt: 2, atRows: lastBeat.rows }]);
    const users = await usersInOrder(database.db, tenant.applicationId);
    expect(await readFile(`exports/${tenant.applicationId}/${row.id}/parts/00000.csv`)).toBe(expectedCsv(ALL_COLUMNS, users));

    // Run again (a retry after the part was recorded): nothing is rewritten.
    const again = (await new MockActivityEnvironment({ attempt: 3 }).run(activities.exportRange, { exportId: row.id, partNo: 0 })) as RangeResult;
    expect(again.rows).toBe(2500);
  });

  test('without heartbeat details a retry resumes from the checkpoint kept on the part row', async () => {
    const { tenant, row, activities } = await plannedExport(1500);
    const first = new MockActivityEnvironment({ attempt: 1 });
    let beats = 0;
    first.on('heartbeat', (details: unknown) => {
      if (details && ++beats === 1) first.cancel();
    });
    await expect(first.run(activities.exportRange, { exportId: row.id, partNo: 0 })).rejects.toBeInstanceOf(CancelledFailure);
    const [part] = await database.db.select().from(exportParts).where(eq(exportParts.exportId, row.id));
    const kept = (part.details as unknown as PartDetails).checkpoint!;
    expect(kept.rows).toBeGreaterThan(0);
    const result = await new MockActivityEnvironment({ attempt: 2 }).run(activities.exportRange, { exportId: row.id, partNo: 0 });
    expect(result).toMatchObject({ rows: 1500, resumedAtRows: kept.rows });
    const users = await usersInOrder(database.db, tenant.applicationId);
    expect(await readFile(`exports/${tenant.applicationId}/${row.id}/parts/00000.csv`)).toBe(expectedCsv(ALL_COLUMNS, users));
  });

  test('an export id that does not exist fails without retries', async () => {
    const config = testConfig();
    const activities = createExportActivities({ db: database.db, storage, mailer: new OutboxMailer(database.db), config });
    await expect(new MockActivityEnvironment().run(activities.startExport, { exportId: randomUUID() })).rejects.toMatchObject({
      type: 'export_not_found',
      nonRetryable: true,
    });
  });
});
