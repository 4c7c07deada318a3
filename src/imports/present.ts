import { z } from 'zod';
import { shownToRestricted, type HiddenCells } from './personal-data';
import { IMPORT_ROW_ACTIONS, IMPORT_STATUSES } from '../../drizzle/schema';
import { countSchema, idSchema, jobErrorSchema, operatorRefSchema, timeSchema } from '../response-schemas';
import { FILE_ERROR_CODES, MAPPING_SOURCES } from './columns';
import {
  EMPTY_CELLS_MODES,
  IMPORT_DELIMITERS,
  IMPORT_ENCODINGS,
  IMPORT_FORMATS,
  IMPORT_MODES,
  IMPORT_PRESETS,
  METADATA_MODES,
  TAGS_MODES,
  type DetectedSource,
  type ImportOptions,
} from './options';
import type { ImportRecord, PreviewRow } from './queries';
import { rateFieldsSchema, writeRate, type Rate } from '../rate';
import { CHUNK_CONCURRENCY_MAX, CHUNK_CONCURRENCY_MIN } from '../../workflows/import-definitions';

const detectedSourceSchema = z.object({
  format: z.enum(IMPORT_FORMATS),
  encoding: z.enum(IMPORT_ENCODINGS).nullable(),
  delimiter: z.enum(IMPORT_DELIMITERS).nullable(),
  sheet: z.string().nullable(),
});

/** The upload's options on the import object: each as given, else its default; what was detected under `detected`. */
export const importOptionsObjectSchema = z.object({
  format: z.enum(IMPORT_FORMATS).nullable(),
  sheet: z.string().nullable(),
  encoding: z.enum(IMPORT_ENCODINGS).nullable(),
  delimiter: z.enum(IMPORT_DELIMITERS).nullable(),
  mapping: z.record(z.string(), z.string().nullable()).nullable(),
  preset: z.enum(IMPORT_PRESETS).nullable(),
  save_mapping: z.boolean(),
  default_phone_country: z.string().nullable(),
  mode: z.enum(IMPORT_MODES),
  empty_cells: z.enum(EMPTY_CELLS_MODES),
  tags_mode: z.enum(TAGS_MODES),
  metadata_mode: z.enum(METADATA_MODES),
  detected: detectedSourceSchema.partial().nullable().meta({ description: 'what the reader detected; null until the file has been read' }),
});

/** The import object of API.md. */
export const importObjectSchema = z.object({
  id: idSchema,
  status: z.enum(IMPORT_STATUSES),
  file_name: z.string(),
  file_sha256: z.string(),
  file_bytes: countSchema,
  operator: operatorRefSchema.nullable().meta({ description: 'the operator who started it; null when started through the public API (api_key)' }),
  api_key: z
    .object({ prefix: z.string().meta({ description: "the first 12 characters of the API key" }) })
    .nullable()
    .meta({ description: 'the API key that started it through the public API (/v3/users/imports); null for a console import' }),
  auto_confirm: z.boolean().meta({ description: 'started with auto_confirm=true (public API): confirmed by itself once validated' }),
  total_rows: countSchema,
  valid_rows: countSchema,
  invalid_rows: countSchema,
  to_create: countSchema,
  to_update: countSchema,
  to_unchanged: countSchema,
  processed_rows: countSchema,
  created_count: countSchema,
  updated_count: countSchema,
  unchanged_count: countSchema,
  skipped_count: countSchema.meta({ description: 'invalid rows, skipped' }),
  failed_rows: countSchema.meta({ description: 'rows of chunks that failed to write' }),
  chunks: z.object({ total: countSchema, completed: countSchema, failed: countSchema }),
  progress: z.number().min(0).max(1),
  ...rateFieldsSchema,
  error: jobErrorSchema.meta({ description: `Why the file was REJECTED (${FILE_ERROR_CODES.join(', ')}) or the import FAILED` }),
  options: importOptionsObjectSchema,
  mapping: z
    .array(z.object({ header: z.string(), column: z.string().nullable(), source: z.enum(MAPPING_SOURCES) }))
    .nullable()
    .meta({ description: 'how each header of the file was read; null until the file has been read' }),
  workflow_id: z.string().nullable().meta({ description: 'users-import-<id>' }),
  chunk_concurrency: z
    .int()
    .min(1)
    .nullable()
    .meta({ description: 'chunks written at once (PATCH to change it while RUNNING or PAUSED); null for an import of before this field' }),
  approval: z
    .object({
      required: z.boolean(),
      reasons: z.array(z.string()),
      approved_by: operatorRefSchema.nullable(),
      rejected_by: operatorRefSchema.nullable(),
      decided_at: timeSchema.nullable(),
    })
    .meta({ description: "the application's approval policy on confirm: whether a second operator had to decide, why, who and when" }),
  undo: z
    .object({
      status: z.enum(['RUNNING', 'COMPLETED']),
      restored: countSchema,
      deleted: countSchema,
      conflicts: countSchema.meta({ description: 'users left as they are (changed or verified since): undo-conflicts.csv' }),
      finished_at: timeSchema.nullable(),
    })
    .nullable()
    .meta({ description: 'the undo (POST .../undo): null until one is asked; RUNNING while UNDOING, COMPLETED once UNDONE' }),
  created_at: timeSchema,
  confirmed_at: timeSchema.nullable(),
  finished_at: timeSchema.nullable(),
});
export type ImportObject = z.infer<typeof importObjectSchema>;

