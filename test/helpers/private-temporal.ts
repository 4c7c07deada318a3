import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startDevServer, type DevServer } from '../../dev/temporal-dev-server';
import { getFreePort, sleep } from '../../dev/process-control';

/**
 * A Temporal dev server of the test's own, persisted in a temp SQLite file on a fixed free port, for the fault tests
 * that kill it and start it again: the workflows, timers and task queues survive in the file.
 * Started by dev/temporal-dev-server.ts rather than the SDK's TestWorkflowEnvironment.createLocal (which the global
 * setup uses): the tests SIGKILL the server's process, which the environment does not expose, and start it again on
 * the same port and file, which its teardown-only lifecycle cannot do.
 */
export interface PrivateTemporal {
  address: string;
  port: number;
  dbFilename: string;
  readonly pid: number;
  /** SIGKILL of the dev server; resolves once it has exited. */
  kill(): Promise<void>;
  /** Starts it again on the same port and SQLite file (retries while the port is still being released). */
  restart(timeoutMs?: number): Promise<void>;
  destroy(): Promise<void>;
}

export async function startPrivateTemporal(): Promise<PrivateTemporal> {
  const dir = mkdtempSync(path.join(tmpdir(), 'kyc-fault-temporal-'));
  const dbFilename = path.join(dir, 'temporal.db');
  const logFile = path.join(dir, 'temporal.log');
  const port = await getFreePort();
  const start = () => startDevServer({ headless: true, dbFilename, port, logFile, startTimeoutMs: 60_000, stopTimeoutMs: 10_000 });
  let server: DevServer | undefined = await start();
  const address = server.address;

  return {
    address,
    port,
    dbFilename,
    get pid() {
      if (!server) throw new Error('the private Temporal server is not running');
      return server.pid;
    },
    async kill() {
      if (!server) return;
      const current = server;
      server = undefined;
      process.kill(current.pid, 'SIGKILL');
      await current.exited;
    },
    async restart(timeoutMs = 60_000) {
      if (server) throw new Error('the private Temporal server is still running');
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        try {
          server = await start();
          return;
        } catch (err) {
          if (Date.now() > deadline) throw err;
          await sleep(200);
        }
      }
    },
    async destroy() {
      await server?.stop();
      server = undefined;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
