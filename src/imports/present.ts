import type { DetectedSource, ImportOptions } from './options';
import type { ImportRecord, PreviewRow } from './queries';

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
export function presentOptions(row: Pick<ImportRecord, 'options' | 'detected'>) {
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

/** The import object of API.md. */
export function presentImport(row: ImportRecord) {
  return {
    id: row.id,
    status: row.status,
    file_name: row.fileName,
    file_sha256: row.fileSha256,
    file_bytes: row.fileBytes,
    operator: { id: row.operatorId, email: row.operatorEmail },
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
    error: row.errorCode ? { code: row.errorCode, message: row.errorMessage ?? '' } : null,
    options: presentOptions(row),
    mapping: row.mapping ?? null,
    workflow_id: row.workflowId,
    created_at: row.createdAt.toISOString(),
    confirmed_at: row.confirmedAt?.toISOString() ?? null,
    finished_at: row.finishedAt?.toISOString() ?? null,
  };
}
export type ImportObject = ReturnType<typeof presentImport>;

/** A row of the preview; `raw` pairs the file's header (`columns`) with the row's cells as they were in the file. */
export function presentPreviewRow(row: PreviewRow, columns: readonly string[]) {
  const raw: Record<string, string> = {};
  columns.forEach((column, i) => {
    raw[column] = row.raw?.[i] ?? '';
  });
  return {
    row_number: row.rowNumber,
    vendor_data: row.vendorData,
    action: row.action,
    errors: row.errors ?? [],
    kept_fields: row.keptFields ?? [],
    normalized: row.normalized ?? [],
    changes: row.changes,
    raw,
  };
}
