import { parse } from 'csv-parse/sync';
import { asc, eq, sql } from 'drizzle-orm';
import { users } from '../../drizzle/schema';
import type { Db } from '../../src/db/client';
import { EXPORT_COLUMNS, type ExportColumn } from '../../src/exports/columns';
import { csvHeader, csvRow } from '../../src/exports/csv';
import { vendorDataKey } from '../../src/users/fields';
import type { UserRow } from '../../src/users/queries';
import { api, waitFor, type TestStack } from './stack';

/** Helpers shared by the export tests. */

export type SeedUser = Partial<Omit<UserRow, 'applicationId' | 'vendorDataKey'>> & { vendorData: string };

/** Inserts users directly (exact created_at, counters and verified fields are under the test's control). */
export async function seedUsers(db: Db, applicationId: string, list: SeedUser[]): Promise<UserRow[]> {
  if (list.length === 0) return [];
  const rows: UserRow[] = [];
  for (let i = 0; i < list.length; i += 1000) {
    const batch = list.slice(i, i + 1000).map((u) => ({ ...u, applicationId, vendorDataKey: vendorDataKey(u.vendorData) }));
    rows.push(...(await db.insert(users).values(batch).returning()));
  }
  return rows;
}

/** Seeds `count` users with SQL (fast): varied values, created one millisecond apart from `start`. */
export async function seedManyUsers(db: Db, applicationId: string, count: number, prefix = 'bulk', start = '2024-01-01T00:00:00Z') {
  await db.execute(sql`
    INSERT INTO users (application_id, vendor_data, vendor_data_key, display_name, full_name, email, phone, country, status,
                       tags, metadata, session_count, created_at, updated_at)
    SELECT ${applicationId}::uuid, ${prefix} || '-' || g, lower(${prefix} || '-' || g),
           CASE WHEN g % 7 = 0 THEN '=cmd|' || g ELSE 'Name ' || g || ', "quoted"' END,
           CASE WHEN g % 5 = 0 THEN NULL ELSE 'Full ' || g END,
           'user' || g || '@example.com', '+3460' || lpad(g::text, 7, '0'),
           (ARRAY['ESP','FRA','DEU'])[1 + g % 3], (ARRAY['ACTIVE','FLAGGED','BLOCKED'])[1 + g % 3],
           CASE WHEN g % 4 = 0 THEN ARRAY['vip','eu'] ELSE ARRAY['new'] END,
           jsonb_build_object('n', g, 'note', 'line1' || chr(10) || 'line2'),
           g % 9, ${start}::timestamptz + make_interval(secs => g / 1000.0), now()
    FROM generate_series(1, ${count}) g`);
}

/** The users an export should hold, in its order, read straight from the table. */
export async function usersInOrder(db: Db, applicationId: string): Promise<UserRow[]> {
  return db.select().from(users).where(eq(users.applicationId, applicationId)).orderBy(asc(users.createdAt), asc(users.id));
}

/** The file the reference formatter (csv-stringify) writes for these users. */
export function expectedCsv(columns: readonly ExportColumn[], list: UserRow[]): string {
  return csvHeader(columns) + list.map((u) => csvRow(columns, u)).join('');
}

export const ALL_COLUMNS = [...EXPORT_COLUMNS];

export function parseCsv(text: string): string[][] {
  return parse(text, { relax_column_count: false }) as string[][];
}

/** Polls an export until it reaches one of `statuses` (by default an end state); returns the export object. */
export async function waitForExport(
  stack: Pick<TestStack, 'baseUrl'>,
  token: string,
  id: string,
  statuses: string[] = ['COMPLETED', 'FAILED', 'CANCELLED', 'EXPIRED'],
  timeoutMs = 60_000,
): Promise<any> {
  return waitFor(async () => {
    const res = await api(stack, 'GET', `/console/users/exports/${id}`, { token });
    if (res.status !== 200) throw new Error(`GET export: ${res.status} ${res.text}`);
    return statuses.includes(res.body.status) ? res.body : undefined;
  }, timeoutMs, 150);
}

/** Starts an export and waits for it to end. */
export async function runExport(stack: Pick<TestStack, 'baseUrl'>, token: string, body: unknown = {}, timeoutMs?: number) {
  const started = await api(stack, 'POST', '/console/users/exports', { token, body });
  if (started.status !== 202) throw new Error(`POST export: ${started.status} ${started.text}`);
  return waitForExport(stack, token, started.body.id, undefined, timeoutMs);
}

/** Downloads a link with plain HTTP (no token). */
export async function download(url: string): Promise<{ status: number; text: string; bytes: Buffer; headers: Headers }> {
  const res = await fetch(url);
  const bytes = Buffer.from(await res.arrayBuffer());
  return { status: res.status, text: bytes.toString('utf8'), bytes, headers: res.headers };
}

