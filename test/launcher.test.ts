import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { retentionScheduleId } from '../workflows/definitions';
import { Backoff, exitOf, getFreePort, isAlive, sleep, stopChild } from '../dev/process-control';

/**
 * `npm start` supervises its parts: the launcher runs as a real child process (against the run's database and
 * Temporal dev server, so only the worker and the API are its own), its API and worker are killed with
 * SIGKILL, and each must come back with a new pid in launcher.json while the launcher stays up; SIGTERM then
 * stops everything.
 */

const ROOT = path.resolve(__dirname, '..');

interface PartRecord {
  name: string;
  pid: number;
}

/** Polls `check` until it returns something truthy; throws with `what` (and the launcher's output) on timeout. */
async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 60_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; launcher output:\n${output.slice(-4000)}`);
    await sleep(200);
  }
}

let dataDir: string;
let port: number;
let taskQueue: string;
let launcher: ChildProcess;
let output = '';

function parts(): PartRecord[] {
  try {
    return (JSON.parse(fs.readFileSync(path.join(dataDir, 'launcher.json'), 'utf8')) as { parts: PartRecord[] }).parts;
  } catch {
    return []; // not written yet, or being rewritten
  }
}

function pidOf(name: string): number | undefined {
  return parts().find((part) => part.name === name)?.pid;
}

async function readyz(): Promise<number> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(3000) });
    return response.status;
  } catch {
    return 0;
  }
}

/** Whether a worker with this pid polls the launcher's task queue (the SDK's identity is `<pid>@<host>`). */
async function polls(pid: number): Promise<boolean> {
  const connection = await Connection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
  try {
    const response = await connection.workflowService.describeTaskQueue({
      namespace: process.env.TEST_TEMPORAL_NAMESPACE ?? 'default',
      taskQueue: { name: taskQueue },
      taskQueueType: 1, // TASK_QUEUE_TYPE_WORKFLOW
    });
    return (response.pollers ?? []).some((poller) => poller.identity?.startsWith(`${pid}@`));
  } finally {
    await connection.close();
  }
}

beforeAll(async () => {
  const databaseUrl = process.env.TEST_DATABASE_URL;
  const temporalAddress = process.env.TEST_TEMPORAL_ADDRESS;
  if (!databaseUrl || !temporalAddress) throw new Error('run the tests with jest (the global setup starts Postgres and Temporal)');
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kyc-launcher-'));
  port = await getFreePort();
  taskQueue = `test-launcher-${randomUUID()}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATA_DIR: dataDir,
    PORT: String(port),
    HOST: '127.0.0.1',
    // Unused here (DATABASE_URL and TEMPORAL_ADDRESS are set), but never the defaults another launcher may hold.
    EMBEDDED_POSTGRES_PORT: String(await getFreePort()),
    TEMPORAL_DEV_PORT: String(await getFreePort()),
    TEMPORAL_UI_PORT: String(await getFreePort()),
    WORKER_METRICS_PORT: String(await getFreePort()),
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: temporalAddress,
    TEMPORAL_TASK_QUEUE: taskQueue,
    LOG_LEVEL: 'warn',
  };
  if (process.env.TEST_WORKFLOW_BUNDLE_PATH) env.WORKFLOW_BUNDLE_PATH = process.env.TEST_WORKFLOW_BUNDLE_PATH;
  launcher = spawn(process.execPath, ['--require', 'tsx/cjs', 'dev/launcher.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  launcher.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  launcher.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await waitFor('/readyz to answer 200', async () => (await readyz()) === 200, 120_000);
}, 150_000);

afterAll(async () => {
  const left = parts().map((part) => part.pid);
  if (launcher) await stopChild(launcher, { signal: 'SIGKILL', timeoutMs: 5000 });
  for (const pid of left) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  if (taskQueue) {
    // The worker created its retention schedule on the run's dev server.
    const connection = await Connection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
    await connection.workflowService
      .deleteSchedule({ namespace: process.env.TEST_TEMPORAL_NAMESPACE ?? 'default', scheduleId: retentionScheduleId(taskQueue) })
      .catch(() => undefined);
    await connection.close();
  }
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
}, 30_000);

test('cli.json tells the CLI where this run\'s Postgres and Temporal are (mode 0600: the URL may carry a password)', () => {
  const file = path.join(dataDir, 'cli.json');
  expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toMatchObject({
    database_url: process.env.TEST_DATABASE_URL,
    temporal_address: process.env.TEST_TEMPORAL_ADDRESS,
    temporal_namespace: 'default',
    task_queue: taskQueue,
    launcher_pid: launcher.pid,
  });
});

test('restart delays double from 1 s up to 30 s, and start again at 1 s after a run of 60 s', () => {
  const backoff = new Backoff();
  expect([0, 0, 0, 0, 0, 0, 0].map(() => backoff.next(500))).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
  expect(backoff.next(60_000)).toBe(1000);
  expect(backoff.next()).toBe(2000);
});

test.each(['API', 'worker'])('the %s, killed, is restarted with a new pid in its place while the launcher stays up', async (name) => {
  const before = parts();
  const old = pidOf(name);
  expect(old).toBeDefined();
  process.kill(old!, 'SIGKILL');

  await waitFor(`the launcher to log the ${name}'s exit`, () => output.includes(`${name} (pid ${old}) exited unexpectedly (signal SIGKILL)`));
  const pid = await waitFor(`a new ${name} pid in launcher.json`, () => {
    const current = pidOf(name);
    return current !== undefined && current !== old ? current : undefined;
  });
  await waitFor(`the launcher to log the ${name}'s restart`, () => output.includes(`${name} restarted (pid ${pid})`));
  expect(isAlive(pid)).toBe(true);
  expect(isAlive(old!)).toBe(false);
  // Same place in the stop order, one process per part.
  expect(parts().map((part) => part.name)).toEqual(before.map((part) => part.name));
  await waitFor('/readyz to answer 200 again', async () => (await readyz()) === 200);
  if (name === 'worker') await waitFor('the new worker to poll its task queue', () => polls(pid));
  expect(launcher.exitCode).toBeNull();
  expect(output.match(new RegExp(`${name} restarted`, 'g'))).toHaveLength(1);
}, 90_000);

test('SIGTERM stops everything and the launcher exits 0', async () => {
  const recorded = parts().map((part) => part.pid);
  expect(recorded).toHaveLength(2);
  const exited = exitOf(launcher);
  launcher.kill('SIGTERM');
  expect(await exited).toEqual({ code: 0, signal: null });
  expect(recorded.filter(isAlive)).toEqual([]);
  expect(fs.existsSync(path.join(dataDir, 'launcher.json'))).toBe(false);
  expect(fs.existsSync(path.join(dataDir, 'cli.json'))).toBe(false);
  expect(output).toContain('[launcher] stopped');
}, 60_000);
