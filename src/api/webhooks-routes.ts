import { Router } from 'express';
import {
  deleteSubscription,
  getSubscription,
  insertSubscription,
  listDeliveries,
  listSubscriptions,
  presentDelivery,
  presentWebhook,
  webhookRequestSchema,
} from '../webhooks/queries';
import { requireWebhookUrl } from '../webhooks/url';
import { webhookDeliveryWorkflowId } from '../../workflows/webhook-definitions';
import type { AppDeps } from './deps';
import { operatorOf, requireOperator } from './auth';
import { requireJsonBody } from './http-errors';
import { parseListParams, toPage } from './pagination';
import { parseBody } from './request-body';
import { DomainError } from '../errors';

/**
 * `/console/webhooks` (API.md "Webhooks"): create (the secret shown once), list, delete, and a subscription's delivery
 * attempts. Roles with `webhooks.manage`; another application's subscription is 404.
 */
export function webhooksRouter(deps: AppDeps): Router {
  const { db, config } = deps;
  const router = Router();
  const manage = requireOperator(db, 'webhooks.manage');

  router.post('/', manage, requireJsonBody, async (req, res) => {
    const operator = operatorOf(req);
    // API.md: a bad url is 400 invalid_url, whatever is wrong with it (not text, empty, too long: the schema's url rule;
    // not https: requireWebhookUrl); one left out is a missing field (invalid_field, below).
    const isObject = typeof req.body === 'object' && req.body !== null && !Array.isArray(req.body);
    const given: unknown = isObject ? (req.body as Record<string, unknown>).url : undefined;
    if (given !== undefined && !webhookRequestSchema.shape.url.safeParse(given).success) {
      throw new DomainError('invalid', 'invalid_url', 'url must be an https URL of at most 2000 characters');
    }
    const body = parseBody(webhookRequestSchema, req);
    // Stored as given (trimmed): the answer names the URL the caller sent.
    const url = body.url.trim();
    await requireWebhookUrl(url, config.webhooks.allowPrivate);
    const row = await insertSubscription(db, { applicationId: operator.applicationId, operatorId: operator.id, url, events: body.events });
    res.status(201).json({ ...presentWebhook(row), secret: row.secret });
  });

  router.get('/', manage, async (req, res) => {
    const { limit, cursor } = parseListParams(req.query);
    const rows = await listSubscriptions(db, { applicationId: operatorOf(req).applicationId, limit, cursor });
    res.json(toPage(rows, limit, presentWebhook));
  });

  router.delete('/:id', manage, async (req, res) => {
    const id = String(req.params.id);
    const pending = await deleteSubscription(db, { id, applicationId: operatorOf(req).applicationId, windowMs: config.webhooks.deliveryWindowMs });
    // Pending deliveries stop now (a workflow already closed, or never started, is no error).
    await Promise.all(pending.map((eventId) => deps.temporal.workflow.getHandle(webhookDeliveryWorkflowId(eventId, id)).cancel().catch(() => undefined)));
    res.status(204).end();
  });

  router.get('/:id/deliveries', manage, async (req, res) => {
    const subscription = await getSubscription(db, { id: String(req.params.id), applicationId: operatorOf(req).applicationId });
    const { limit, cursor } = parseListParams(req.query);
    const rows = await listDeliveries(db, { subscriptionId: subscription.id, limit, cursor });
    res.json(toPage(rows, limit, presentDelivery));
  });
  return router;
}
