// The test workers' workflow bundle (test/setup/global-setup.ts bundles this file): every workflow production ships
// (workflows/index.ts), plus the system check, which only tests run.
export * from '../../workflows';
export { systemCheckWorkflow } from './system-check';
