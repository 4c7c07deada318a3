import type { Role } from '../../drizzle/schema';
import { can } from '../auth/permissions';

/** The export's columns, in API.md's order (the default order). */
export const EXPORT_COLUMNS = [
  'id',
  'vendor_data',
  'display_name',
  'full_name',
  'date_of_birth',
  'email',
  'phone',
  'country',
  'status',
  'tags',
  'metadata_json',
  'session_count',
  'approved_count',
  'declined_count',
  'in_review_count',
  'created_at',
  'updated_at',
] as const;
export type ExportColumn = (typeof EXPORT_COLUMNS)[number];

/** Personal data: only roles with `exports.all_columns` may export these. */
export const PERSONAL_COLUMNS: readonly ExportColumn[] = ['full_name', 'date_of_birth', 'email', 'phone', 'metadata_json'];

export function isExportColumn(name: string): name is ExportColumn {
  return (EXPORT_COLUMNS as readonly string[]).includes(name);
}

/** The columns a role may export, in API.md's order: the default when a request names none. */
export function columnsForRole(role: Role): ExportColumn[] {
  return can(role, 'exports.all_columns') ? [...EXPORT_COLUMNS] : EXPORT_COLUMNS.filter((c) => !PERSONAL_COLUMNS.includes(c));
}

/** Of the given columns, those the role may not export. */
export function forbiddenColumns(role: Role, columns: readonly ExportColumn[]): ExportColumn[] {
  return can(role, 'exports.all_columns') ? [] : columns.filter((c) => PERSONAL_COLUMNS.includes(c));
}
