// The worker bundles this file: every workflow the worker runs is exported here.
export { systemCheckWorkflow } from './system-check';
