import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { processEnv } from '../src/config';
import {
  assertPortFree,
  canConnect,
  describeExit,
  exitOf,
  getFreePort,
  OutputTail,
  StartAborted,
  stopChild,
  type ExitInfo,
  waitUntilReady,
} from './process-control';
import { SEARCH_ATTRIBUTES } from '../workflows/definitions';

/**
 * Runs the Temporal CLI dev server (`temporal server start-dev`) as a child process, for the launcher and
 * the tests. Finds the CLI, or builds it with `go install`, registers the search attributes at start, and
 * waits until the namespace answers.
 */

const execFileAsync = promisify(execFile);

export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';
/** Tried in order; later CLI tags carry a `replace` directive that `go install` refuses. */
export const TEMPORAL_CLI_VERSIONS = ['v1.5.1', 'v1.5.0', 'v1.4.1'] as const;

export const INSTALL_HINT = [
  'The Temporal CLI (`temporal`) was not found and could not be built.',
  'Install it in one of these ways, then start again:',
  `  - with Go 1.22+: go install ${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSIONS[0]}   (puts it in $(go env GOPATH)/bin)`,
  '  - or download a release from https://github.com/temporalio/cli/releases and put `temporal` on your PATH',
  '  - or set TEMPORAL_CLI_PATH to the binary, or TEMPORAL_ADDRESS to a Temporal server you already run.',
].join('\n');

type Log = (message: string) => void;

