import { ActivityFailure, isCancellation, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { WebhookDeliveryInput, WebhookDeliveryResult } from './webhook-definitions';

/**
 * Delivers one event to one subscription (workflow id `webhook-<event id>-<subscription id>`): the POST activity is
 * retried with exponential backoff (WEBHOOK_RETRY_INITIAL_INTERVAL, coefficient 2, up to WEBHOOK_RETRY_MAX_INTERVAL)
 * until a 2xx, for WEBHOOK_DELIVERY_WINDOW (24 h), across restarts of any process. Every attempt sends the same
 * webhook-id (the event id). It ends early when the subscription is deleted (cancelled by the API, or its next attempt
 * finds it gone). No job workflow ever waits for it.
 */
export async function webhookDeliveryWorkflow(input: WebhookDeliveryInput): Promise<WebhookDeliveryResult> {
  const { deliverWebhook } = proxyActivities<Activities>({
    startToCloseTimeout: '1 minute',
    scheduleToCloseTimeout: input.deliveryWindowMs,
    retry: {
      initialInterval: input.retryInitialIntervalMs,
      backoffCoefficient: 2,
      maximumInterval: input.retryMaxIntervalMs,
    },
  });
  const { eventId, subscriptionId } = input;
  try {
    const result = await deliverWebhook({ eventId, subscriptionId });
    return { eventId, subscriptionId, outcome: result.outcome, attempt: result.attempt, statusCode: result.statusCode };
  } catch (err) {
    // Cancelled: the subscription was deleted (DELETE /console/webhooks/{id} cancels its pending deliveries).
    if (isCancellation(err)) return { eventId, subscriptionId, outcome: 'subscription_deleted' };
    // The window ended (or the event is gone) without a 2xx: the delivery log says what each attempt got.
    if (!(err instanceof ActivityFailure)) throw err;
    return { eventId, subscriptionId, outcome: 'gave_up', error: err.cause?.message ?? err.message };
  }
}
