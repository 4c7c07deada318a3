import type { Storage } from '../storage';
import { exportFileName, type ExportRow, type ExportWithOperator } from './queries';

/** A link period: from now (whole seconds, as signatures count them) for `ttlSeconds`. */
export function linkPeriod(ttlSeconds: number, now = Date.now()): { issuedAt: Date; expiresAt: Date } {
  const issued = Math.floor(now / 1000) * 1000;
  return { issuedAt: new Date(issued), expiresAt: new Date(issued + ttlSeconds * 1000) };
}

/**
 * The signed download link of a completed export (the same URL for the same link period), else null; null too once
 * `link_expires_at` has passed (API.md): a link that no longer works is not handed out.
 */
export async function exportDownloadUrl(
  storage: Storage,
  row: Pick<ExportRow, 'id' | 'status' | 'storageKey' | 'linkIssuedAt' | 'linkExpiresAt'>,
  baseUrl: string,
  now = Date.now(),
): Promise<string | null> {
  if (row.status !== 'COMPLETED' || !row.storageKey || !row.linkIssuedAt || !row.linkExpiresAt) return null;
  if (row.linkExpiresAt.getTime() <= now) return null;
  return storage.signedUrl(row.storageKey, {
    issuedAt: row.linkIssuedAt,
    expiresAt: row.linkExpiresAt,
    fileName: exportFileName(row),
    baseUrl,
  });
}

/** The export object of API.md. `downloadUrl` is given only to the operator who requested the export. */
export function presentExport(row: ExportWithOperator, downloadUrl: string | null) {
  return {
    id: row.id,
    status: row.status,
    filters: row.filters,
    columns: row.columns,
    operator: { id: row.operatorId, email: row.operatorEmail },
    row_count: row.rowCount,
    progress: row.status === 'COMPLETED' || row.status === 'EXPIRED' ? 1 : Math.min(1, Math.max(0, row.progress)),
    file_bytes: row.fileBytes,
    file_sha256: row.fileSha256,
    download_url: downloadUrl,
    link_expires_at: row.linkExpiresAt?.toISOString() ?? null,
    email: row.emailTo ? { to: row.emailTo, status: row.emailStatus, sent_at: row.emailSentAt?.toISOString() ?? null } : null,
    error: row.errorCode ? { code: row.errorCode, message: row.errorMessage ?? '' } : null,
    workflow_id: row.workflowId,
    created_at: row.createdAt.toISOString(),
    finished_at: row.finishedAt?.toISOString() ?? null,
  };
}
export type ExportObject = ReturnType<typeof presentExport>;
