import { z } from 'zod';
import { EXPORT_FORMATS, USER_STATUSES, type ExportFormat, type UserStatus } from '../../drizzle/schema';
import { hasUnstorable } from '../text';
import { charLength, LIMITS, rules } from '../users/fields';
import { EXPORT_COLUMNS, isExportColumn, type ExportColumn } from './columns';

/**
 * The body of `POST /console/users/exports`, validated with zod. Every problem is an issue whose `params.code` is
 * a stable code (`unknown_field`, `unknown_column`, `duplicate_column`, `invalid_status`, `invalid_country`,
 * `invalid_tags`, `invalid_datetime`, `invalid_range`, `too_long`, `invalid_type`, `no_columns`, `invalid_characters`),
 * reported by the API as
 * 400 `invalid_field` with `details: [{field, code, message}]`.
 */

export interface ExportFilters {
  status?: UserStatus[];
  country?: string[];
  tags?: string[];
  /** ISO 8601, UTC, inclusive. */
  created_from?: string;
  /** ISO 8601, UTC, exclusive. */
  created_to?: string;
  search?: string;
}

export const SEARCH_MAX_CHARS = 200;

const issue = (ctx: z.RefinementCtx, code: string, message: string, path: (string | number)[] = []) =>
  ctx.addIssue({ code: 'custom', message, params: { code }, path });

/** A list of strings, each checked and normalised by `rule`; duplicates dropped (first keeps its place). */
function listOf(rule: (value: string) => { ok: true; value: string } | { ok: false; error: { code: string; message: string } }) {
  return z.array(z.string()).max(500).transform((values, ctx) => {
    const out: string[] = [];
    values.forEach((raw, i) => {
      const result = rule(raw.trim());
      if (!result.ok) issue(ctx, result.error.code, result.error.message, [i]);
      else if (!out.includes(result.value)) out.push(result.value);
    });
    return out;
  });
}

const tagRule = (value: string) =>
  value === '' || charLength(value) > LIMITS.tagChars || hasUnstorable(value)
    ? ({ ok: false, error: { code: 'invalid_tags', message: `a tag is 1 to ${LIMITS.tagChars} characters of text` } } as const)
    : ({ ok: true, value } as const);

const instant = z.string().transform((value, ctx) => {
  const ok = z.iso.datetime({ offset: true }).safeParse(value.trim()).success || z.iso.date().safeParse(value.trim()).success;
  const time = ok ? new Date(value.trim()) : undefined;
  if (!time || Number.isNaN(time.getTime())) {
    issue(ctx, 'invalid_datetime', 'must be an ISO 8601 time, e.g. 2024-05-01T00:00:00Z');
    return z.NEVER;
  }
  return time.toISOString();
});

/**
 * The JSON Schema of a list's items as /openapi.json shows them: the values it takes, from the same constant the rule
 * checks against. The parse itself stays the rule's (any letter case for statuses; its own detail codes).
 */
const itemsOneOf = (values: readonly string[]) => ({ items: { type: 'string', enum: [...values] } });

export const exportFiltersSchema = z
  .strictObject({
    status: listOf(rules.status).meta({ description: 'any letter case', ...itemsOneOf(USER_STATUSES) }).optional(),
    country: listOf(rules.country).meta({ description: 'ISO 3166-1 alpha-3 codes, any letter case' }).optional(),
    tags: listOf(tagRule).meta({ description: 'a user with any of them matches' }).optional(),
    created_from: instant.meta({ description: 'ISO 8601, inclusive' }).optional(),
    created_to: instant.meta({ description: 'ISO 8601, exclusive' }).optional(),
    search: z
      .string()
      .transform((v) => v.trim())
      .meta({
        description: `case-insensitive substring of vendor_data, display_name, full_name, email or phone (for DEVELOPER and READER only of vendor_data and display_name); at most ${SEARCH_MAX_CHARS} characters`,
      })
      .optional(),
  })
  .transform((filters, ctx): ExportFilters => {
    if (filters.search !== undefined && hasUnstorable(filters.search)) {
      issue(ctx, 'invalid_characters', 'search holds a character that cannot be stored (NUL or a lone surrogate)', ['search']);
    }
    if (filters.search !== undefined && charLength(filters.search) > SEARCH_MAX_CHARS) {
      issue(ctx, 'too_long', `search is longer than ${SEARCH_MAX_CHARS} characters`, ['search']);
    }
    if (filters.created_from && filters.created_to && filters.created_from >= filters.created_to) {
      issue(ctx, 'invalid_range', 'created_from must be before created_to', ['created_to']);
    }
    // An empty list or an empty search is "not given", like an empty cell.
    const out: ExportFilters = {};
    if (filters.status?.length) out.status = filters.status as UserStatus[];
    if (filters.country?.length) out.country = filters.country;
    if (filters.tags?.length) out.tags = filters.tags;
    if (filters.created_from) out.created_from = filters.created_from;
    if (filters.created_to) out.created_to = filters.created_to;
    if (filters.search) out.search = filters.search;
    return out;
  });

export const exportColumnsSchema = z
  .array(z.string())
  .meta({
    description: 'written in the order given; default: every column the role may export, in that order',
    ...itemsOneOf(EXPORT_COLUMNS),
  })
  .transform((names, ctx) => {
    if (names.length === 0) {
      issue(ctx, 'no_columns', 'columns names no column; give at least one, or leave columns out for every column your role may export');
      return z.NEVER;
    }
    const seen = new Set<string>();
    names.forEach((name, i) => {
      if (!isExportColumn(name)) {
        issue(ctx, 'unknown_column', `unknown column "${name}"; the columns are ${EXPORT_COLUMNS.join(', ')}`, [i]);
      } else if (seen.has(name)) {
        issue(ctx, 'duplicate_column', `column "${name}" is named twice`, [i]);
      }
      seen.add(name);
    });
    return names as ExportColumn[];
  });

const formatIssue = (name: string, expected: string) => (value: unknown, ctx: z.RefinementCtx) => {
  issue(ctx, `invalid_${name}`, `${name} must be ${expected}`);
  return value;
};

export const exportRequestSchema = z.strictObject({
  filters: exportFiltersSchema.optional(),
  columns: exportColumnsSchema.optional(),
  format: z
    .unknown()
    .transform((value, ctx) => (EXPORT_FORMATS.includes(value as ExportFormat) ? (value as ExportFormat) : (formatIssue('format', `one of ${EXPORT_FORMATS.join(', ')}`)(value, ctx) as never)))
    .meta({ type: 'string', enum: [...EXPORT_FORMATS], description: 'csv (default) or ndjson (one JSON object a line)' })
    .optional(),
  gzip: z
    .unknown()
    .transform((value, ctx) => (typeof value === 'boolean' ? value : (formatIssue('gzip', 'true or false')(value, ctx) as never)))
    .meta({ type: 'boolean', description: 'true: the file is gzip-compressed (.csv.gz, .ndjson.gz)' })
    .optional(),
  excel_bom: z
    .unknown()
    .transform((value, ctx) => (typeof value === 'boolean' ? value : (formatIssue('excel_bom', 'true or false')(value, ctx) as never)))
    .meta({ type: 'boolean', description: 'true: a UTF-8 byte-order mark first (Excel then reads accents right)' })
    .optional(),
});
export type ExportRequest = z.infer<typeof exportRequestSchema>;

