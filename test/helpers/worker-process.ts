import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { OutputTail } from '../../dev/process-control';
import { testEnv } from './stack';

const ROOT = path.resolve(__dirname, '../..');

/**
 * A worker in its own process, in its own process group (so that `stopChild(child, { group: true })` or a SIGKILL of
 * `-pid` reaches it and whatever it started), on the run's Postgres and Temporal.
 *
 * `entry`: `faults` is test/helpers/worker-child.ts, the factory production uses with the test faults (the marker
 * rows, TEST_EXPORT_CHUNK_DELAY_MS, attempts counted in import_chunks); `production` is src/worker.ts itself.
 * `env` is added to the worker's environment: at least the stack's TEMPORAL_TASK_QUEUE and DATA_DIR.
 */
export function startWorkerProcess(options: {
  entry: 'faults' | 'production';
  env: Record<string, string>;
}): { child: ChildProcess; output: OutputTail } {
  const run = testEnv();
  const entry = options.entry === 'faults' ? 'test/helpers/worker-child.ts' : 'src/worker.ts';
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', entry], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      DATABASE_URL: run.databaseUrl,
      TEMPORAL_ADDRESS: run.temporalAddress,
      WORKFLOW_BUNDLE_PATH: run.workflowBundlePath,
      ...options.env,
    },
  });
  const output = new OutputTail();
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk));
  child.on('error', () => undefined);
  return { child, output };
}
