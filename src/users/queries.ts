import { and, desc, eq, ilike, or, sql, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import { USER_STATUSES, users, type Role, type UserStatus } from '../../drizzle/schema';
import { requireApplication } from '../auth/accounts';
import { can } from '../auth/permissions';
import type { Queryable } from '../db/client';
import { DomainError, notFound } from '../errors';
import type { Cursor } from '../db/cursor';
import { countSchema, idSchema, jsonObjectSchema, timeSchema } from '../response-schemas';
import { rules, vendorDataKey, type UserCreateInput, type UserPatchInput } from './fields';

export type UserRow = typeof users.$inferSelect;

/** The fields an approved session verifies (users.verified_fields). */
const VERIFIABLE_FIELDS = ['full_name', 'date_of_birth'] as const;

/** The user object of API.md. */
export const userObjectSchema = z.object({
  id: idSchema,
  vendor_data: z.string(),
  display_name: z.string().nullable(),
  full_name: z.string().nullable(),
  date_of_birth: z.iso.date().nullable(),
  email: z.string().nullable(),
  phone: z.string().nullable(),
  country: z.string().nullable(),
  status: z.enum(USER_STATUSES),
  tags: z.array(z.string()),
  metadata: jsonObjectSchema,
  verified_fields: z.array(z.enum(VERIFIABLE_FIELDS)).meta({ description: 'which of full_name, date_of_birth came from an approved session' }),
  session_count: countSchema,
  approved_count: countSchema,
  declined_count: countSchema,
  in_review_count: countSchema,
  created_at: timeSchema,
  updated_at: timeSchema,
});
export type UserObject = z.infer<typeof userObjectSchema>;

export function presentUser(row: UserRow): UserObject {
  return {
    id: row.id,
    vendor_data: row.vendorData,
    display_name: row.displayName,
    full_name: row.fullName,
    date_of_birth: row.dateOfBirth,
    email: row.email,
    phone: row.phone,
    country: row.country,
    status: row.status,
    tags: row.tags,
    metadata: row.metadata,
    verified_fields: row.verifiedFields as UserObject['verified_fields'],
    session_count: row.sessionCount,
    approved_count: row.approvedCount,
    declined_count: row.declinedCount,
    in_review_count: row.inReviewCount,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}

/** Postgres's unique_violation, as raised through drizzle (which wraps the driver's error in `cause`). */
function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string } };
  return e?.code === '23505' || e?.cause?.code === '23505';
}

const vendorDataConflict = () =>
  new DomainError('conflict', 'vendor_data_conflict', 'a user with this vendor_data exists already');

export async function createUser(db: Queryable, params: { applicationId: string; input: UserCreateInput }): Promise<UserRow> {
  const { applicationId, input } = params;
  const [row] = await db
    .insert(users)
    .values({
      applicationId,
      vendorData: input.vendor_data,
      vendorDataKey: vendorDataKey(input.vendor_data),
      displayName: input.display_name ?? null,
      fullName: input.full_name ?? null,
      dateOfBirth: input.date_of_birth ?? null,
      email: input.email ?? null,
      phone: input.phone ?? null,
      country: input.country ?? null,
      status: input.status ?? 'ACTIVE',
      tags: input.tags ?? [],
      metadata: input.metadata ?? {},
    })
    .onConflictDoNothing()
    .returning();
  if (!row) throw vendorDataConflict();
  return row;
}

async function findUserByVendorData(db: Queryable, applicationId: string, vendorData: string) {
  const [row] = await db
    .select()
    .from(users)
    .where(and(eq(users.applicationId, applicationId), eq(users.vendorDataKey, vendorDataKey(vendorData))));
  return row;
}

export async function getUserByVendorData(db: Queryable, params: { applicationId: string; vendorData: string }): Promise<UserRow> {
  const row = await findUserByVendorData(db, params.applicationId, params.vendorData);
  if (!row) throw notFound('user');
  return row;
}

export interface UserListParams {
  applicationId: string;
  status?: UserStatus;
  country?: string;
  search?: string;
  /** Where `search` looks: every searchable field (default), or only those of DEVELOPER and READER. */
  searchScope?: SearchScope;
  limit: number;
  cursor?: Cursor;
}

/** Escapes `%`, `_` and `\` so a search text is matched literally by ILIKE. */
export function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** The fields `search` looks in; `restricted` (DEVELOPER and READER): only those the role may export. */
export const SEARCH_FIELDS = {
  all: ['vendor_data', 'display_name', 'full_name', 'email', 'phone'],
  restricted: ['vendor_data', 'display_name'],
} as const;
export type SearchScope = keyof typeof SEARCH_FIELDS;

/** The search scope of a role: a search must not reveal personal data the role may not export. */
export function searchScopeOf(role: Role): SearchScope {
  return can(role, 'exports.all_columns') ? 'all' : 'restricted';
}

const SEARCH_COLUMNS = {
  vendor_data: users.vendorData,
  display_name: users.displayName,
  full_name: users.fullName,
  email: users.email,
  phone: users.phone,
} as const;

/** The condition of API.md's `search`: a case-insensitive substring of any of the searchable fields. */
function userSearchCondition(search: string, scope: SearchScope = 'all'): SQL | undefined {
  const pattern = likePattern(search);
  return or(...SEARCH_FIELDS[scope].map((field) => ilike(SEARCH_COLUMNS[field], pattern)));
}

