import { createHash } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { WebhookEventType } from '../../drizzle/schema';
import type { Queryable } from '../db/client';
import { getExportById } from '../exports/queries';
import { presentExport } from '../exports/present';
import { getImport } from '../imports/queries';
import { presentImport } from '../imports/present';

/** The namespace of event ids (a random UUID fixed here: ids are UUID v5 of `<type>:<job id>:<ending key>`). */
const EVENT_NAMESPACE = 'f3b8a0c2-5d7e-4c1a-9b6f-2e4d8a1c7b90';

/** UUID v5 (RFC 9562: SHA-1 of the namespace's bytes and the name). */
export function uuidV5(name: string, namespace = EVENT_NAMESPACE): string {
  const hash = createHash('sha1').update(Buffer.from(namespace.replace(/-/g, ''), 'hex')).update(name, 'utf8').digest();
  const b = hash.subarray(0, 16);
  b[6] = (b[6] & 0x0f) | 0x50;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = b.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * The id of the event a job emits on reaching a state. `ending` tells apart the times a job reaches the same state
 * (an import completes again after a retry of its failed chunks: the workflow run's key); the job id alone for a
 * state reached once. Deterministic, so every retry of the emitting activity computes the same id.
 */
export function webhookEventId(type: WebhookEventType, jobId: string, ending = ''): string {
  return uuidV5(`${type}:${jobId}:${ending}`);
}

/**
 * Records the event in the caller's transaction, unless the application has no subscription to its type (then
 * nothing is stored) or it is already recorded (same id: a retry). The payload is what every delivery sends:
 * `{id, type, created_at, data}`. Returns the event id.
 */
export async function recordWebhookEvent(
  db: Queryable,
  params: { applicationId: string; type: WebhookEventType; jobId: string; ending?: string; data: unknown },
): Promise<string> {
  const id = webhookEventId(params.type, params.jobId, params.ending);
  const createdAt = new Date();
  const payload = { id, type: params.type, created_at: createdAt.toISOString(), data: params.data };
  await db.execute(sql`
    INSERT INTO webhook_events (id, application_id, type, job_id, payload, created_at)
    SELECT ${id}, ${params.applicationId}, ${params.type}, ${params.jobId}, ${JSON.stringify(payload)}::jsonb, ${createdAt}
    WHERE EXISTS (SELECT 1 FROM webhook_subscriptions s WHERE s.application_id = ${params.applicationId} AND ${params.type} = ANY (s.events))
    ON CONFLICT (id) DO NOTHING`);
  return id;
}

/** An import event, with the import object as the API presents it (read in the same transaction). */
export async function recordImportEvent(db: Queryable, params: { importId: string; type: WebhookEventType; ending?: string }): Promise<string> {
  const row = await getImport(db, { id: params.importId });
  return recordWebhookEvent(db, { applicationId: row.applicationId, type: params.type, jobId: row.id, ending: params.ending, data: presentImport(row) });
}

/** An export event, with the export object (no download_url: that is only for the operator who requested it). */
export async function recordExportEvent(db: Queryable, params: { exportId: string; type: WebhookEventType; ending?: string }): Promise<string> {
  const row = await getExportById(db, params.exportId);
  return recordWebhookEvent(db, { applicationId: row.applicationId, type: params.type, jobId: row.id, ending: params.ending, data: presentExport(row, null) });
}
