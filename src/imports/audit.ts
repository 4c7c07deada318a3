import { recordAuditEntry } from '../audit/queries';
import type { Queryable } from '../db/client';
import { getImport } from './queries';

/**
 * The audit entry of an import's ending. Written in the transaction that ends the import, so whoever sees the final
 * status also finds the entry; keyed by `idempotencyKey` (one per ending: a workflow run, or the reconciler's).
 */
export async function recordImportAudit(q: Queryable, importId: string, idempotencyKey: string): Promise<boolean> {
  const row = await getImport(q, { id: importId });
  return recordAuditEntry(q, {
    applicationId: row.applicationId,
    action: 'users.import',
    operatorId: row.operatorId,
    apiKeyPrefix: row.apiKeyPrefix,
    targetId: row.id,
    status: row.status === 'COMPLETED' ? 'SUCCESS' : 'FAILURE',
    details: {
      import_status: row.status,
      // Who started it: an operator (the entry's operator) or, through the public API, an API key.
      actor: row.apiKeyPrefix ? 'api_key' : 'operator',
      api_key: row.apiKeyPrefix ? { prefix: row.apiKeyPrefix } : null,
      auto_confirm: row.autoConfirm,
      file_name: row.fileName,
      file_sha256: row.fileSha256,
      file_bytes: row.fileBytes,
      total_rows: row.totalRows,
      valid_rows: row.validRows,
      invalid_rows: row.invalidRows,
      processed_rows: row.processedRows,
      created_count: row.createdCount,
      updated_count: row.updatedCount,
      unchanged_count: row.unchangedCount,
      skipped_count: row.skippedCount,
      failed_rows: row.failedRows,
      chunks: { total: row.chunksTotal, completed: row.chunksCompleted, failed: row.chunksFailed },
      error: row.errorCode ? { code: row.errorCode, message: row.errorMessage } : null,
      ...(row.approvalRequired
        ? {
            approval: {
              reasons: row.approvalReasons ?? [],
              decision: row.approvalDecision,
              requested_by: row.operatorId ? { id: row.operatorId, email: row.operatorEmail } : null,
              requested_by_api_key: row.apiKeyPrefix ? { prefix: row.apiKeyPrefix } : null,
              decided_by: row.approvalDecidedBy ? { id: row.approvalDecidedBy, email: row.approvalDecidedByEmail } : null,
              decided_at: row.approvalDecidedAt?.toISOString() ?? null,
            },
          }
        : {}),
    },
    startedAt: row.createdAt,
    finishedAt: row.finishedAt,
    idempotencyKey,
  });
}