export interface FindCliOptions {
  /** An explicit binary (config.temporal.cliPath); used as is, or an error when it is not executable. */
  cliPath?: string;
  /** Build the CLI with `go install` when it is nowhere to be found (default true). */
  install?: boolean;
  env?: NodeJS.ProcessEnv;
  log?: Log;
  /** Abandons a `go install` in progress. */
  signal?: AbortSignal;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function findOnPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** `$(go env GOPATH)/bin`, or undefined when Go is not installed. */
async function goBinDir(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  try {
    const { stdout } = await execFileAsync('go', ['env', 'GOPATH'], { env, timeout: 30_000 });
    const gopath = stdout.trim().split(path.delimiter)[0];
    return gopath ? path.join(gopath, 'bin') : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The path of the Temporal CLI: `cliPath`, else `temporal` on PATH, else `$(go env GOPATH)/bin/temporal`,
 * else one built now with `go install` (v1.5.1, then v1.5.0, then v1.4.1). Throws INSTALL_HINT otherwise.
 */
export async function findTemporalCli(options: FindCliOptions = {}): Promise<string> {
  const env = options.env ?? processEnv();
  const log = options.log ?? (() => undefined);
  if (options.cliPath) {
    if (isExecutable(options.cliPath)) return options.cliPath;
    throw new Error(`TEMPORAL_CLI_PATH is set to ${options.cliPath}, which is not an executable file.`);
  }
  const onPath = findOnPath('temporal', env);
  if (onPath) return onPath;

  const binDir = await goBinDir(env);
  if (binDir && isExecutable(path.join(binDir, 'temporal'))) return path.join(binDir, 'temporal');
  if (!binDir || options.install === false) throw new Error(INSTALL_HINT);

  const failures: string[] = [];
  for (const version of TEMPORAL_CLI_VERSIONS) {
    if (options.signal?.aborted) throw new StartAborted('Temporal CLI build');
    log(`Temporal CLI not found: building ${TEMPORAL_CLI_MODULE}@${version} with go install (this takes a few minutes)...`);
    try {
      await execFileAsync('go', ['install', `${TEMPORAL_CLI_MODULE}@${version}`], {
        env: { ...env, GOBIN: binDir },
        timeout: 30 * 60_000,
        maxBuffer: 16 * 1024 * 1024,
        signal: options.signal,
      });
      const built = path.join(binDir, 'temporal');
      if (isExecutable(built)) {
        log(`Temporal CLI built: ${built}`);
        return built;
      }
      failures.push(`${version}: go install succeeded but ${built} is missing`);
    } catch (err) {
      if (options.signal?.aborted) throw new StartAborted('Temporal CLI build');
      const stderr = (err as { stderr?: string }).stderr?.trim();
      failures.push(`${version}: ${stderr || (err instanceof Error ? err.message : String(err))}`);
    }
  }
  throw new Error(`${INSTALL_HINT}\n\ngo install failed:\n${failures.map((f) => `  ${f.split('\n').slice(-3).join('\n    ')}`).join('\n')}`);
}

export interface DevServerOptions {
  /** The CLI binary; found with findTemporalCli when omitted. */
  cliPath?: string;
  /** Front-end gRPC port; a free one when omitted. */
  port?: number;
  /** Web UI port; a free one when omitted. Ignored when headless. */
  uiPort?: number;
  headless?: boolean;
  /** SQLite file that keeps the server's state across restarts; in memory when omitted. */
  dbFilename?: string;
  /** Address to bind (default 127.0.0.1). */
  ip?: string;
  /** Namespace to create and check (the "default" namespace always exists). */
  namespace?: string;
  logLevel?: 'debug' | 'info' | 'warn' | 'error' | 'never';
  /** Append the server's output to this file; kept in memory (last 16 KiB, for errors) when omitted. */
  logFile?: string;
  /** Put the server in its own process group, so a Ctrl-C at the terminal reaches only its parent. */
  detached?: boolean;
  startTimeoutMs?: number;
  stopTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  log?: Log;
  /** Abandons the start (the server is stopped again) when it fires. */
  signal?: AbortSignal;
}

export interface DevServer {
  /** host:port for Connection.connect. */
  address: string;
  /** The Web UI, unless headless. */
  uiUrl?: string;
  namespace: string;
  pid: number;
  /** Resolves when the server process exits, whoever stopped it. */
  exited: Promise<ExitInfo>;
  /** SIGTERM, then SIGKILL after stopTimeoutMs; resolves once the process is gone. */
  stop(): Promise<void>;
}

/** Starts `temporal server start-dev` and resolves once the namespace and the search attributes answer. */
export async function startDevServer(options: DevServerOptions = {}): Promise<DevServer> {
  const env = options.env ?? processEnv();
  const cliPath = options.cliPath ?? (await findTemporalCli({ env, log: options.log, signal: options.signal }));
  const ip = options.ip ?? '127.0.0.1';
  const namespace = options.namespace ?? 'default';
  const headless = options.headless ?? false;
  const hint = 'Stop what uses it, or choose other ports (TEMPORAL_DEV_PORT / TEMPORAL_UI_PORT), or set TEMPORAL_ADDRESS to a running server.';

  const port = options.port ?? (await getFreePort(ip));
  if (options.port !== undefined) await assertPortFree(port, ip, 'Temporal dev server', hint);
  let uiPort: number | undefined;
  if (!headless) {
    uiPort = options.uiPort ?? (await getFreePort(ip));
    if (options.uiPort !== undefined) await assertPortFree(uiPort, ip, 'Temporal Web UI', hint);
  }

  const args = ['server', 'start-dev', '--ip', ip, '--port', String(port), '--log-level', options.logLevel ?? 'warn'];
  if (namespace !== 'default') args.push('--namespace', namespace);
  if (headless) args.push('--headless');
  else args.push('--ui-port', String(uiPort));
  if (options.dbFilename) {
    fs.mkdirSync(path.dirname(options.dbFilename), { recursive: true });
    args.push('--db-filename', options.dbFilename);
  }
  for (const attribute of SEARCH_ATTRIBUTES) args.push('--search-attribute', `${attribute.name}=${attribute.type}`);

  const tail = new OutputTail();
  let logFd: number | undefined;
  if (options.logFile) {
    fs.mkdirSync(path.dirname(options.logFile), { recursive: true });
    logFd = fs.openSync(options.logFile, 'a');
  }
  let child: ChildProcess;
  try {
    child = spawn(cliPath, args, {
      env,
      detached: options.detached ?? false,
      stdio: ['ignore', logFd ?? 'pipe', logFd ?? 'pipe'],
    });
  } finally {
    if (logFd !== undefined) fs.closeSync(logFd);
  }
  child.stdout?.on('data', (chunk: Buffer) => tail.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => tail.push(chunk));
  // 'error' can fire more than once (spawn failure, a failed kill); an unhandled one would crash the parent.
  const spawnError = new Promise<Error>((resolve) => child.on('error', resolve));
  const exited = exitOf(child);
  const group = options.detached ?? false;
  const stopTimeoutMs = options.stopTimeoutMs ?? 15_000;
  const stop = async () => {
    await stopChild(child, { signal: 'SIGTERM', timeoutMs: stopTimeoutMs, group });
  };

  const output = () => (options.logFile ? `see ${options.logFile}` : tail.toString().trim() || '(no output)');
  const address = `${ip}:${port}`;
  const gone = () => child.exitCode !== null || child.signalCode !== null || options.signal?.aborted === true;
  const failed = Promise.race([
    exited.then((exit) => new Error(`temporal server start-dev exited during start (${describeExit(exit)}):\n${output()}`)),
    spawnError.then((err) => new Error(`could not run ${cliPath}: ${err.message}`)),
  ]);
  let outcome: Error | undefined;
  try {
    outcome = await Promise.race([waitForServer(address, namespace, options.startTimeoutMs ?? 90_000, gone), failed]);
    if (!outcome && options.signal?.aborted) outcome = new StartAborted('Temporal dev server');
    if (!outcome && gone()) outcome = await failed;
  } catch (err) {
    outcome = new Error(`${err instanceof Error ? err.message : String(err)}\nServer output:\n${output()}`);
  }
  if (outcome) {
    await stop();
    throw outcome;
  }

  const host = ip === '0.0.0.0' ? 'localhost' : ip;
  return {
    address,
    uiUrl: headless ? undefined : `http://${host === '127.0.0.1' ? 'localhost' : host}:${uiPort}`,
    namespace,
    pid: child.pid!,
    exited,
    stop,
  };
}

/** Resolves once the server answers, or as soon as `gone()` (the caller reports the exit); throws on timeout. */
function waitForServer(address: string, namespace: string, timeoutMs: number, gone: () => boolean): Promise<undefined> {
  const [host, portText] = splitAddress(address);
  return waitUntilReady(
    `the Temporal dev server at ${address}`,
    async () => {
      if (!(await canConnect(host, Number(portText), 1000))) throw new Error('nothing listens yet');
      await checkServer(address, namespace, 5000);
    },
    { timeoutMs, intervalMs: 200, gone },
  ).then(() => undefined);
}

/**
 * Throws unless the server at `address` answers for `namespace` and has our search attributes registered.
 * Used by the start above, the launcher (for a TEMPORAL_ADDRESS it was given) and the infra test.
 */
export async function checkServer(address: string, namespace: string, timeoutMs = 5000): Promise<void> {
  const connection = await Connection.connect({ address, connectTimeout: timeoutMs });
  try {
    await connection.withDeadline(Date.now() + timeoutMs, () =>
      connection.workflowService.describeNamespace({ namespace }),
    );
    const missing = await missingSearchAttributes(connection, namespace, timeoutMs);
    if (missing.length > 0) throw new Error(`search attributes not registered yet: ${missing.join(', ')}`);
  } finally {
    await connection.close();
  }
}

/** The names of SEARCH_ATTRIBUTES that `namespace` lacks. */
export async function missingSearchAttributes(connection: Connection, namespace: string, timeoutMs = 5000): Promise<string[]> {
  const response = await connection.withDeadline(Date.now() + timeoutMs, () =>
    connection.operatorService.listSearchAttributes({ namespace }),
  );
  const present = new Set(Object.keys(response.customAttributes ?? {}));
  return SEARCH_ATTRIBUTES.map((a) => a.name).filter((name) => !present.has(name));
}

function splitAddress(address: string): [string, string] {
  const index = address.lastIndexOf(':');
  return [address.slice(0, index).replace(/^\[|\]$/g, ''), address.slice(index + 1)];
}
