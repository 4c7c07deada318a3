import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Client as PgClient } from 'pg';

/** What the import and metrics benchmarks share: their database, their child processes, and waiting on a condition. */

const ROOT = path.resolve(__dirname, '../..');

export const log = (message: string) => process.stderr.write(`[bench] ${message}\n`);

/**
 * Starts a part as the launcher does: one node process with `nodeArgs` (tsx's CommonJS hook, the worker's
 * WORKER_NODE_ARGS). `ready` settles once its output has shown `readyText`; an exit other than 0 is logged with the
 * last 4,000 characters it wrote.
 */
export function startProcess(
  name: string,
  nodeArgs: readonly string[],
  env: NodeJS.ProcessEnv,
  readyText?: string,
): { child: ChildProcess; ready: Promise<void> } {
  const child = spawn(process.execPath, [...nodeArgs], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-4000);
    if (readyText && tail.includes(readyText)) markReady();
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('exit', (code, signal) => {
    if (code !== 0 && signal === null) log(`${name} exited with ${code}:\n${tail}`);
  });
  return { child, ready };
}

/** Polls `check` (a throw counts as not yet) until it gives a value, for at most `timeoutMs`. */
export async function waitUntil<T>(check: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** The machine's Postgres, where a benchmark makes its database (BENCH_ADMIN_DATABASE_URL to use another). */
const ADMIN_URL = process.env.BENCH_ADMIN_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function adminQuery(text: string): Promise<void> {
  const admin = new PgClient({ connectionString: ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(text);
  } finally {
    await admin.end();
  }
}

/** Creates the run's own empty database `kyc_bench_<runId>`; returns its name and URL. */
export async function createBenchDatabase(runId: string): Promise<{ name: string; url: string }> {
  const name = `kyc_bench_${runId}`;
  await adminQuery(`CREATE DATABASE "${name}"`);
  return { name, url: Object.assign(new URL(ADMIN_URL), { pathname: `/${name}` }).toString() };
}

/** Drops the run's database, whoever is still connected to it. */
export function dropBenchDatabase(name: string): Promise<void> {
  return adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
}
