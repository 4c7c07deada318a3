import { patched, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ReconcileExportsResult, ReconcileImportsResult } from '../activities/reconcile';
import type { ReconcileInput } from './definitions';

const { reconcileImports, reconcileExports, removeAbandonedUploads, dispatchPendingWebhookEvents } = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5 },
});

/**
 * The reconciler, run by a Temporal Schedule every RECONCILE_INTERVAL: imports and exports whose workflow is gone get
 * it back (or, when it was terminated from outside, end FAILED with an audit entry), a lost confirm is sent again,
 * what interrupted uploads left in storage is removed, and webhook events whose deliveries were never started get
 * them. Re-running it is harmless.
 */
export async function reconcileWorkflow(input: ReconcileInput = {}): Promise<ReconcileResult> {
  const imports = await reconcileImports(input);
  const exports = await reconcileExports(input);
  const { removed } = await removeAbandonedUploads();
  if (patched('reconcile-webhook-events')) {
    const webhooks = await dispatchPendingWebhookEvents(input);
    return { ...imports, exports, uploadsRemoved: removed, webhooks };
  }
  return { ...imports, exports, uploadsRemoved: removed };
}

export type ReconcileResult = ReconcileImportsResult & {
  exports: ReconcileExportsResult;
  uploadsRemoved: number;
  /** Webhook events dispatched late (absent in the histories of before it). */
  webhooks?: { dispatched: number; failed: { id: string; message: string }[] };
};
