import { z } from 'zod';

/**
 * Pieces shared by the response schemas that sit next to each presenter (users/queries.ts, imports/present.ts,
 * exports/present.ts, audit/queries.ts). The presenters' return types are inferred from those schemas, and
 * src/api/openapi.ts turns the same schemas into /openapi.json.
 */

export const idSchema = z.uuid();
/** A time as the API writes it: `Date.toISOString()` (UTC, `Z`). */
export const timeSchema = z.iso.datetime();
export const countSchema = z.int().min(0);
/** `{id, email}` of the operator who started a job. */
export const operatorRefSchema = z.object({ id: idSchema, email: z.string() });
/** Why a job was rejected or failed: `{code, message}`, or null. */
export const jobErrorSchema = z.object({ code: z.string(), message: z.string() }).nullable();
export const jsonObjectSchema = z.record(z.string(), z.unknown());
