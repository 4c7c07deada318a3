import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { webhookEventId } from '../src/webhooks/events';
import { webhookDeliveryWorkflowId } from '../workflows/webhook-definitions';
import { csvOf, uploadAndValidate } from './fixtures/imports/support';
import { api, createTenant, startTestStack, testEnv, waitFor, type TestStack } from './helpers/stack';
import { startReceiver, type Receiver } from './helpers/webhook-receiver';

/**
 * Delivery survives the worker: the worker process is SIGKILLed between two attempts of a delivery (the receiver
 * answered the first with 500) and another one is started; the event is delivered on the next attempt, with the same
 * webhook-id, and the delivery log has both attempts.
 */

const ROOT = path.resolve(__dirname, '..');
let stack: TestStack;
let receiver: Receiver;
const workers: ChildProcess[] = [];

function startWorkerProcess(): ChildProcess {
  const env = testEnv();
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', 'test/helpers/worker-child.ts'], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      ...process.env,
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      DATABASE_URL: env.databaseUrl,
      TEMPORAL_ADDRESS: env.temporalAddress,
      TEMPORAL_TASK_QUEUE: stack.config.temporal.taskQueue,
      WORKFLOW_BUNDLE_PATH: env.workflowBundlePath,
      DATA_DIR: stack.config.dataDir,
      LINK_SIGNING_SECRET: 'test-signing-secret',
      WEBHOOK_ALLOW_PRIVATE: 'true',
      // Long enough that the kill below falls between the first attempt and the second.
      WEBHOOK_RETRY_INITIAL_INTERVAL: '4s',
    },
  });
  child.stderr?.on('data', () => undefined);
  workers.push(child);
  return child;
}

function kill(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve();
      return;
    }
    child.once('exit', () => resolve());
    try {
      process.kill(-child.pid!, signal);
    } catch {
      resolve();
    }
  });
}

beforeAll(async () => {
  stack = await startTestStack({ worker: false, env: { WEBHOOK_ALLOW_PRIVATE: 'true' } });
  receiver = await startReceiver((n) => (n === 1 ? 500 : 200));
});

afterAll(async () => {
  for (const child of workers) await kill(child, 'SIGKILL');
  await receiver?.close();
  await stack?.stop();
});

it('a delivery goes on after the worker is SIGKILLed between attempts and another one starts', async () => {
  const tenant = await createTenant(stack.database.db);
  const token = tenant.operators.ADMIN.token;
  const created = await api(stack, 'POST', '/console/webhooks', { token, body: { url: receiver.url, events: ['import.awaiting_confirmation'] } });
  expect(created.status).toBe(201);
  receiver.setSecret(created.body.secret);

  let worker = startWorkerProcess();
  const preview = await uploadAndValidate(stack, token, csvOf(['vendor_data'], [['crash-1'], ['crash-2']]));
  expect(preview.status).toBe('AWAITING_CONFIRMATION');
  const eventId = webhookEventId('import.awaiting_confirmation', preview.id);
  const deliveries = async () =>
    (await api(stack, 'GET', `/console/webhooks/${created.body.id}/deliveries`, { token })).body.results as { attempt: number; status_code: number | null }[];

  await waitFor(async () => ((await deliveries()).length >= 1 ? true : undefined), 60_000, 50);
  await kill(worker, 'SIGKILL');
  expect(receiver.received).toHaveLength(1);
  const handle = stack.client.workflow.getHandle(webhookDeliveryWorkflowId(eventId, created.body.id));
  expect((await handle.describe()).status.name).toBe('RUNNING');

  worker = startWorkerProcess();
  const result = await handle.result();
  expect(result).toMatchObject({ outcome: 'delivered', attempt: 2, statusCode: 200 });
  expect(receiver.received.map((w) => [w.headers['webhook-id'], w.answered, w.verified])).toEqual([
    [eventId, 500, true],
    [eventId, 200, true],
  ]);
  expect((await deliveries()).map((a) => [a.attempt, a.status_code])).toEqual([
    [2, 200],
    [1, 500],
  ]);
  // Two worker processes start (tsx compiles the sources in each): more than the default 60 s on a loaded machine.
}, 180_000);
