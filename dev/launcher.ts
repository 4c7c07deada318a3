import { execFile, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { ROLES } from '../drizzle/schema';
import { createApplication, createOperator } from '../src/auth/accounts';
import { getConfig, launcherEndpointsPath, processEnv, type Config, type LauncherEndpoints } from '../src/config';
import { createDatabase } from '../src/db/client';
import { startEmbeddedPostgres } from './embedded-postgres';
import { applyMigrations } from '../src/db/migrate';
import {
  assertPortFree,
  Backoff,
  describeExit,
  exitOf,
  sleep,
  StartAborted,
  stopChild,
  WORKER_ENV,
  WORKER_NODE_ARGS,
  type ExitInfo,
  waitUntilReady,
  isAlive,
} from './process-control';
import { missingSearchAttributes, startDevServer } from './temporal-dev-server';
import { SEARCH_ATTRIBUTES } from '../workflows/definitions';
import { ensureConsoleBuilt } from './console-build';

const execFileAsync = promisify(execFile);

/**
 * `npm start`: the whole service on one machine with nothing configured. Brings up Postgres (DATABASE_URL,
 * else an embedded one under DATA_DIR), applies the migrations, Temporal (TEMPORAL_ADDRESS, else the CLI
 * dev server), then the worker and the API as child processes; creates demo credentials on the first start.
 * SIGINT/SIGTERM stop the API and the worker, then Temporal, then Postgres. A part that dies on its own is
 * started again (see supervise()). The next start reuses DATA_DIR.
 */

const ROOT = path.resolve(__dirname, '..');

/** One run of a part: the process started last for it. */
interface Instance {
  pid: number;
  exited: Promise<ExitInfo>;
  /** Polite stop; resolves once the process is gone. */
  stop(): Promise<void>;
}

interface PartSpec {
  name: string;
  /** Signal the whole process group (the part was started detached). */
  group: boolean;
  /** What the next launcher sends it if this one is killed outright (launcher.json). */
  stopSignal: NodeJS.Signals;
  /** Last resort (second Ctrl-C, or the launcher exiting some other way). */
  killSignal: NodeJS.Signals;
}

/** A supervised part. It keeps its place in `running` (the stop order) across restarts. */
interface Part extends PartSpec {
  /** The running process; undefined while the part is down, waiting to be restarted. */
  current?: Instance;
  record?: PartRecord;
  /** The latest restart (backoff wait, then start); it never rejects. */
  restarting?: Promise<void>;
}

/** What a launcher killed with SIGKILL leaves behind, for the next start to clean up. */
interface PartRecord {
  name: string;
  pid: number;
  group: boolean;
  stopSignal: NodeJS.Signals;
  cmdline: string;
}

const running: Part[] = [];
let stateFile: string | undefined;
/** `<dataDir>/cli.json`, once written (see writeCliEndpoints). */
let endpointsFile: string | undefined;
const abort = new AbortController();
let shuttingDown: Promise<void> | undefined;
let firstSignalAt = 0;
/** The start-up step in flight; the shutdown waits for it so whatever it started gets stopped too. */
let inFlight: Promise<unknown> = Promise.resolve();

function kill(part: Part): void {
  if (!part.current) return;
  try {
    process.kill(part.group ? -part.current.pid : part.current.pid, part.killSignal);
  } catch {
    // gone
  }
}

function cmdlineOf(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return undefined;
  }
}

/**
 * Keeps `<dataDir>/launcher.json` in step with the running parts, in stop order (removed once none is left).
 * A failed write is reported, never thrown: it must not take the launcher down in the middle of a restart.
 */
function saveState(): void {
  if (!stateFile) return;
  try {
    if (running.length === 0) {
      fs.rmSync(stateFile, { force: true });
      return;
    }
    const parts = running.flatMap((part) => (part.current && part.record ? [part.record] : []));
    fs.writeFileSync(stateFile, `${JSON.stringify({ launcherPid: process.pid, parts }, null, 2)}\n`);
  } catch (err) {
    sayError(`could not update ${stateFile}: ${messageOf(err)}`);
  }
}

/**
 * Starts a part (a failure of this first start is the caller's) and keeps it running: when it exits while
 * nothing asked it to, it is started again after a backoff (1 s, 2 s, 4 s ... 30 s, back to 1 s once a run
 * lasted 60 s), in the same place of the stop order. A restart that throws is retried with the same backoff.
 */
