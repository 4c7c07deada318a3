import { patched, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { RetentionInput, RetentionResult } from './definitions';

const { expireExports, deleteExpiredImportFiles, deleteExpiredUndoImages, deleteExpiredWebhookEvents } = proxyActivities<Activities>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 10 },
});

/**
 * Retention, run by a Temporal Schedule: deletes export files after EXPORT_RETENTION_DAYS (the exports become
 * EXPIRED), uploaded import files after IMPORT_FILE_RETENTION_DAYS and imports' undo before-images after
 * IMPORT_UNDO_DAYS, and webhook events with their delivery log after WEBHOOK_RETENTION_DAYS. Re-running it is harmless.
 */
export async function retentionWorkflow(input: RetentionInput = {}): Promise<RetentionResult> {
  const { expired } = await expireExports({ now: input.now });
  const { deleted } = await deleteExpiredImportFiles({ now: input.now });
  if (patched('retention-undo-images')) {
    const undo = await deleteExpiredUndoImages({ now: input.now });
    if (patched('retention-webhook-events')) {
      const webhooks = await deleteExpiredWebhookEvents({ now: input.now });
      return { exportsExpired: expired, importFilesDeleted: deleted, undoImagesDeleted: undo.deleted, webhookEventsDeleted: webhooks.deleted };
    }
    return { exportsExpired: expired, importFilesDeleted: deleted, undoImagesDeleted: undo.deleted };
  }
  return { exportsExpired: expired, importFilesDeleted: deleted };
}
