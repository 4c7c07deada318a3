import { eq, sql } from 'drizzle-orm';
import { exportParts } from '../../drizzle/schema';
import pino from 'pino';
import type { Logger } from '../../src/logger';
import type { Db } from '../../src/db/client';
import { csvOf, uploadAndValidate } from '../fixtures/imports/support';
import { ALL_COLUMNS, download, expectedCsv, seedManyUsers, usersInOrder } from './exports';
import { api, waitFor, type TestStack } from './stack';

/** Helpers shared by the fault tests (test/faults/): jobs polled through an API whose database may be down. */

/** An API logger that keeps its error lines (to show why the API answered 500). */
export function recordingLogger(): { logger: Logger; errors: string[] } {
  const errors: string[] = [];
  const logger = pino({ level: 'error' }, { write: (line: string) => void errors.push(line) });
  return { logger, errors };
}

export type JobKind = 'imports' | 'exports';

/**
 * The job as the API shows it, or undefined while the API answers 503 database_unavailable (Postgres unreachable).
 * Any other answer than 200 or that 503 fails; `apiErrors` (the lines of recordingLogger) are shown with it.
 */
export async function getJob(stack: Pick<TestStack, 'baseUrl'>, token: string, kind: JobKind, id: string, apiErrors?: string[]): Promise<any> {
  const res = await api(stack, 'GET', `/console/users/${kind}/${id}`, { token });
  if (res.status === 503) {
    expect(res.body?.error?.code).toBe('database_unavailable');
    return undefined;
  }
  if (res.status !== 200) throw new Error(`GET ${kind}/${id}: ${res.status} ${res.text}${apiErrors ? `\nAPI errors:\n${apiErrors.join('')}` : ''}`);
  return res.body;
}

const END_STATES = ['COMPLETED', 'COMPLETED_WITH_ERRORS', 'REJECTED', 'FAILED', 'CANCELLED', 'EXPIRED'];

/** Polls until the job is in one of `statuses`; fails at once when it reaches another end state. 503s are waited out. */
export function waitForJob(
  stack: Pick<TestStack, 'baseUrl'>,
  token: string,
  kind: JobKind,
  id: string,
  statuses: string[],
  timeoutMs = 120_000,
  apiErrors?: string[],
): Promise<any> {
  return waitFor(
    async () => {
      const body = await getJob(stack, token, kind, id, apiErrors);
      if (!body) return undefined;
      if (statuses.includes(body.status)) return body;
      if (END_STATES.includes(body.status)) throw new Error(`${kind} ${id} ended ${body.status}, expected ${statuses.join('/')}: ${JSON.stringify(body)}`);
      return undefined;
    },
    timeoutMs,
    100,
  );
}