/** A page of an application's users, newest first; returns up to limit+1 rows so the caller knows if more follow. */
export async function listUsers(db: Queryable, params: UserListParams): Promise<UserRow[]> {
  const conditions: (SQL | undefined)[] = [eq(users.applicationId, params.applicationId)];
  if (params.status) conditions.push(eq(users.status, params.status));
  if (params.country) conditions.push(eq(users.country, params.country));
  if (params.search) conditions.push(userSearchCondition(params.search, params.searchScope));
  if (params.cursor) {
    conditions.push(sql`(${users.createdAt}, ${users.id}) < (${params.cursor.createdAt}, ${params.cursor.id})`);
  }
  return db
    .select()
    .from(users)
    .where(and(...conditions))
    .orderBy(desc(users.createdAt), desc(users.id))
    .limit(params.limit + 1);
}

/**
 * Applies the given fields: null clears an optional field, `metadata` is merged key by key into the stored one,
 * verified fields and counters are left alone. A patch that changes nothing leaves the user (and updated_at) as is.
 */
export async function patchUser(
  db: Queryable,
  params: { applicationId: string; vendorData: string; patch: UserPatchInput },
): Promise<UserRow> {
  const { applicationId, vendorData, patch } = params;
  return db.transaction(async (tx) => {
    const [current] = await tx
      .select()
      .from(users)
      .where(and(eq(users.applicationId, applicationId), eq(users.vendorDataKey, vendorDataKey(vendorData))))
      .for('update');
    if (!current) throw notFound('user');
    const verified = new Set(current.verifiedFields);
    const next: Partial<UserRow> = {};
    if (patch.vendor_data !== undefined && patch.vendor_data !== current.vendorData) {
      next.vendorData = patch.vendor_data;
      next.vendorDataKey = vendorDataKey(patch.vendor_data);
    }
    const setText = <K extends 'displayName' | 'fullName' | 'dateOfBirth' | 'email' | 'phone' | 'country'>(
      key: K,
      value: string | null | undefined,
    ) => {
      if (value !== undefined && value !== current[key]) next[key] = value as UserRow[K];
    };
    setText('displayName', patch.display_name);
    if (!verified.has('full_name')) setText('fullName', patch.full_name);
    if (!verified.has('date_of_birth')) setText('dateOfBirth', patch.date_of_birth);
    setText('email', patch.email);
    setText('phone', patch.phone);
    setText('country', patch.country);
    if (patch.status !== undefined && patch.status !== current.status) next.status = patch.status;
    if (patch.tags !== undefined && JSON.stringify(patch.tags) !== JSON.stringify(current.tags)) next.tags = patch.tags;
    if (patch.metadata !== undefined) {
      const merged = { ...current.metadata, ...patch.metadata };
      if (!sameJson(merged, current.metadata)) next.metadata = merged;
    }
    if (Object.keys(next).length === 0) return current;
    try {
      const [updated] = await tx
        .update(users)
        .set({ ...next, updatedAt: sql`now()` })
        .where(eq(users.id, current.id))
        .returning();
      return updated;
    } catch (err) {
      if (isUniqueViolation(err)) throw vendorDataConflict();
      throw err;
    }
  });
}

/** Deep equality of two JSON values, ignoring key order (as Postgres's jsonb does). */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ak = Object.keys(a);
  const bk = Object.keys(b);
  if (ak.length !== bk.length) return false;
  return ak.every((k) => sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/**
 * Stands in for the verification pipeline: marks the given full_name / date_of_birth as verified with those values
 * and adds 1 to session_count and approved_count, creating the user if it does not exist.
 */
export async function recordApprovedSession(
  db: Queryable,
  params: { applicationId: string; vendorData: string; fullName?: string; dateOfBirth?: string },
): Promise<UserRow> {
  await requireApplication(db, params);
  const vendorData = params.vendorData.trim();
  if (vendorData === '') throw new DomainError('invalid', 'invalid_field', 'vendor_data is required');
  const checks = [
    rules.vendorData(vendorData),
    params.fullName !== undefined ? rules.fullName(params.fullName.trim()) : undefined,
    params.dateOfBirth !== undefined ? rules.dateOfBirth(params.dateOfBirth.trim()) : undefined,
  ];
  const problem = checks.find((c) => c && !c.ok);
  if (problem && !problem.ok) throw new DomainError('invalid', 'invalid_field', problem.error.message);
  const fullName = params.fullName?.trim();
  const dateOfBirth = params.dateOfBirth?.trim();
  // Sorted, as the update below keeps them: a user's verified_fields read the same whichever session came first.
  const newlyVerified = [...(dateOfBirth ? ['date_of_birth'] : []), ...(fullName ? ['full_name'] : [])];
  const [row] = await db
    .insert(users)
    .values({
      applicationId: params.applicationId,
      vendorData,
      vendorDataKey: vendorDataKey(vendorData),
      fullName: fullName ?? null,
      dateOfBirth: dateOfBirth ?? null,
      verifiedFields: newlyVerified,
      sessionCount: 1,
      approvedCount: 1,
    })
    .onConflictDoUpdate({
      target: [users.applicationId, users.vendorDataKey],
      set: {
        fullName: fullName ? sql`excluded.full_name` : sql`${users.fullName}`,
        dateOfBirth: dateOfBirth ? sql`excluded.date_of_birth` : sql`${users.dateOfBirth}`,
        verifiedFields: sql`array(select distinct unnest(${users.verifiedFields} || excluded.verified_fields) order by 1)`,
        sessionCount: sql`${users.sessionCount} + 1`,
        approvedCount: sql`${users.approvedCount} + 1`,
        updatedAt: sql`now()`,
      },
    })
    .returning();
  return row;
}
