import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';

const { checkDatabase } = proxyActivities<Activities>({
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

/** Proves the wiring end to end: the worker runs a workflow whose activity reads Postgres. */
export async function systemCheckWorkflow(input: SystemCheckInput): Promise<SystemCheckResult> {
  const database = await checkDatabase();
  return { requestedBy: input.requestedBy, ...database };
}