/** Polls with `check` until it returns a value, with the failure message saying what was awaited. */
export async function waitUntil<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000, intervalMs = 25): Promise<T> {
  try {
    return await waitFor(check, timeoutMs, intervalMs);
  } catch (err) {
    throw new Error(`${what}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** The audit entries about one job. */
export async function auditEntriesFor(db: Db, targetId: string) {
  const result = await db.execute<{ action: string; status: string; details: Record<string, any> }>(
    sql`SELECT action, status, details FROM audit_log WHERE target_id = ${targetId} ORDER BY created_at`,
  );
  return result.rows;
}

/**
 * A big import file: `rows` rows keyed `<prefix>-<i>` (i = 1..rows), the first row of every chunk a marker that makes
 * its chunk hold its transaction `delayMs` (./fault-injection.ts), so there is time to kill something mid-write.
 * Returns the CSV and the expected display name per key.
 */
export function bigImportFile(prefix: string, rows: number, chunkRows: number, delayMs: number) {
  const records: string[][] = [];
  for (let i = 1; i <= rows; i++) {
    records.push((i - 1) % chunkRows === 0 ? [`test-fault:delay-${delayMs}-${prefix}-${i}`, `marker ${i}`] : [`${prefix}-${i}`, `after ${i}`]);
  }
  return { csv: csvOf(['vendor_data', 'display_name'], records), records };
}

/** Users of an application: how many, how many keys appear more than once, and each key's display name. */
export async function usersOf(db: Db, applicationId: string) {
  const result = await db.execute<{ vendor_data: string; display_name: string | null; n: number }>(sql`
    SELECT vendor_data, display_name, count(*) OVER (PARTITION BY vendor_data_key)::int AS n
    FROM users WHERE application_id = ${applicationId}`);
  return {
    count: result.rows.length,
    duplicated: result.rows.filter((u) => u.n > 1).length,
    names: new Map(result.rows.map((u) => [u.vendor_data, u.display_name])),
  };
}

/** Chunks of an import: how many have been tried more than once, and whether one is in flight now (tried, not committed). */
export async function chunkState(db: Db, importId: string) {
  const result = await db.execute<{ completed: number; in_flight: number; retried: number }>(sql`
    SELECT count(*) FILTER (WHERE status = 'COMPLETED')::int AS completed,
           count(*) FILTER (WHERE status = 'PENDING' AND attempts >= 1)::int AS in_flight,
           count(*) FILTER (WHERE attempts > 1)::int AS retried
    FROM import_chunks WHERE import_id = ${importId}`);
  return result.rows[0];
}

/**
 * What every fault test asserts of an import that lived through the fault: COMPLETED with exact counts, the exact
 * users (none lost, none doubled, each with the file's display name) and one SUCCESS audit entry.
 */
export async function expectImportExact(
  db: Db,
  done: any,
  params: { applicationId: string; records: readonly (readonly string[])[]; rows: number; chunks: number; existing: number; usersBefore: number },
): Promise<void> {
  const { rows, existing } = params;
  expect(done).toMatchObject({
    status: 'COMPLETED',
    processed_rows: rows,
    created_count: rows - existing,
    updated_count: existing,
    unchanged_count: 0,
    failed_rows: 0,
    chunks: { total: params.chunks, completed: params.chunks, failed: 0 },
  });
  const users = await usersOf(db, params.applicationId);
  expect(users.duplicated).toBe(0);
  expect(users.count).toBe(params.usersBefore + rows - existing);
  for (const [key, name] of params.records) expect(users.names.get(key)).toBe(name);
  const audit = await auditEntriesFor(db, done.id);
  expect(audit).toHaveLength(1);
  expect(audit[0]).toMatchObject({
    action: 'users.import',
    status: 'SUCCESS',
    details: { import_status: 'COMPLETED', created_count: rows - existing, updated_count: existing, failed_rows: 0 },
  });
}

/**
 * What every fault test asserts of an export that lived through the fault: COMPLETED, the downloaded file equal to
 * the CSV of the database's rows, every range COMPLETED with the rows adding up, one SUCCESS audit entry (and one of the download).
 */
export async function expectExportExact(db: Db, done: any, params: { applicationId: string; rows: number }): Promise<void> {
  expect(done.status).toBe('COMPLETED');
  expect(done.row_count).toBe(params.rows);
  const file = await download(done.download_url);
  expect(file.status).toBe(200);
  const rows = await usersInOrder(db, params.applicationId);
  expect(rows).toHaveLength(params.rows);
  expect(file.text === expectedCsv(ALL_COLUMNS, rows)).toBe(true);
  const parts = await db.select().from(exportParts).where(eq(exportParts.exportId, done.id));
  expect(parts.every((p) => p.status === 'COMPLETED')).toBe(true);
  expect(parts.reduce((sum, p) => sum + p.rowCount, 0)).toBe(params.rows);
  // One entry for the export, and one for the download above (every download through a link is audited).
  const audit = await auditEntriesFor(db, done.id);
  const exported = audit.filter((entry) => entry.action === 'users.export');
  expect(exported).toHaveLength(1);
  expect(exported[0]).toMatchObject({ status: 'SUCCESS', details: { row_count: params.rows } });
  expect(audit.filter((entry) => entry.action === 'users.export.download')).toHaveLength(1);
  expect(audit).toHaveLength(2);
}

/**
 * The opening of every import fault test: `existing` of the file's users are there already (they are updated, the rest
 * created), the big import file is uploaded and confirmed, and this returns once a chunk has committed and another is
 * inside its transaction — the moment to kill something.
 */
export async function importUntilMidWrite(
  stack: TestStack,
  token: string,
  params: { applicationId: string; prefix: string; rows: number; chunkRows: number; existing: number; delayMs: number },
) {
  const { prefix, rows, chunkRows } = params;
  await seedManyUsers(stack.database.db, params.applicationId, params.existing, prefix);
  const { csv, records } = bigImportFile(prefix, rows, chunkRows, params.delayMs);
  const existing = records.filter(([key]) => key.startsWith(`${prefix}-`) && Number(key.slice(prefix.length + 1)) <= params.existing).length;
  const preview = await uploadAndValidate(stack, token, csv, `${prefix}.csv`);
  expect(preview).toMatchObject({ status: 'AWAITING_CONFIRMATION', to_create: rows - existing, to_update: existing });
  expect((await api(stack, 'POST', `/console/users/imports/${preview.id}/confirm`, { token })).status).toBe(202);
  await waitUntil('a chunk committed and one in flight', async () => {
    const chunks = await chunkState(stack.database.db, preview.id);
    return chunks.completed > 0 && chunks.in_flight > 0 && chunks.completed < rows / chunkRows - 4 ? chunks : undefined;
  });
  return { preview, records, existing };
}
