import type { Client } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy } from '@temporalio/common';
import { and, eq, inArray, isNull, lte, sql } from 'drizzle-orm';
import { webhookEvents, webhookSubscriptions } from '../../drizzle/schema';
import type { Config } from '../config';
import type { Db } from '../db/client';
import { ApplicationId, JobId, JobKind, WORKFLOW_TYPES, type JobKindValue } from '../../workflows/definitions';
import { webhookDeliveryWorkflowId, type WebhookDeliveryInput } from '../../workflows/webhook-definitions';
import type { webhookDeliveryWorkflow } from '../../workflows/webhook-delivery';

export interface DispatchDeps {
  db: Db;
  temporal: Client;
  config: Pick<Config, 'temporal' | 'webhooks'>;
}

/**
 * Starts the delivery workflow of each subscription of the event's application that asks for its type (and existed
 * when it happened), then marks the event dispatched. Safe to repeat: a workflow id that was used is refused by
 * Temporal (REJECT_DUPLICATE), so a second start delivers nothing twice. Returns how many workflows it started.
 */
export async function dispatchWebhookEvent(deps: DispatchDeps, eventId: string): Promise<number> {
  const [event] = await deps.db
    .select({ id: webhookEvents.id, applicationId: webhookEvents.applicationId, type: webhookEvents.type, jobId: webhookEvents.jobId, createdAt: webhookEvents.createdAt, dispatchedAt: webhookEvents.dispatchedAt })
    .from(webhookEvents)
    .where(eq(webhookEvents.id, eventId));
  if (!event || event.dispatchedAt) return 0;
  const subscriptions = await deps.db
    .select({ id: webhookSubscriptions.id })
    .from(webhookSubscriptions)
    .where(
      and(
        eq(webhookSubscriptions.applicationId, event.applicationId),
        sql`${event.type} = ANY (${webhookSubscriptions.events})`,
        lte(webhookSubscriptions.createdAt, event.createdAt),
      ),
    );
  let started = 0;
  for (const subscription of subscriptions) {
    const input: WebhookDeliveryInput = {
      eventId: event.id,
      subscriptionId: subscription.id,
      retryInitialIntervalMs: deps.config.webhooks.retryInitialIntervalMs,
      retryMaxIntervalMs: deps.config.webhooks.retryMaxIntervalMs,
      deliveryWindowMs: deps.config.webhooks.deliveryWindowMs,
    };
    try {
      await deps.temporal.workflow.start<typeof webhookDeliveryWorkflow>(WORKFLOW_TYPES.webhookDelivery, {
        taskQueue: deps.config.temporal.taskQueue,
        workflowId: webhookDeliveryWorkflowId(event.id, subscription.id),
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        args: [input],
        staticSummary: `webhook ${event.type} of ${event.jobId.slice(0, 8)} to subscription ${subscription.id.slice(0, 8)}`,
        typedSearchAttributes: [
          { key: ApplicationId, value: event.applicationId },
          { key: JobId, value: event.jobId },
          { key: JobKind, value: 'webhook' satisfies JobKindValue },
        ],
      });
      started++;
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  }
  await deps.db.update(webhookEvents).set({ dispatchedAt: sql`now()` }).where(eq(webhookEvents.id, event.id));
  return started;
}

/**
 * The events a process recorded but did not dispatch (it died between the commit and the start), older than
 * `olderThan`: dispatched now. Used by the reconciler.
 */
export async function dispatchPendingWebhookEvents(deps: DispatchDeps, params: { olderThan: Date; limit: number; applicationId?: string }): Promise<{ dispatched: string[]; failed: { id: string; message: string }[] }> {
  const pending = await deps.db
    .select({ id: webhookEvents.id })
    .from(webhookEvents)
    .where(
      and(
        isNull(webhookEvents.dispatchedAt),
        lte(webhookEvents.createdAt, params.olderThan),
        params.applicationId ? eq(webhookEvents.applicationId, params.applicationId) : undefined,
      ),
    )
    .orderBy(webhookEvents.createdAt)
    .limit(params.limit);
  const result = { dispatched: [] as string[], failed: [] as { id: string; message: string }[] };
  for (const { id } of pending) {
    try {
      await dispatchWebhookEvent(deps, id);
      result.dispatched.push(id);
    } catch (err) {
      result.failed.push({ id, message: err instanceof Error ? err.message : String(err) });
    }
  }
  return result;
}

/**
 * Dispatches the given events (ids computed by webhookEventId) once their transaction committed; those not recorded
 * (no subscription) or already dispatched are skipped. Never throws: an event it could not dispatch (Temporal
 * unreachable) is left to the reconciler, which starts undispatched events older than RECONCILE_AFTER.
 */
export async function dispatchAfterCommit(deps: Partial<DispatchDeps> & Pick<DispatchDeps, 'db'>, eventIds: string[]): Promise<void> {
  const { temporal, config } = deps;
  if (eventIds.length === 0 || !temporal || !config) return;
  try {
    const pending = await deps.db
      .select({ id: webhookEvents.id })
      .from(webhookEvents)
      .where(and(inArray(webhookEvents.id, eventIds), isNull(webhookEvents.dispatchedAt)));
    for (const { id } of pending) await dispatchWebhookEvent({ db: deps.db, temporal, config }, id).catch(() => undefined);
  } catch {
    // Left to the reconciler.
  }
}