/** `PATCH /console/users/imports/{id}`: the chunk window of a running import. */
export const importPatchSchema = z.strictObject({
  chunk_concurrency: z.number().superRefine((value, ctx) => {
    if (!Number.isInteger(value) || value < CHUNK_CONCURRENCY_MIN || value > CHUNK_CONCURRENCY_MAX) {
      ctx.addIssue({
        code: 'custom',
        params: { code: 'invalid_chunk_concurrency' },
        message: `chunk_concurrency must be a whole number from ${CHUNK_CONCURRENCY_MIN} to ${CHUNK_CONCURRENCY_MAX}`,
      });
    }
  }),
});

/**
 * The optional body of approve / reject: the SHA-256 of the file the approver reviewed (hex, either letter case).
 * Strict: a misspelt `file_sha256` ignored would approve without the check the approver asked for.
 */
export const approvalDecisionSchema = z.strictObject({
  file_sha256: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/)
    .transform((hex) => hex.toLowerCase())
    .optional(),
});

/** A row of the import's preview. */
export const previewRowSchema = z.object({
  row_number: z.int().min(2).meta({ description: 'the row as a spreadsheet shows it (header = 1)' }),
  vendor_data: z.string().nullable(),
  action: z.enum(IMPORT_ROW_ACTIONS),
  errors: z.array(z.object({ column: z.string(), code: z.string(), message: z.string() })),
  kept_fields: z.array(z.string()).meta({ description: 'fields the row would change but may not (verified)' }),
  normalized: z.array(z.object({ field: z.string(), from: z.string(), to: z.string() })),
  changes: z
    .array(z.object({ field: z.string(), from: z.unknown(), to: z.unknown() }))
    .meta({ description: 'what an update row will change (personal data only for roles that may export it)' }),
  raw: z
    .record(z.string(), z.string())
    .meta({
      description:
        "the row as it was in the file: each header of the file with the row's cell, as text (for DEVELOPER and READER only the headers read as vendor_data, display_name, country, status or tags)",
    }),
});
export type PreviewRowObject = z.infer<typeof previewRowSchema>;

/** The share of the valid rows written or given up on (failed chunks); 1 once the import has completed. */
export function importProgress(row: Pick<ImportRecord, 'status' | 'validRows' | 'processedRows' | 'failedRows'>): number {
  if (row.status === 'COMPLETED' || row.status === 'COMPLETED_WITH_ERRORS') return 1;
  if (row.validRows === 0) return 0;
  const share = (row.processedRows + row.failedRows) / row.validRows;
  return Math.min(1, Math.max(0, Math.round(share * 10_000) / 10_000));
}

/**
 * The upload's options as the import object shows them: each as given, else its default, and for the format,
 * encoding, delimiter and sheet what the reader detected (null until the file has been read).
 */
export function presentOptions(row: Pick<ImportRecord, 'options' | 'detected'>): ImportObject['options'] {
  const given = (row.options ?? {}) as Partial<ImportOptions>;
  const detected = (row.detected ?? null) as Partial<DetectedSource> | null;
  return {
    format: given.format ?? detected?.format ?? null,
    sheet: given.sheet ?? detected?.sheet ?? null,
    encoding: given.encoding ?? detected?.encoding ?? null,
    delimiter: given.delimiter ?? detected?.delimiter ?? null,
    mapping: given.mapping ?? null,
    preset: given.preset ?? null,
    save_mapping: given.save_mapping ?? false,
    default_phone_country: given.default_phone_country ?? null,
    mode: given.mode ?? 'upsert',
    empty_cells: given.empty_cells ?? 'keep',
    tags_mode: given.tags_mode ?? 'replace',
    metadata_mode: given.metadata_mode ?? 'merge',
    detected,
  };
}

