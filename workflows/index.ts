// The worker bundles this file: every workflow the worker runs is exported here.
export { exportUsersWorkflow } from './export-users';
export { retentionWorkflow } from './retention';
export { reconcileWorkflow } from './reconcile';
export { importUsersWorkflow } from './import-users';
export { importChunksWorkflow } from './import-chunks';
export { undoImportWorkflow } from './undo-import';
export { webhookDeliveryWorkflow } from './webhook-delivery';
export { scheduledExportWorkflow } from './scheduled-export';
