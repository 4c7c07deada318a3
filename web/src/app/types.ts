/** The objects of API.md, as the console reads them. Fields added later are optional so older servers still work. */

export type Permission =
  | 'imports.write'
  | 'imports.read'
  | 'imports.retry'
  | 'imports.control'
  | 'imports.approve'
  | 'imports.undo'
  | 'exports.all_columns'
  | 'exports.restricted_columns'
  | 'exports.read'
  | 'exports.control_any'
  | 'exports.schedules'
  | 'audit.read'
  | 'mappings.manage'
  | 'webhooks.manage'
  | (string & {});

export interface ExportColumnInfo {
  name: string;
  allowed: boolean;
  reason?: string | null;
}

export interface Me {
  operator: { id: string; email: string; role: string };
  application: { id: string; name: string };
  permissions: Permission[];
  export_columns: ExportColumnInfo[];
  temporal_ui?: { url: string; namespace: string } | null;
}

export interface OperatorRef {
  id: string;
  email: string;
}

export interface JobError {
  code: string;
  message: string;
}

export interface Page<T> {
  results: T[];
  next_cursor: string | null;
}

export interface ImportObject {
  id: string;
  status: string;
  file_name: string;
  file_sha256?: string | null;
  file_bytes?: number | null;
  operator: OperatorRef | null;
  api_key?: { prefix: string } | null;
  total_rows: number;
  valid_rows: number;
  invalid_rows: number;
  to_create: number;
  to_update: number;
  to_unchanged: number;
  processed_rows: number;
  created_count: number;
  updated_count: number;
  unchanged_count: number;
  skipped_count: number;
  failed_rows: number;
  chunks: { total: number; completed: number; failed: number };
  progress: number;
  error: JobError | null;
  workflow_id: string | null;
  created_at: string;
  confirmed_at: string | null;
  finished_at: string | null;
  rows_per_second?: number | null;
  eta_seconds?: number | null;
  options?: ImportOptionsShown | null;
  mapping?: MappingEntry[] | null;
  chunk_concurrency?: number | null;
  approval?: ImportApproval | null;
  undo?: ImportUndo | null;
}

/** The application's approval policy on confirm: whether a second operator had to decide, why, who and when. */
export interface ImportApproval {
  required: boolean;
  reasons: string[];
  approved_by: OperatorRef | null;
  rejected_by?: OperatorRef | null;
  decided_at: string | null;
}

/** The undo of an import: RUNNING while UNDOING, COMPLETED once UNDONE. */
export interface ImportUndo {
  status: string;
  restored: number;
  deleted: number;
  conflicts: number;
  finished_at: string | null;
}

/** One header of the file and the template column it was read as (null: ignored), and why. */
export interface MappingEntry {
  header: string;
  column: string | null;
  source: string;
}

/** The upload's options as the import object shows them (format, encoding, delimiter null until detected). */
export interface ImportOptionsShown {
  format?: string | null;
  sheet?: string | null;
  encoding?: string | null;
  delimiter?: string | null;
  mapping?: Record<string, string | null> | null;
  preset?: string | null;
  save_mapping?: boolean | null;
  default_phone_country?: string | null;
  mode?: string | null;
  empty_cells?: string | null;
  tags_mode?: string | null;
  metadata_mode?: string | null;
  detected?: Record<string, unknown> | null;
}

export interface SavedMapping {
  id: string;
  headers: string[];
  mapping: Record<string, string | null>;
  operator: OperatorRef | null;
  created_at: string;
  updated_at: string;
}

export interface RowProblem {
  column: string | null;
  code: string;
  message: string;
}

export interface FieldChange {
  field: string;
  from: unknown;
  to: unknown;
}

export interface PreviewRow {
  row_number: number;
  vendor_data: string | null;
  action: string;
  errors: RowProblem[];
  kept_fields: string[];
  raw?: Record<string, string> | null;
  normalized?: FieldChange[] | null;
  changes?: FieldChange[] | null;
}

export interface ExportFilters {
  status?: string[];
  country?: string[];
  tags?: string[];
  created_from?: string;
  created_to?: string;
  search?: string;
}

export interface ExportObject {
  id: string;
  status: string;
  filters: ExportFilters | null;
  columns: string[];
  operator: OperatorRef | null;
  row_count: number | null;
  progress: number;
  file_bytes: number | null;
  file_sha256: string | null;
  download_url?: string | null;
  link_expires_at: string | null;
  email: { to: string; status: string | null; sent_at: string | null } | null;
  error: JobError | null;
  workflow_id: string | null;
  created_at: string;
  finished_at: string | null;
  rows_per_second?: number | null;
  eta_seconds?: number | null;
  format?: string | null;
  gzip?: boolean | null;
  excel_bom?: boolean | null;
  schedule_id?: string | null;
  incremental?: boolean;
}

/** An export schedule (API.md "More on exports"). */
export interface ExportSchedule {
  id: string;
  name: string;
  filters: ExportFilters;
  columns: string[];
  format: string;
  gzip: boolean;
  excel_bom?: boolean;
  every: string | null;
  cron: string | null;
  incremental: boolean;
  paused: boolean;
  next_run_at: string | null;
  last_export_id: string | null;
  created_by: OperatorRef;
  created_at: string;
}

export interface AuditEntry {
  id: string;
  action: string;
  operator: OperatorRef | null;
  /** The API key that started the job through the public API; null otherwise. */
  api_key: { prefix: string } | null;
  target_id: string | null;
  status: string;
  details: Record<string, unknown> | null;
  started_at: string | null;
  finished_at: string | null;
  created_at: string;
}
