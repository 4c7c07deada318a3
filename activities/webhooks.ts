import { ApplicationFailure, Context } from '@temporalio/activity';
import { eq } from 'drizzle-orm';
import { webhookEvents, webhookSubscriptions } from '../drizzle/schema';
import { dispatchPendingWebhookEvents } from '../src/webhooks/dispatch';
import { recordDeliveryAttempt } from '../src/webhooks/queries';
import { sendWebhook, signedHeaders } from '../src/webhooks/send';
import type { WebhookAttemptResult } from '../workflows/webhook-definitions';
import type { ActivityDeps } from './deps';
import type { ReconcileInput } from '../workflows/definitions';

const BATCH = 200;

export const WEBHOOK_FAILURE_TYPES = {
  /** A non-2xx, a timeout, a refused connection or URL: retried with backoff. */
  deliveryFailed: 'webhook_delivery_failed',
  /** The event row is gone: nothing to send. */
  eventNotFound: 'webhook_event_not_found',
} as const;

export function createWebhookActivities(deps: ActivityDeps) {
  const { db, config } = deps;
  return {
    /**
     * One attempt to deliver an event to a subscription: POST of the event's payload with the Standard Webhooks
     * headers (the same webhook-id on every attempt), the URL rule checked again, WEBHOOK_REQUEST_TIMEOUT for the
     * whole exchange; the attempt is recorded (status code, error, duration). A non-2xx throws so that Temporal
     * retries it with backoff; a deleted subscription ends the delivery. A retry is a new attempt, sent again.
     */
    async deliverWebhook(input: { eventId: string; subscriptionId: string }): Promise<WebhookAttemptResult> {
      const attempt = Context.current().info.attempt;
      const [subscription] = await db
        .select({ url: webhookSubscriptions.url, secret: webhookSubscriptions.secret })
        .from(webhookSubscriptions)
        .where(eq(webhookSubscriptions.id, input.subscriptionId));
      if (!subscription) return { outcome: 'subscription_deleted', attempt };
      const [event] = await db.select({ payload: webhookEvents.payload }).from(webhookEvents).where(eq(webhookEvents.id, input.eventId));
      if (!event) throw ApplicationFailure.nonRetryable(`webhook event ${input.eventId} does not exist`, WEBHOOK_FAILURE_TYPES.eventNotFound);
      const body = JSON.stringify(event.payload);
      const outcome = await sendWebhook({
        url: subscription.url,
        body,
        headers: signedHeaders(subscription.secret, input.eventId, body),
        timeoutMs: config.webhooks.requestTimeoutMs,
        allowPrivate: config.webhooks.allowPrivate,
      });
      try {
        await recordDeliveryAttempt(db, { ...input, attempt, ...outcome });
      } catch (err) {
        // The subscription was deleted while the request was out (the attempt's row has nothing to belong to).
        const [still] = await db.select({ id: webhookSubscriptions.id }).from(webhookSubscriptions).where(eq(webhookSubscriptions.id, input.subscriptionId));
        if (!still) return { outcome: 'subscription_deleted', attempt };
        throw err;
      }
      if (outcome.error !== null || outcome.statusCode === null) {
        throw ApplicationFailure.retryable(outcome.error ?? 'no answer', WEBHOOK_FAILURE_TYPES.deliveryFailed, { statusCode: outcome.statusCode });
      }
      return { outcome: 'delivered', attempt, statusCode: outcome.statusCode };
    },

    /**
     * Webhook events recorded more than RECONCILE_AFTER ago whose delivery workflows were never started (the process
     * died between the commit and the start): started now. Re-running it is harmless (the workflow ids are per
     * event and subscription, and a used id is refused).
     */
    async dispatchPendingWebhookEvents(input: ReconcileInput = {}): Promise<{ dispatched: number; failed: { id: string; message: string }[] }> {
      const result = await dispatchPendingWebhookEvents(deps, {
        olderThan: new Date(Date.now() - config.reconcile.afterMs),
        limit: BATCH,
        applicationId: input.applicationId,
      });
      return { dispatched: result.dispatched.length, failed: result.failed };
    },
  };
}
