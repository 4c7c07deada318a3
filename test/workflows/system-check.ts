import { proxyActivities } from '@temporalio/workflow';
import type { SystemActivities } from './system-activities';

const { checkDatabase } = proxyActivities<SystemActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 3 },
});

export interface SystemCheckInput {
  requestedBy: string;
}
export interface SystemCheckResult {
  requestedBy: string;
  serverVersion: string;
  applications: number;
}

/**
 * Test-only: proves the wiring end to end (test/service.test.ts): the worker runs a bundled workflow whose activity
 * reads Postgres. Not in the production bundle; the test workers bundle it through test/workflows/index.ts.
 */
export async function systemCheckWorkflow(input: SystemCheckInput): Promise<SystemCheckResult> {
  const database = await checkDatabase();
  return { requestedBy: input.requestedBy, ...database };
}
