import { randomBytes } from 'node:crypto';
import { and, desc, eq, sql } from 'drizzle-orm';
import { z } from 'zod';
import { WEBHOOK_EVENT_TYPES, webhookDeliveries, webhookEvents, webhookSubscriptions, type WebhookEventType } from '../../drizzle/schema';
import type { Cursor } from '../db/cursor';
import type { Queryable } from '../db/client';
import { isUuid } from '../db/ids';
import { notFound } from '../errors';
import { idSchema, timeSchema } from '../response-schemas';

/** `POST /console/webhooks`'s body. */
export const webhookRequestSchema = z.strictObject({
  // Trimmed first, as stored; the route answers a url this refuses with invalid_url (webhooks-routes.ts).
  url: z.string().trim().min(1).max(2000),
  events: z.array(z.enum(WEBHOOK_EVENT_TYPES)).min(1),
});

/** A subscription as `GET /console/webhooks` lists it (never its secret). */
export const webhookObjectSchema = z.object({
  id: idSchema,
  url: z.string(),
  events: z.array(z.enum(WEBHOOK_EVENT_TYPES)),
  created_at: timeSchema,
});
export type WebhookObject = z.infer<typeof webhookObjectSchema>;

/** The answer to `POST /console/webhooks`: the subscription with its signing secret, shown this once. */
export const createdWebhookSchema = webhookObjectSchema.extend({
  secret: z.string().meta({ description: 'whsec_ + base64 of 32 random bytes (Standard Webhooks); shown only here' }),
});

/** One delivery attempt, as `GET /console/webhooks/{id}/deliveries` lists it. */
export const webhookDeliverySchema = z.object({
  id: idSchema,
  event_id: idSchema,
  event_type: z.enum(WEBHOOK_EVENT_TYPES),
  attempt: z.int().min(1),
  status_code: z.int().nullable().meta({ description: "the receiver's HTTP status, null when none came (timeout, refused)" }),
  error: z.string().nullable(),
  duration_ms: z.int().min(0),
  created_at: timeSchema,
});
export type WebhookDeliveryObject = z.infer<typeof webhookDeliverySchema>;

type SubscriptionRow = typeof webhookSubscriptions.$inferSelect;

export function presentWebhook(row: Pick<SubscriptionRow, 'id' | 'url' | 'events' | 'createdAt'>): WebhookObject {
  return { id: row.id, url: row.url, events: row.events as WebhookEventType[], created_at: row.createdAt.toISOString() };
}

/** A new signing secret in the Standard Webhooks format. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

export async function insertSubscription(
  db: Queryable,
  params: { applicationId: string; operatorId: string; url: string; events: WebhookEventType[] },
): Promise<SubscriptionRow> {
  const [row] = await db
    .insert(webhookSubscriptions)
    .values({ ...params, events: [...new Set(params.events)], secret: newWebhookSecret() })
    .returning();
  return row;
}

/** A page of the application's subscriptions, newest first (limit+1 rows, see toPage). */
export async function listSubscriptions(db: Queryable, params: { applicationId: string; limit: number; cursor?: Cursor }) {
  return db
    .select({ id: webhookSubscriptions.id, url: webhookSubscriptions.url, events: webhookSubscriptions.events, createdAt: webhookSubscriptions.createdAt })
    .from(webhookSubscriptions)
    .where(
      and(
        eq(webhookSubscriptions.applicationId, params.applicationId),
        params.cursor ? sql`(${webhookSubscriptions.createdAt}, ${webhookSubscriptions.id}) < (${params.cursor.createdAt}, ${params.cursor.id})` : undefined,
      ),
    )
    .orderBy(desc(webhookSubscriptions.createdAt), desc(webhookSubscriptions.id))
    .limit(params.limit + 1);
}

