import type { ChildProcess } from 'node:child_process';
import net from 'node:net';

/**
 * Small helpers shared by the launcher, the Temporal dev server and the embedded Postgres:
 * free ports, and stopping a child process politely, then firmly.
 *
 * On node:child_process rather than execa: execa is ESM-only since 6.0, and the tests import these modules into
 * Jest's runtime, which cannot load an ES module on Node 20 (the reason test/helpers/postgres-child.ts exists); and
 * what is here (signalling a detached child's process group, SIGTERM then SIGKILL with a wait, an output tail for
 * error messages, one readiness wait) is not what execa would take off our hands. The one-shot commands (go env,
 * go install, id, the console and workflow builds) are a promisified execFile each.
 */

/** A TCP port that was free a moment ago on `host` (the OS picks it). */
export function getFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ port: 0, host, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('could not pick a free port'))));
    });
  });
}

/** Whether nothing listens on `host:port` (tries to bind it, then lets it go); no host = every interface. */
export function isPortFree(port: number, host?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Throws a readable error when `host:port` is taken; `hint` says what to do about it. */
export async function assertPortFree(port: number, host: string | undefined, what: string, hint: string): Promise<void> {
  if (!(await isPortFree(port, host))) {
    throw new Error(`Port ${port}${host ? ` on ${host}` : ''} (${what}) is already in use. ${hint}`);
  }
}

/** The error thrown when a start is abandoned because its AbortSignal fired. */
export class StartAborted extends Error {
  constructor(what: string) {
    super(`${what}: start abandoned (stop requested)`);
    this.name = 'StartAborted';
  }
}

/** Whether a TCP connection to `host:port` succeeds within `timeoutMs`. */
export function canConnect(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Resolves when the child has exited (at once if it already has). */
export function exitOf(child: ChildProcess): Promise<ExitInfo> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

export function describeExit(exit: ExitInfo): string {
  return exit.signal ? `signal ${exit.signal}` : `code ${exit.code ?? 'unknown'}`;
}

/**
 * Sends `signal` to the child (to its whole process group when it was started `detached`), waits up to
 * `timeoutMs`, then sends SIGKILL and waits for the exit.
 */
export async function stopChild(
  child: ChildProcess,
  options: { signal?: NodeJS.Signals; timeoutMs?: number; group?: boolean } = {},
): Promise<ExitInfo> {
  if (child.pid === undefined) return { code: child.exitCode, signal: child.signalCode }; // never started
  const exited = exitOf(child);
  if (child.exitCode !== null || child.signalCode !== null) return exited;
  signalChild(child, options.signal ?? 'SIGTERM', options.group ?? false);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), options.timeoutMs ?? 10_000);
  });
  const first = await Promise.race([exited, timedOut]);
  clearTimeout(timer);
  if (first !== 'timeout') return first;
  signalChild(child, 'SIGKILL', options.group ?? false);
  return exited;
}

/** Sends a signal and ignores "no such process". */
export function signalChild(child: ChildProcess, signal: NodeJS.Signals, group: boolean): void {
  if (child.pid === undefined) return;
  try {
    process.kill(group ? -child.pid : child.pid, signal);
  } catch {
    // Already gone.
  }
}

/** Keeps the last `maxBytes` of a stream's output, for error messages. */
export class OutputTail {
  private chunks: string[] = [];
  private size = 0;

  constructor(private readonly maxBytes = 16_384) {}

  push(chunk: Buffer | string): void {
    const text = chunk.toString();
    this.chunks.push(text);
    this.size += text.length;
    while (this.size > this.maxBytes && this.chunks.length > 1) {
      this.size -= this.chunks.shift()!.length;
    }
  }

  toString(): string {
    const text = this.chunks.join('');
    return text.length > this.maxBytes ? text.slice(-this.maxBytes) : text;
  }
}

/** Resolves after `ms`, or as soon as `signal` fires (it never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** A run that lasted this long counts as healthy: the next delay starts from `initialMs` again. */
  resetAfterMs: number;
}

/** Restart delays of one supervised process: 1 s, 2 s, 4 s ... capped at 30 s, reset after 60 s up. */
export class Backoff {
  private nextMs: number;

  constructor(private readonly options: BackoffOptions = { initialMs: 1000, maxMs: 30_000, resetAfterMs: 60_000 }) {
    this.nextMs = options.initialMs;
  }

  /** The wait before the next attempt; `upMs` is how long the last run lasted (0 after a failed start). */
  next(upMs = 0): number {
    if (upMs >= this.options.resetAfterMs) this.nextMs = this.options.initialMs;
    const delay = this.nextMs;
    this.nextMs = Math.min(delay * 2, this.options.maxMs);
    return delay;
  }
}

/**
 * How a worker process is started (launcher, npm script, benchmarks): tsx's CommonJS hook in the one node process
 * (no tsx parent process, no ESM loader thread), a small young generation and few malloc arenas. Measured on a
 * million-row export these keep the worker's peak RSS some 40 MiB lower at the same speed. One arena rather than two
 * (glibc's own default is 8 per core): bench:export to S3 at 1,000,000 rows peaked at 249 / 235 MiB against 258 / 240
 * with two, gzip local at 210 / 211 against 221 / 221, at ratios within the runs' noise (S3 1.78x, 1.91x against
 * 1.74x, 1.81x; gzip 2.06x, 1.91x against 2.25x, 1.83x); bench:import at 100,000 rows, two runs each, 2.07x, 2.18x
 * against 1.89x, 1.93x, within that machine's noise too (its preview alone swung 1.8-2.9 s). A fixed mmap threshold
 * (glibc's default grows it with every large block freed, and the heap then keeps them) gives the S3 part buffers
 * back when a range ends: peak 255 / 256 MiB against 270 / 272 without, bench:export to S3 at 1,000,000 rows.
 */
export const WORKER_NODE_ARGS = ['--require', 'tsx/cjs', '--max-semi-space-size=8'] as const;
export const WORKER_ENV = { MALLOC_ARENA_MAX: '1', MALLOC_MMAP_THRESHOLD_: '131072' } as const;

/**
 * The one readiness wait of the dev machinery: calls `probe` every `intervalMs` until it resolves, and returns; throws
 * after `timeoutMs` with `what` and the last reason `probe` gave. Returns at once, without waiting further, when
 * `gone()` says the process being waited for has exited (its caller reports that exit), and throws StartAborted when
 * `aborted()` says the start was called off.
 */
export async function waitUntilReady(
  what: string,
  probe: () => Promise<void>,
  options: { timeoutMs: number; intervalMs: number; gone?: () => boolean; aborted?: () => boolean },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (options.gone?.()) return;
    if (options.aborted?.()) throw new StartAborted(what);
    try {
      await probe();
      return;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await sleep(options.intervalMs);
  }
  if (options.gone?.()) return;
  throw new Error(`${what} did not become ready within ${options.timeoutMs / 1000} s (${last})`);
}

/** Whether a process with this pid exists (EPERM: it does, and belongs to another user). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
