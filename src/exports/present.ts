import { z } from 'zod';
import { EMAIL_STATUSES, EXPORT_FORMATS, EXPORT_STATUSES, USER_STATUSES } from '../../drizzle/schema';
import { countSchema, idSchema, jobErrorSchema, operatorRefSchema, timeSchema } from '../response-schemas';
import type { Storage } from '../storage';
import { EXPORT_COLUMNS } from './columns';
import { exportLinkUrl } from './links';
import type { ExportFilters } from './filters';
import { rateFieldsSchema, writeRate, type Rate } from '../rate';
import { exportContentType, exportFileName, type ExportRow, type ExportWithOperator } from './queries';

/** The filters as stored (exportFiltersSchema's output): normalised, empty ones left out. */
const exportFiltersObjectSchema = z
  .object({
    status: z.array(z.enum(USER_STATUSES)),
    country: z.array(z.string()),
    tags: z.array(z.string()),
    created_from: timeSchema.meta({ description: 'inclusive' }),
    created_to: timeSchema.meta({ description: 'exclusive' }),
    search: z.string(),
  })
  .partial() satisfies z.ZodType<ExportFilters>;

/** The export object of API.md. */
export const exportObjectSchema = z.object({
  id: idSchema,
  status: z.enum(EXPORT_STATUSES),
  filters: exportFiltersObjectSchema,
  columns: z.array(z.enum(EXPORT_COLUMNS)),
  format: z.enum(EXPORT_FORMATS),
  gzip: z.boolean(),
  excel_bom: z.boolean(),
  operator: operatorRefSchema,
  row_count: countSchema.nullable(),
  progress: z.number().min(0).max(1),
  ...rateFieldsSchema,
  file_bytes: countSchema.nullable(),
  file_sha256: z.string().nullable(),
  download_url: z.string().nullable().meta({
    description:
      'Only for the operator who requested the export, only when COMPLETED, until link_expires_at: <base>/downloads/<token>, works without a token until then or until its links are revoked.',
  }),
  link_expires_at: timeSchema.nullable(),
  email: z.object({ to: z.string(), status: z.enum(EMAIL_STATUSES).nullable(), sent_at: timeSchema.nullable() }).nullable(),
  error: jobErrorSchema,
  workflow_id: z.string().nullable(),
  schedule_id: idSchema.nullable().meta({ description: 'the export schedule this export is a run of; null when an operator requested it' }),
  incremental: z.boolean(),
  changed_after: timeSchema.nullable().meta({ description: 'incremental: the users changed after this time (null: from the start) ...' }),
  snapshot_at: timeSchema.nullable().meta({ description: '... and at or before this one' }),
  created_at: timeSchema,
  finished_at: timeSchema.nullable(),
});
export type ExportObject = z.infer<typeof exportObjectSchema>;

/** A link period: from now (whole seconds, as signatures count them) for `ttlSeconds`. */
export function linkPeriod(ttlSeconds: number, now = Date.now()): { issuedAt: Date; expiresAt: Date } {
  const issued = Math.floor(now / 1000) * 1000;
  return { issuedAt: new Date(issued), expiresAt: new Date(issued + ttlSeconds * 1000) };
}

/**
 * The download link of a completed export, served by the API (`/downloads/<token>`, see links.ts; the same URL for the
 * same link period and generation), else null; null too once `link_expires_at` has passed (API.md): a link that no
 * longer works is not handed out.
 */
export function exportDownloadUrl(
  secret: string,
  row: Pick<ExportRow, 'id' | 'status' | 'storageKey' | 'linkIssuedAt' | 'linkExpiresAt' | 'linkGeneration'>,
  baseUrl: string,
  now = Date.now(),
): string | null {
  if (row.status !== 'COMPLETED' || !row.storageKey || !row.linkIssuedAt || !row.linkExpiresAt) return null;
  if (row.linkExpiresAt.getTime() <= now) return null;
  return exportLinkUrl(baseUrl, secret, { exportId: row.id, generation: row.linkGeneration, expiresAt: row.linkExpiresAt });
}

/**
 * A presigned URL of the stored file itself (S3), living at least `ttlSeconds` from now: where a download is
 * redirected. A signature's date is whole seconds, so a URL signed at 12:00:00.9 for 1 s would live 0.1 s; the part
 * of a second already gone is added back.
 */
export async function exportFileUrl(
  storage: Storage,
  row: Pick<ExportRow, 'id' | 'storageKey' | 'format' | 'gzip'>,
  ttlSeconds: number,
  baseUrl: string,
  now = Date.now(),
): Promise<string> {
  const { issuedAt, expiresAt } = linkPeriod(now % 1000 === 0 ? ttlSeconds : ttlSeconds + 1, now);
  return storage.signedUrl(row.storageKey!, {
    issuedAt,
    expiresAt,
    fileName: exportFileName(row),
    contentType: exportContentType(exportFileName(row)),
    baseUrl,
  });
}

/**
 * rows_per_second / eta_seconds of a RUNNING export: the rows its parts hold at their last checkpoints since it
 * started (or was retried: rate_since, rate_base_rows), over the time since; the ETA against the planner's estimate.
 */
export function exportRate(row: ExportWithOperator): Rate {
  const rows = row.rowsWritten ?? 0;
  return writeRate({
    running: row.status === 'RUNNING',
    since: row.rateSince ?? row.startedAt,
    now: row.readAt ?? new Date(),
    baseRows: row.rateBaseRows,
    rows,
    remainingRows: row.estimatedRows === null ? null : Math.max(0, row.estimatedRows - rows),
  });
}

/** The export object of API.md. `downloadUrl` is given only to the operator who requested the export. */
export function presentExport(row: ExportWithOperator, downloadUrl: string | null): ExportObject {
  return {
    id: row.id,
    status: row.status,
    // Written from exportRequestSchema's output (service.ts), which checked both.
    filters: row.filters as ExportFilters,
    columns: row.columns as ExportObject['columns'],
    format: row.format,
    gzip: row.gzip,
    excel_bom: row.excelBom,
    operator: { id: row.operatorId, email: row.operatorEmail },
    row_count: row.rowCount,
    progress: row.status === 'COMPLETED' || row.status === 'EXPIRED' ? 1 : Math.min(1, Math.max(0, row.progress)),
    ...exportRate(row),
    file_bytes: row.fileBytes,
    file_sha256: row.fileSha256,
    download_url: downloadUrl,
    link_expires_at: row.linkExpiresAt?.toISOString() ?? null,
    email: row.emailTo ? { to: row.emailTo, status: row.emailStatus, sent_at: row.emailSentAt?.toISOString() ?? null } : null,
    error: row.errorCode ? { code: row.errorCode, message: row.errorMessage ?? '' } : null,
    workflow_id: row.workflowId,
    schedule_id: row.scheduleId,
    incremental: row.incremental,
    changed_after: row.changedAfter?.toISOString() ?? null,
    snapshot_at: row.snapshotAt?.toISOString() ?? null,
    created_at: row.createdAt.toISOString(),
    finished_at: row.finishedAt?.toISOString() ?? null,
  };
}