async function supervise(spec: PartSpec, start: () => Promise<Instance>): Promise<void> {
  const part: Part = { ...spec };
  const backoff = new Backoff();
  const up = (instance: Instance) => {
    const startedAt = Date.now();
    part.current = instance;
    part.record = { name: part.name, pid: instance.pid, group: part.group, stopSignal: part.stopSignal, cmdline: cmdlineOf(instance.pid) ?? '' };
    void instance.exited.then((exit) => {
      if (abort.signal.aborted || part.current !== instance) return; // asked to stop
      part.current = undefined;
      saveState();
      const delay = backoff.next(Date.now() - startedAt);
      sayError(`${part.name} (pid ${instance.pid}) exited unexpectedly (${describeExit(exit)}): restarting it in ${delay / 1000} s`);
      part.restarting = restart(delay).catch((err: unknown) => sayError(`${part.name}: restart failed: ${messageOf(err)}`));
    });
    saveState();
  };
  const restart = async (delay: number) => {
    for (;;) {
      await sleep(delay, abort.signal);
      if (abort.signal.aborted) return;
      let instance: Instance;
      try {
        instance = await start();
      } catch (err) {
        if (abort.signal.aborted) return; // the start was abandoned and has stopped what it started
        delay = backoff.next();
        sayError(`${part.name} could not be restarted (${messageOf(err)}): next attempt in ${delay / 1000} s`);
        continue;
      }
      up(instance); // even when a stop came meanwhile: shutdown() waits for this and stops it
      say(`${part.name} restarted (pid ${instance.pid})`);
      return;
    }
  };
  const first = await start();
  running.push(part);
  up(first);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A launcher that was killed outright (SIGKILL) leaves its parts running, holding their ports and files.
 * Stops those (only processes whose command line is still the recorded one), or refuses to start when the
 * launcher that owns this DATA_DIR is alive.
 */
async function stopLeftovers(file: string): Promise<void> {
  if (!fs.existsSync(file)) return;
  let state: { launcherPid: number; parts: PartRecord[] };
  try {
    state = JSON.parse(fs.readFileSync(file, 'utf8')) as typeof state;
  } catch {
    fs.rmSync(file, { force: true });
    return;
  }
  if (state.launcherPid !== process.pid && isAlive(state.launcherPid) && (cmdlineOf(state.launcherPid) ?? '').includes('launcher')) {
    throw new Error(`Another launcher (pid ${state.launcherPid}) is running with this DATA_DIR; stop it first (kill ${state.launcherPid}).`);
  }
  for (const part of [...state.parts].reverse()) {
    if (!isAlive(part.pid) || !part.cmdline || cmdlineOf(part.pid) !== part.cmdline) continue;
    say(`stopping ${part.name} (pid ${part.pid}), left running by an earlier launcher...`);
    const target = part.group ? -part.pid : part.pid;
    try {
      process.kill(target, part.stopSignal);
      for (let waited = 0; waited < 15_000 && isAlive(part.pid); waited += 200) await sleep(200);
      if (isAlive(part.pid)) process.kill(target, 'SIGKILL');
      for (let waited = 0; waited < 5_000 && isAlive(part.pid); waited += 200) await sleep(200);
    } catch {
      // gone meanwhile
    }
  }
  fs.rmSync(file, { force: true });
}

function say(message: string): void {
  process.stdout.write(`[launcher] ${message}\n`);
}

function sayError(message: string): void {
  process.stderr.write(`[launcher] ${message}\n`);
}

/** Runs one start-up step; refuses to start one once a stop was requested. */
async function step<T>(work: () => Promise<T>): Promise<T> {
  if (abort.signal.aborted) throw new StartAborted('launcher');
  const promise = work();
  inFlight = promise.catch(() => undefined);
  const value = await promise;
  if (abort.signal.aborted) throw new StartAborted('launcher');
  return value;
}

/** Stops every running part, last started first, then exits with `code`. Idempotent. */
function shutdown(code: number, reason?: string): Promise<void> {
  if (shuttingDown) return shuttingDown;
  abort.abort();
  shuttingDown = (async () => {
    if (reason) (code === 0 ? say : sayError)(reason);
    await inFlight;
    for (let part = running.at(-1); part; part = running.at(-1)) {
      say(`stopping ${part.name}...`);
      try {
        await part.restarting;
        await part.current?.stop();
      } catch (err) {
        sayError(`${part.name} did not stop cleanly: ${err instanceof Error ? err.message : String(err)}`);
        code = code || 1;
      }
      running.pop();
      saveState();
    }
    removeCliEndpoints();
    say('stopped');
    process.exit(code);
  })();
  return shuttingDown;
}

function onSignal(signal: NodeJS.Signals): void {
  if (!shuttingDown) {
    firstSignalAt = Date.now();
    void shutdown(0, `${signal} received: stopping (press Ctrl-C again to force)`);
    return;
  }
  // The same Ctrl-C often arrives twice (from the terminal and relayed by npm/tsx): only a later one forces.
  if (Date.now() - firstSignalAt < 2000) return;
  sayError(`${signal} received again: killing everything`);
  for (const part of [...running].reverse()) kill(part);
  process.exit(1);
}

// --- Postgres ---------------------------------------------------------------------------------------

async function startPostgres(config: Config): Promise<{ url: string; description: string }> {
  if (config.database.url) {
    return { url: config.database.url, description: describeUrl(config.database.url) };
  }
  const port = config.database.embeddedPort;
  let url = '';
  // SIGQUIT as a last resort: immediate shutdown, crash recovery on the next start.
  await supervise({ name: 'Postgres', group: false, stopSignal: 'SIGINT', killSignal: 'SIGQUIT' }, async () => {
    say(`starting the embedded Postgres on 127.0.0.1:${port} (data in ${path.join(config.dataDir, 'postgres')})...`);
    const pg = await startEmbeddedPostgres({ dataDir: config.dataDir, port, log: say, signal: abort.signal });
    url = pg.url; // the same on every start: same port, same password
    return pg;
  });
  return { url, description: `embedded, 127.0.0.1:${port}, log ${path.join(config.dataDir, 'postgres.log')}` };
}

function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || 5432}${parsed.pathname} (DATABASE_URL)`;
  } catch {
    return 'DATABASE_URL';
  }
}

// --- Temporal ---------------------------------------------------------------------------------------

async function startTemporal(config: Config): Promise<{ address: string; uiUrl?: string }> {
  if (config.temporal.address) {
    await checkExternalTemporal(config.temporal.address, config.temporal.namespace);
    return { address: config.temporal.address };
  }
  const logFile = path.join(config.dataDir, 'temporal.log');
  let found: { address: string; uiUrl?: string } = { address: '' };
  // A restart resumes from temporal.db: the runs go on where they were.
  await supervise({ name: 'Temporal dev server', group: true, stopSignal: 'SIGTERM', killSignal: 'SIGKILL' }, async () => {
    say(`starting the Temporal dev server on 127.0.0.1:${config.temporal.devServerPort} (log ${logFile})...`);
    const server = await startDevServer({
      cliPath: config.temporal.cliPath,
      port: config.temporal.devServerPort,
      uiPort: config.temporal.uiPort,
      dbFilename: path.join(config.dataDir, 'temporal.db'),
      namespace: config.temporal.namespace,
      logFile,
      detached: true,
      env: processEnv(),
      log: say,
      signal: abort.signal,
    });
    found = { address: server.address, uiUrl: server.uiUrl };
    return server;
  });
  return found;
}

/** A server we did not start: it must answer; missing search attributes are added (or explained). */
async function checkExternalTemporal(address: string, namespace: string): Promise<void> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ address, connectTimeout: 10_000 });
  } catch (err) {
    throw new Error(`Temporal at TEMPORAL_ADDRESS=${address} does not answer: ${err instanceof Error ? err.message : String(err)}`);
  }
  try {
    await connection.workflowService.describeNamespace({ namespace });
    const missing = await missingSearchAttributes(connection, namespace);
    if (missing.length === 0) return;
    const types = new Map(SEARCH_ATTRIBUTES.map((a) => [a.name, a.type]));
    try {
      await connection.operatorService.addSearchAttributes({
        namespace,
        searchAttributes: Object.fromEntries(missing.map((name) => [name, 2])), // INDEXED_VALUE_TYPE_KEYWORD
      });
      say(`registered the search attributes ${missing.join(', ')} on namespace ${namespace}`);
    } catch (err) {
      sayError(
        `warning: namespace ${namespace} lacks the search attributes ${missing.join(', ')} and they could not be added ` +
          `(${err instanceof Error ? err.message : String(err)}). Run once:\n` +
          missing.map((name) => `  temporal operator search-attribute create --namespace ${namespace} --name ${name} --type ${types.get(name)}`).join('\n'),
      );
    }
  } finally {
    await connection.close();
  }
}

// --- What the CLI needs to find them ----------------------------------------------------------------

/**
 * `<dataDir>/cli.json` (src/config.ts, LauncherEndpoints): the database URL (with the embedded Postgres's password,
 * hence mode 0600), the Temporal address, namespace and task queue, so that `npm run cli` with nothing set reaches
 * this run. Written atomically once both are up; removed when the launcher stops.
 */
function writeCliEndpoints(config: Config, databaseUrl: string, temporal: { address: string; uiUrl?: string }): void {
  const file = launcherEndpointsPath(config.dataDir);
  const endpoints: LauncherEndpoints = {
    database_url: databaseUrl,
    temporal_address: temporal.address,
    temporal_namespace: config.temporal.namespace,
    task_queue: config.temporal.taskQueue,
    ...(temporal.uiUrl ? { temporal_ui_url: temporal.uiUrl } : {}),
    launcher_pid: process.pid,
    written_at: new Date().toISOString(),
  };
  const partial = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(partial, `${JSON.stringify(endpoints, null, 2)}\n`, { mode: 0o600 });
  fs.chmodSync(partial, 0o600);
  fs.renameSync(partial, file);
  endpointsFile = file;
}

function removeCliEndpoints(): void {
  if (endpointsFile) fs.rmSync(endpointsFile, { force: true });
  endpointsFile = undefined;
}

// --- Secrets and demo credentials -------------------------------------------------------------------

/** LINK_SIGNING_SECRET, else one made on the first start and kept in `<dataDir>/signing-secret`. */
function signingSecret(config: Config): string {
  if (config.storage.linkSigningSecret) return config.storage.linkSigningSecret;
  const file = path.join(config.dataDir, 'signing-secret');
  try {
    fs.writeFileSync(file, `${crypto.randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
    say(`generated a link-signing secret in ${file}`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const secret = fs.readFileSync(file, 'utf8').trim();
  if (!secret) throw new Error(`${file} is empty: delete it to have a new secret generated`);
  return secret;
}

const DEMO_EMAILS: Record<(typeof ROLES)[number], string> = {
  OWNER: 'owner@demo.example.com',
  ADMIN: 'admin@demo.example.com',
  COMPLIANCE_OFFICER: 'compliance@demo.example.com',
  DEVELOPER: 'developer@demo.example.com',
  READER: 'reader@demo.example.com',
};

/** On the first start: a demo application with one operator per role, printed once and kept (mode 0600). */
async function ensureDemoCredentials(config: Config, databaseUrl: string): Promise<void> {
  const file = path.join(config.dataDir, 'demo-credentials.json');
  if (fs.existsSync(file)) {
    say(`demo credentials: ${file}`);
    return;
  }
  const database = createDatabase(databaseUrl, { poolSize: 1, applicationName: 'kyc-launcher' });
  try {
    const credentials = await database.db.transaction(async (tx) => {
      const application = await createApplication(tx, { name: 'Demo' });
      const operators = [];
      for (const role of ROLES) {
        operators.push(await createOperator(tx, { applicationId: application.id, email: DEMO_EMAILS[role], role }));
      }
      return { application, operators };
    });
    fs.writeFileSync(file, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    const lines = [
      '',
      'Demo credentials (shown once; kept in ' + file + '):',
      `  application  ${credentials.application.name}  id ${credentials.application.id}`,
      `  x-api-key    ${credentials.application.api_key}`,
      ...credentials.operators.map((o) => `  ${o.role.padEnd(19)} ${o.email.padEnd(28)} Authorization: Bearer ${o.token}`),
      '',
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await database.close();
  }
}

// --- Worker and API ---------------------------------------------------------------------------------

/** The worker or the API as a supervised child process. */
function superviseChild(name: string, entry: string, env: NodeJS.ProcessEnv): Promise<void> {
  return supervise({ name, group: true, stopSignal: 'SIGTERM', killSignal: 'SIGKILL' }, () => startChild(name, entry, env));
}

async function startChild(name: string, entry: string, env: NodeJS.ProcessEnv): Promise<Instance> {
  const nodeArgs = name === 'worker' ? WORKER_NODE_ARGS : ['--require', 'tsx/cjs'];
  // Its own process group: a Ctrl-C at the terminal reaches the launcher only, which stops the parts in order.
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, path.join(ROOT, entry)], {
    cwd: ROOT,
    env: name === 'worker' ? { ...env, ...WORKER_ENV } : env,
    stdio: ['ignore', 'inherit', 'inherit'],
    detached: true,
  });
  const exited = exitOf(child);
  // 'error' can fire more than once (spawn failure, a failed kill); an unhandled one would crash the launcher.
  const spawnError = new Promise<Error>((resolve) => child.on('error', resolve));
  if (child.pid === undefined) throw new Error(`could not run ${name}: ${(await spawnError).message}`);
  return {
    pid: child.pid,
    exited,
    // The worker drains its tasks for up to 20 s (shutdownGraceTime) before it exits.
    stop: async () => {
      await stopChild(child, { signal: 'SIGTERM', timeoutMs: 30_000, group: true });
    },
  };
}

async function waitForApi(host: string, port: number, timeoutMs: number): Promise<void> {
  const address = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  await waitUntilReady(
    `the API on port ${port}`,
    async () => {
      const response = await fetch(`http://${address}:${port}/readyz`, { signal: AbortSignal.timeout(2000) });
      if (response.status !== 200) throw new Error(`readyz answered ${response.status}`);
    },
    { timeoutMs, intervalMs: 500, aborted: () => abort.signal.aborted },
  );
}

// --- Main -------------------------------------------------------------------------------------------

async function run(): Promise<void> {
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  // If the launcher dies some other way, its children must not outlive it.
  process.on('exit', () => {
    for (const part of running.splice(0).reverse()) kill(part);
    saveState();
    removeCliEndpoints();
  });

  const config = getConfig();
  fs.mkdirSync(config.dataDir, { recursive: true });
  await stopLeftovers(path.join(config.dataDir, 'launcher.json'));
  stateFile = path.join(config.dataDir, 'launcher.json');
  await assertPortFree(config.api.port, config.api.host, 'API', 'Stop what uses it or set PORT to another port.');

  const postgres = await step(() => startPostgres(config));
  await step(async () => {
    say('applying migrations...');
    await applyMigrations(postgres.url);
  });
  const temporal = await step(() => startTemporal(config));
  writeCliEndpoints(config, postgres.url, temporal);
  const secret = signingSecret(config);
  await step(() => ensureDemoCredentials(config, postgres.url));

  const childEnv: NodeJS.ProcessEnv = {
    ...processEnv(),
    DATA_DIR: config.dataDir,
    DATABASE_URL: postgres.url,
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_NAMESPACE: config.temporal.namespace,
    LINK_SIGNING_SECRET: secret,
  };
  if (!config.temporal.workflowBundlePath) {
    const bundlePath = path.join(config.dataDir, 'workflow-bundle.js');
    await step(async () => {
      say('bundling the workflows...');
      await execFileAsync(process.execPath, ['--require', 'tsx/cjs', path.join(ROOT, 'dev/bundle-workflows.ts'), bundlePath], {
        cwd: ROOT,
      });
    });
    childEnv.WORKFLOW_BUNDLE_PATH = bundlePath;
  }
  await step(() => ensureConsoleBuilt(say));
  say('starting the worker and the API...');
  await step(async () => {
    await superviseChild('worker', 'src/worker.ts', childEnv);
    await superviseChild('API', 'src/api/server.ts', childEnv);
    await waitForApi(config.api.host, config.api.port, 120_000);
  });

  const apiUrl = `http://localhost:${config.api.port}`;
  const lines = [
    '',
    'KYC user bulk service is running:',
    `  API          ${apiUrl}   (GET /healthz, /readyz, /metrics)`,
    `  Metrics      ${config.worker.metricsPort ? `worker http://localhost:${config.worker.metricsPort}/metrics` : 'worker: off (WORKER_METRICS_PORT=0)'}`,
    `  Temporal UI  ${temporal.uiUrl ?? `(not started here; Temporal at ${temporal.address})`}`,
    `  Temporal     ${temporal.address}, namespace ${config.temporal.namespace}`,
    `  Postgres     ${postgres.description}`,
    `  Data         ${config.dataDir}`,
    '',
    `Operator console: ${apiUrl}/console/ — sign in as a demo operator with one of these links:`,
    ...signInLinks(config, apiUrl),
    '',
    'Press Ctrl-C to stop.',
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** One console sign-in link per demo operator; the token rides in the fragment, which browsers never send. */
function signInLinks(config: Config, apiUrl: string): string[] {
  const file = path.join(config.dataDir, 'demo-credentials.json');
  try {
    const credentials = JSON.parse(fs.readFileSync(file, 'utf8')) as { operators: { role: string; token: string }[] };
    return credentials.operators.map((o) => `  ${o.role.padEnd(19)} ${apiUrl}/console/#token=${encodeURIComponent(o.token)}`);
  } catch {
    return [`  (no demo credentials in ${file})`];
  }
}

run().catch((err: unknown) => {
  if (err instanceof StartAborted) return; // a signal arrived during start-up: shutdown() is already at work
  sayError(`failed to start: ${err instanceof Error ? err.message : String(err)}`);
  void shutdown(1).finally(() => process.exit(1));
});
