import { and, desc, eq, sql } from 'drizzle-orm';
import { z } from 'zod';
import { importMappings, operators } from '../../drizzle/schema';
import type { Queryable } from '../db/client';
import type { Cursor } from '../db/cursor';
import { isUuid } from '../db/ids';
import { notFound } from '../errors';
import { idSchema, timeSchema } from '../response-schemas';

/** Saved column mappings (`save_mapping`): an application's mapping for files with one set of headers. */

/** The application's saved mappings by headerSetKey(), for resolving a file's headers. */
export async function savedMappingsOf(db: Queryable, applicationId: string): Promise<Map<string, Record<string, string | null>>> {
  const rows = await db
    .select({ key: importMappings.headersKey, mapping: importMappings.mapping })
    .from(importMappings)
    .where(eq(importMappings.applicationId, applicationId));
  return new Map(rows.map((r) => [r.key, r.mapping]));
}

/** A saved mapping as `GET /console/users/import-mappings` lists it. */
export const savedMappingSchema = z.object({
  id: idSchema,
  headers: z.array(z.string()),
  mapping: z.record(z.string(), z.string().nullable()),
  operator: z.object({ id: idSchema, email: z.string().nullable() }).nullable(),
  created_at: timeSchema,
  updated_at: timeSchema,
});
export type SavedMappingObject = z.infer<typeof savedMappingSchema>;

/**
 * One page of the application's saved mappings, newest first: `limit` + 1 rows from after `cursor`, for toPage
 * (src/api/pagination.ts) to cut and present with presentSavedMapping.
 */
export async function listSavedMappings(db: Queryable, params: { applicationId: string; limit: number; cursor?: Cursor }) {
  const conditions = [eq(importMappings.applicationId, params.applicationId)];
  if (params.cursor) {
    conditions.push(sql`(${importMappings.createdAt}, ${importMappings.id}) < (${params.cursor.createdAt}, ${params.cursor.id})`);
  }
  return db
    .select({
      id: importMappings.id,
      headers: importMappings.headers,
      mapping: importMappings.mapping,
      operatorId: importMappings.operatorId,
      operatorEmail: operators.email,
      createdAt: importMappings.createdAt,
      updatedAt: importMappings.updatedAt,
    })
    .from(importMappings)
    .leftJoin(operators, eq(operators.id, importMappings.operatorId))
    .where(and(...conditions))
    .orderBy(desc(importMappings.createdAt), desc(importMappings.id))
    .limit(params.limit + 1);
}

export function presentSavedMapping(r: Awaited<ReturnType<typeof listSavedMappings>>[number]): SavedMappingObject {
  return {
    id: r.id,
    headers: r.headers,
    mapping: r.mapping,
    operator: r.operatorId ? { id: r.operatorId, email: r.operatorEmail } : null,
    created_at: r.createdAt.toISOString(),
    updated_at: r.updatedAt.toISOString(),
  };
}

export async function deleteSavedMapping(db: Queryable, params: { applicationId: string; id: string }): Promise<void> {
  if (!isUuid(params.id)) throw notFound('saved mapping');
  const deleted = await db
    .delete(importMappings)
    .where(and(eq(importMappings.id, params.id), eq(importMappings.applicationId, params.applicationId)))
    .returning({ id: importMappings.id });
  if (deleted.length === 0) throw notFound('saved mapping');
}
