import { Context } from '@temporalio/activity';
import { and, eq, inArray, isNotNull, isNull, lt, or, sql } from 'drizzle-orm';
import { exportsTable, imports, webhookEvents, type ImportStatus } from '../drizzle/schema';
import { exportKeys } from '../src/exports/queries';
import { createStorageSet } from '../src/storage';
import { deleteExpiredUndoImages } from '../src/imports/undo';
import type { ActivityDeps } from './deps';

const DAY_MS = 86_400_000;
const BATCH = 100;

/** The time `ageMs` before `now` (a test's, or the clock's): what is older is past its retention. */
function cutoffBefore(input: { now?: string }, ageMs: number): Date {
  return new Date((input.now ? Date.parse(input.now) : Date.now()) - ageMs);
}

/** Imports whose uploaded file nothing needs any more (retry re-runs chunks from staging, not from the file). */
const FINISHED_IMPORT_STATUSES: ImportStatus[] = ['COMPLETED', 'COMPLETED_WITH_ERRORS', 'REJECTED', 'FAILED', 'CANCELLED', 'EXPIRED'];

export function createRetentionActivities({ db, storage, config }: Omit<ActivityDeps, 'temporal'>) {
  const storages = createStorageSet(config, storage);
  // An export's files are deleted from the store they were written to; those of a store not configured now (S3
  // after S3_BUCKET was unset) wait until it is configured again.
  const reachable = or(isNull(exportsTable.storageKind), inArray(exportsTable.storageKind, storage.kind === 's3' ? ['s3', 'local'] : ['local']));
  return {
    /**
     * Deletes the files of exports that finished more than EXPORT_RETENTION_DAYS ago and marks completed ones
     * EXPIRED (link fields cleared). Each export's objects are deleted before its row is updated, so a retry
     * deletes again what a crash left (deleting a missing object is no error) and skips what is done.
     */
    async expireExports(input: { now?: string } = {}): Promise<{ expired: number }> {
      const cutoff = cutoffBefore(input, config.exports.retentionDays * DAY_MS);
      let expired = 0;
      for (;;) {
        const rows = await db
          .select({ id: exportsTable.id, applicationId: exportsTable.applicationId, status: exportsTable.status, storageKind: exportsTable.storageKind })
          .from(exportsTable)
          .where(
            and(
              lt(exportsTable.finishedAt, cutoff),
              reachable,
              // A FAILED export keeps its written ranges for a retry until then.
              or(eq(exportsTable.status, 'COMPLETED'), isNotNull(exportsTable.storageKey), and(eq(exportsTable.status, 'FAILED'), isNotNull(exportsTable.upload))),
            ),
          )
          .limit(BATCH);
        if (rows.length === 0) return { expired };
        for (const row of rows) {
          await (storages.of(row.storageKind) ?? storage).deletePrefix(exportKeys.prefix(row));
          await db
            .update(exportsTable)
            .set({
              status: sql`CASE WHEN ${exportsTable.status} = 'COMPLETED' THEN 'EXPIRED' ELSE ${exportsTable.status} END`,
              storageKey: null,
              upload: null,
              linkIssuedAt: null,
              linkExpiresAt: null,
            })
            .where(eq(exportsTable.id, row.id));
          if (row.status === 'COMPLETED') expired++;
          Context.current().heartbeat({ expired });
        }
      }
    },

    /**
     * Deletes the undo before-images (import_undo_chunks) of imports that finished, and whose undo if any finished,
     * more than IMPORT_UNDO_DAYS ago (by then an undo is refused anyway), in batches. A retry deletes the rest.
     */
    async deleteExpiredUndoImages(input: { now?: string } = {}): Promise<{ deleted: number }> {
      const cutoff = cutoffBefore(input, config.imports.undoDays * DAY_MS);
      const deleted = await deleteExpiredUndoImages(db, { cutoff, batch: 100, onBatch: (n) => Context.current().heartbeat({ deleted: n }) });
      return { deleted };
    },

    /**
     * Deletes the webhook events emitted more than WEBHOOK_RETENTION_DAYS ago, and with them (ON DELETE CASCADE) their
     * delivery log, in batches. Only events whose delivery workflows were started and whose delivery window is over:
     * a delivery still retrying keeps its event.
     */
    async deleteExpiredWebhookEvents(input: { now?: string } = {}): Promise<{ deleted: number }> {
      const cutoff = cutoffBefore(input, Math.max(config.webhooks.retentionDays * DAY_MS, config.webhooks.deliveryWindowMs));
      let deleted = 0;
      for (;;) {
        const batch = db
          .select({ id: webhookEvents.id })
          .from(webhookEvents)
          .where(and(lt(webhookEvents.createdAt, cutoff), isNotNull(webhookEvents.dispatchedAt)))
          .limit(1000);
        const rows = await db.delete(webhookEvents).where(inArray(webhookEvents.id, batch)).returning({ id: webhookEvents.id });
        deleted += rows.length;
        if (rows.length === 0) return { deleted };
        Context.current().heartbeat({ deleted });
      }
    },

    /**
     * Deletes uploaded import files older than IMPORT_FILE_RETENTION_DAYS (of finished imports) and sets their
     * storage_key to null. A retry finds the rows still holding a key and deletes again (a no-op if gone).
     */
    async deleteExpiredImportFiles(input: { now?: string } = {}): Promise<{ deleted: number }> {
      const cutoff = cutoffBefore(input, config.imports.fileRetentionDays * DAY_MS);
      let deleted = 0;
      for (;;) {
        const rows = await db
          .select({ id: imports.id, storageKey: imports.storageKey })
          .from(imports)
          .where(and(isNotNull(imports.storageKey), lt(imports.createdAt, cutoff), inArray(imports.status, FINISHED_IMPORT_STATUSES)))
          .limit(BATCH);
        if (rows.length === 0) return { deleted };
        for (const row of rows) {
          await storage.delete(row.storageKey!);
          await db
            .update(imports)
            .set({ storageKey: null })
            .where(and(eq(imports.id, row.id), eq(imports.storageKey, row.storageKey!)));
          deleted++;
          Context.current().heartbeat({ deleted });
        }
      }
    },
  };
}