/** The subscription of this application; 404 for another application's (API.md: never reveal that it exists). */
export async function getSubscription(db: Queryable, params: { id: string; applicationId?: string }): Promise<SubscriptionRow> {
  if (!isUuid(params.id)) throw notFound('webhook');
  const [row] = await db
    .select()
    .from(webhookSubscriptions)
    .where(and(eq(webhookSubscriptions.id, params.id), params.applicationId ? eq(webhookSubscriptions.applicationId, params.applicationId) : undefined));
  if (!row) throw notFound('webhook');
  return row;
}

/**
 * Deletes the subscription (and its delivery log). Returns the events whose delivery to it may still be pending
 * (dispatched within `windowMs`, no 2xx logged), so that the caller can stop their workflows; any it misses stops
 * at its next attempt, which finds the subscription gone.
 */
export async function deleteSubscription(db: Queryable, params: { id: string; applicationId: string; windowMs: number }): Promise<string[]> {
  if (!isUuid(params.id)) throw notFound('webhook');
  const pending = await db.execute<{ id: string }>(sql`
    SELECT e.id FROM webhook_events e JOIN webhook_subscriptions s ON s.id = ${params.id} AND s.application_id = ${params.applicationId}
    WHERE e.application_id = s.application_id AND e.type = ANY (s.events) AND e.created_at >= s.created_at
      AND e.created_at > now() - make_interval(secs => ${params.windowMs / 1000})
      AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.subscription_id = s.id AND d.status_code BETWEEN 200 AND 299)
    LIMIT 1000`);
  const deleted = await db
    .delete(webhookSubscriptions)
    .where(and(eq(webhookSubscriptions.id, params.id), eq(webhookSubscriptions.applicationId, params.applicationId)))
    .returning({ id: webhookSubscriptions.id });
  if (deleted.length === 0) throw notFound('webhook');
  return pending.rows.map((r) => r.id);
}

/** A page of a subscription's delivery attempts, newest first (limit+1 rows). */
export async function listDeliveries(db: Queryable, params: { subscriptionId: string; limit: number; cursor?: Cursor }) {
  return db
    .select({
      id: webhookDeliveries.id,
      eventId: webhookDeliveries.eventId,
      eventType: webhookEvents.type,
      attempt: webhookDeliveries.attempt,
      statusCode: webhookDeliveries.statusCode,
      error: webhookDeliveries.error,
      durationMs: webhookDeliveries.durationMs,
      createdAt: webhookDeliveries.createdAt,
    })
    .from(webhookDeliveries)
    .innerJoin(webhookEvents, eq(webhookEvents.id, webhookDeliveries.eventId))
    .where(
      and(
        eq(webhookDeliveries.subscriptionId, params.subscriptionId),
        params.cursor ? sql`(${webhookDeliveries.createdAt}, ${webhookDeliveries.id}) < (${params.cursor.createdAt}, ${params.cursor.id})` : undefined,
      ),
    )
    .orderBy(desc(webhookDeliveries.createdAt), desc(webhookDeliveries.id))
    .limit(params.limit + 1);
}

export function presentDelivery(row: Awaited<ReturnType<typeof listDeliveries>>[number]): WebhookDeliveryObject {
  return {
    id: row.id,
    event_id: row.eventId,
    event_type: row.eventType,
    attempt: row.attempt,
    status_code: row.statusCode,
    error: row.error,
    duration_ms: row.durationMs,
    created_at: row.createdAt.toISOString(),
  };
}

/** Records one attempt (a retry of the same activity attempt overwrites its row). */
export async function recordDeliveryAttempt(
  db: Queryable,
  params: { subscriptionId: string; eventId: string; attempt: number; statusCode: number | null; error: string | null; durationMs: number },
): Promise<void> {
  await db
    .insert(webhookDeliveries)
    .values(params)
    .onConflictDoUpdate({
      target: [webhookDeliveries.eventId, webhookDeliveries.subscriptionId, webhookDeliveries.attempt],
      set: { statusCode: params.statusCode, error: params.error, durationMs: params.durationMs },
    });
}
