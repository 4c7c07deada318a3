import type { ActivityDeps, ActivityHooks } from './deps';
import { createExportScheduleActivities } from './export-schedules';
import { createExportActivities } from './exports';
import { createImportActivities } from './imports';
import { createReconcileActivities } from './reconcile';
import { createRetentionActivities } from './retention';
import { createWebhookActivities } from './webhooks';

/** All activities of the worker, made from its dependencies. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createImportActivities(deps),
    ...createExportActivities(deps),
    ...createExportScheduleActivities(deps),
    ...createRetentionActivities(deps),
    ...createReconcileActivities(deps),
    ...createWebhookActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type { ActivityDeps, ActivityHooks };
