import { z } from 'zod';
import { importOptionsSchema } from './options';

/**
 * How a staged row `s` (import_staging or import_rows: the same value columns) is written over an existing user `u`,
 * under the import's modes: written once, as SQL text, and used by the classification at staging, by the chunk
 * write and by the preview's `changes`, so the three always agree. Staged values: null is "not given" (keep); with
 * `empty_cells=clear`, '' (text), an empty list (tags) and JSON null (metadata) are "clear it" (see StagedRow).
 * Verified fields and the counters are never written in any mode.
 */

export interface WriteModes {
  mode: 'upsert' | 'create_only' | 'update_only';
  tagsMode: 'replace' | 'add';
  metadataMode: 'merge' | 'replace';
  emptyCells: 'keep' | 'clear';
}

/** The modes of an import's stored options (null or absent: the defaults). */
export function writeModes(options: ValueOptions | null | undefined): WriteModes {
  return {
    mode: options?.mode ?? 'upsert',
    tagsMode: options?.tags_mode ?? 'replace',
    metadataMode: options?.metadata_mode ?? 'merge',
    emptyCells: options?.empty_cells ?? 'keep',
  };
}

const shape = importOptionsSchema.shape;
/** The options the values and the writes use; the others (reading, mapping) are not this module's. */
const storedOptionsSchema = z.object({
  default_phone_country: shape.default_phone_country,
  mode: shape.mode,
  empty_cells: shape.empty_cells,
  tags_mode: shape.tags_mode,
  metadata_mode: shape.metadata_mode,
});
export type ValueOptions = z.output<typeof storedOptionsSchema>;

/**
 * The options stored on an import (imports.options: the upload's fields, given or detected), read with the upload's
 * schema; null or absent values are defaults, other keys are ignored here. A stored value the schema refuses throws.
 */
export function parseStoredOptions(stored: unknown): ValueOptions {
  if (stored === null || typeof stored !== 'object') return {};
  const given = Object.fromEntries(Object.entries(stored as Record<string, unknown>).filter(([, v]) => v !== null && v !== undefined));
  return storedOptionsSchema.parse(given);
}

export const WRITTEN_FIELDS = ['display_name', 'full_name', 'email', 'phone', 'country', 'status', 'tags', 'metadata'] as const;
export type WrittenField = (typeof WRITTEN_FIELDS)[number];

/** `u.tags` followed by the row's tags it lacks, in the row's order (tags_mode=add). */
const ADDED_TAGS = `u.tags || ARRAY(SELECT t FROM unnest(s.tags) WITH ORDINALITY AS x(t, i) WHERE t <> ALL (u.tags) ORDER BY i)`;

/** Whether adding the row's tags would give the user more than 50 (the row error invalid_tags at staging). */
export function tooManyTagsSql(modes: WriteModes): string {
  return modes.tagsMode === 'add' ? `(s.tags IS NOT NULL AND cardinality(${ADDED_TAGS}) > 50)` : 'false';
}

const keepOrClear = (column: string) => `CASE WHEN s.${column} IS NULL THEN u.${column} ELSE NULLIF(s.${column}, '') END`;

/** The new value of each written field of `u` (SQL text over `s` and `u`). */
export function nextValuesSql(modes: WriteModes): Record<WrittenField, string> {
  const tags =
    modes.tagsMode === 'add'
      ? // More than 50 was refused at staging; tags stored since (by someone else) are not exceeded: the row's are then not added.
        `CASE WHEN s.tags IS NULL THEN u.tags WHEN cardinality(s.tags) = 0 THEN '{}'::text[]
          WHEN cardinality(${ADDED_TAGS}) > 50 THEN u.tags ELSE ${ADDED_TAGS} END`
      : `COALESCE(s.tags, u.tags)`;
  const metadata =
    modes.metadataMode === 'replace'
      ? `CASE WHEN s.metadata IS NULL THEN u.metadata WHEN jsonb_typeof(s.metadata) = 'null' THEN '{}'::jsonb ELSE s.metadata END`
      : `CASE WHEN s.metadata IS NULL THEN u.metadata WHEN jsonb_typeof(s.metadata) = 'null' THEN '{}'::jsonb ELSE u.metadata || s.metadata END`;
  return {
    display_name: keepOrClear('display_name'),
    full_name: `CASE WHEN 'full_name' = ANY (u.verified_fields) OR s.full_name IS NULL THEN u.full_name ELSE NULLIF(s.full_name, '') END`,
    email: keepOrClear('email'),
    phone: keepOrClear('phone'),
    country: keepOrClear('country'),
    status: 'COALESCE(s.status, u.status)',
    tags,
    metadata,
  };
}

/** The values of a new user made from `s` (a "clear it" is nothing to clear: null, no tags, {}). */
export const CREATE_VALUES_SQL: Record<WrittenField, string> = {
  display_name: `NULLIF(s.display_name, '')`,
  full_name: `NULLIF(s.full_name, '')`,
  email: `NULLIF(s.email, '')`,
  phone: `NULLIF(s.phone, '')`,
  country: `NULLIF(s.country, '')`,
  status: `COALESCE(s.status, 'ACTIVE')`,
  tags: `COALESCE(s.tags, '{}'::text[])`,
  metadata: `CASE WHEN s.metadata IS NULL OR jsonb_typeof(s.metadata) = 'null' THEN '{}'::jsonb ELSE s.metadata END`,
};

/** Whether writing `s` changes `u`. */
export function changesSql(modes: WriteModes): string {
  const next = nextValuesSql(modes);
  return `((${WRITTEN_FIELDS.map((f) => `u.${f}`).join(', ')}) IS DISTINCT FROM (${WRITTEN_FIELDS.map((f) => next[f]).join(', ')}))`;
}

/** Whether the row would have changed a verified full_name (kept_fields). */
export const KEEPS_FULL_NAME_SQL = `(s.full_name IS NOT NULL AND 'full_name' = ANY (u.verified_fields)
  AND NULLIF(s.full_name, '') IS DISTINCT FROM u.full_name)`;

/**
 * The preview's `changes` of `s` over `u`: a jsonb array `[{field, from, to}]` in WRITTEN_FIELDS order, without the
 * fields in `hidden`.
 */
export function changesListSql(modes: WriteModes, hidden: readonly WrittenField[]): string {
  const next = nextValuesSql(modes);
  const shown = WRITTEN_FIELDS.filter((f) => !hidden.includes(f));
  if (shown.length === 0) return `'[]'::jsonb`;
  const values = shown.map((f, i) => `(${i}, '${f}', to_jsonb(u.${f}), to_jsonb(${next[f]}))`).join(',\n      ');
  return `(SELECT COALESCE(jsonb_agg(jsonb_build_object('field', c.field, 'from', c.old, 'to', c.new) ORDER BY c.ord), '[]'::jsonb)
    FROM (VALUES ${values}) AS c(ord, field, old, new) WHERE c.old IS DISTINCT FROM c.new)`;
}
