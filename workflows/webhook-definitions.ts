/** What the dispatcher, the delivery workflow and its activity share (the rest: definitions.ts). */

/** One delivery workflow per (event, subscription): a second start of the same pair is refused, never a second delivery. */
export const webhookDeliveryWorkflowId = (eventId: string, subscriptionId: string) => `webhook-${eventId}-${subscriptionId}`;

export interface WebhookDeliveryInput {
  eventId: string;
  subscriptionId: string;
  /** The retry policy, from the config when the delivery was started (WEBHOOK_RETRY_*, WEBHOOK_DELIVERY_WINDOW). */
  retryInitialIntervalMs: number;
  retryMaxIntervalMs: number;
  deliveryWindowMs: number;
}

export interface WebhookDeliveryResult {
  eventId: string;
  subscriptionId: string;
  /** delivered: a 2xx came back; subscription_deleted: the subscription went before a 2xx; gave_up: the window ended. */
  outcome: 'delivered' | 'subscription_deleted' | 'gave_up';
  /** The attempt that ended it (delivered, subscription_deleted). */
  attempt?: number;
  statusCode?: number;
  /** Why the last attempt failed (gave_up). */
  error?: string;
}

/** What one attempt returns when it need not be retried. */
export interface WebhookAttemptResult {
  outcome: 'delivered' | 'subscription_deleted';
  attempt: number;
  statusCode?: number;
}