function presentApproval(row: ImportRecord): ImportObject['approval'] {
  const decider = row.approvalDecidedBy ? { id: row.approvalDecidedBy, email: row.approvalDecidedByEmail ?? '' } : null;
  return {
    required: row.approvalRequired,
    reasons: row.approvalReasons ?? [],
    approved_by: row.approvalDecision === 'APPROVED' ? decider : null,
    rejected_by: row.approvalDecision === 'REJECTED' ? decider : null,
    decided_at: row.approvalDecidedAt?.toISOString() ?? null,
  };
}

/**
 * rows_per_second / eta_seconds of a RUNNING import: the rows written (processed_rows, updated as each chunk commits)
 * since it last went to RUNNING (confirm, approval, retry, resume: rate_since), over the time since.
 */
export function importRate(
  row: Pick<ImportRecord, 'status' | 'rateSince' | 'rateBaseRows' | 'processedRows' | 'failedRows' | 'validRows'>,
  now: Date,
): Rate {
  return writeRate({
    running: row.status === 'RUNNING',
    since: row.rateSince,
    now,
    baseRows: row.rateBaseRows,
    rows: row.processedRows,
    remainingRows: row.validRows - row.processedRows - row.failedRows,
  });
}

export function presentImport(row: ImportRecord): ImportObject {
  return {
    id: row.id,
    status: row.status,
    file_name: row.fileName,
    file_sha256: row.fileSha256,
    file_bytes: row.fileBytes,
    operator: row.operatorId ? { id: row.operatorId, email: row.operatorEmail ?? '' } : null,
    api_key: row.apiKeyPrefix ? { prefix: row.apiKeyPrefix } : null,
    auto_confirm: row.autoConfirm,
    total_rows: row.totalRows,
    valid_rows: row.validRows,
    invalid_rows: row.invalidRows,
    to_create: row.toCreate,
    to_update: row.toUpdate,
    to_unchanged: row.toUnchanged,
    processed_rows: row.processedRows,
    created_count: row.createdCount,
    updated_count: row.updatedCount,
    unchanged_count: row.unchangedCount,
    skipped_count: row.skippedCount,
    failed_rows: row.failedRows,
    chunks: { total: row.chunksTotal, completed: row.chunksCompleted, failed: row.chunksFailed },
    progress: importProgress(row),
    ...importRate(row, row.readAt),
    error: row.errorCode ? { code: row.errorCode, message: row.errorMessage ?? '' } : null,
    options: presentOptions(row),
    // Written by the reader from MappingEntry values (columns.ts), whose source is one of MAPPING_SOURCES.
    mapping: (row.mapping ?? null) as ImportObject['mapping'],
    workflow_id: row.workflowId,
    chunk_concurrency: row.chunkConcurrency,
    approval: presentApproval(row),
    undo: row.undoStatus
      ? {
          status: row.undoStatus,
          restored: row.undoRestored,
          deleted: row.undoDeleted,
          conflicts: row.undoConflicts,
          finished_at: row.undoFinishedAt?.toISOString() ?? null,
        }
      : null,
    created_at: row.createdAt.toISOString(),
    confirmed_at: row.confirmedAt?.toISOString() ?? null,
    finished_at: row.finishedAt?.toISOString() ?? null,
  };
}

/**
 * A row of the preview; `raw` pairs the file's header (`columns`) with the row's cells as they were in the file, and
 * names the cells past the header (a `too_many_fields` row) by their place: `(field 4)`. `hidden` (a role without
 * exports.all_columns, see personal-data.ts) leaves out the cells it may not see (those past the header too), and the
 * normalisations of those fields.
 */
export function presentPreviewRow(row: PreviewRow, columns: readonly string[], hidden?: HiddenCells): PreviewRowObject {
  const raw: Record<string, string> = {};
  const cells = row.raw.length;
  columns.forEach((column, i) => {
    if (!hidden?.(i, cells)) raw[column] = row.raw[i] ?? '';
  });
  for (let i = columns.length; i < cells; i++) {
    // A header may even be named so: the cell past the header does not take its place.
    const key = Object.hasOwn(raw, `(field ${i + 1})`) ? `(field ${i + 1} past the header)` : `(field ${i + 1})`;
    if (!hidden?.(i, cells)) raw[key] = row.raw[i];
  }
  const normalized = row.normalized ?? [];
  return {
    row_number: row.rowNumber,
    vendor_data: row.vendorData,
    action: row.action,
    errors: row.errors ?? [],
    kept_fields: row.keptFields ?? [],
    normalized: hidden ? normalized.filter((n) => shownToRestricted(n.field)) : normalized,
    changes: row.changes,
    raw,
  };
}
