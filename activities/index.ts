import type { ActivityDeps, ActivityHooks } from './deps';
import { createExportActivities } from './exports';
import { createImportActivities } from './imports';
import { createReconcileActivities } from './reconcile';
import { createRetentionActivities } from './retention';
import { createSystemActivities } from './system';

/** All activities of the worker, made from its dependencies. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createSystemActivities(deps),
    ...createImportActivities(deps),
    ...createExportActivities(deps),
    ...createRetentionActivities(deps),
    ...createReconcileActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type { ActivityDeps, ActivityHooks };
