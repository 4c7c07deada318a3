import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { canConnect, getFreePort, OutputTail, stopChild, waitUntilReady } from '../../dev/process-control';
import { S3Storage, type S3Settings } from '../../src/storage/s3';

/**
 * A real S3-compatible server on loopback for the tests: versitygw with its `posix` backend on a temporary
 * directory, on a free port, checking SigV4 with root keys given on its command line. Found like the Temporal
 * CLI: PATH, then $(go env GOPATH)/bin (install: `go install github.com/versity/versitygw/cmd/versitygw@v1.7.0`).
 */

export const S3_ACCESS_KEY = 'test-access-key';
export const S3_SECRET_KEY = 'test-secret-key-0123456789';

function executable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

export function findVersitygw(): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && executable(path.join(dir, 'versitygw'))) return path.join(dir, 'versitygw');
  }
  try {
    const gopath = execFileSync('go', ['env', 'GOPATH'], { encoding: 'utf8', timeout: 30_000 }).trim().split(path.delimiter)[0];
    if (gopath && executable(path.join(gopath, 'bin', 'versitygw'))) return path.join(gopath, 'bin', 'versitygw');
  } catch {
    // no Go
  }
  throw new Error('versitygw not found: go install github.com/versity/versitygw/cmd/versitygw@v1.7.0');
}

export interface S3TestServer {
  endpoint: string;
  port: number;
  dir: string;
  /** The S3_* settings of a bucket on this server (created by `bucket()`). */
  settings(bucket: string): S3Settings;
  /** Creates a bucket and returns the environment that points the service at it. */
  bucket(name?: string): Promise<{ bucket: string; env: Record<string, string> }>;
  /** Stops the server (SIGTERM), keeping its directory; `start()` brings it back on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops it and removes its directory. */
  close(): Promise<void>;
}

export async function startS3Server(): Promise<S3TestServer> {
  const binary = findVersitygw();
  const dir = fs.mkdtempSync(path.join(tmpdir(), 'kyc-s3-'));
  const port = await getFreePort();
  let child: ChildProcess | undefined;
  const tail = new OutputTail();

  const start = async () => {
    child = spawn(binary, ['--port', `127.0.0.1:${port}`, '--access', S3_ACCESS_KEY, '--secret', S3_SECRET_KEY, '--quiet', 'posix', dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (chunk: Buffer) => tail.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => tail.push(chunk));
    child.on('error', () => undefined);
    const started = child;
    const gone = () => started.exitCode !== null || started.signalCode !== null;
    await waitUntilReady(
      `versitygw on port ${port}`,
      async () => {
        if (!(await canConnect('127.0.0.1', port, 500))) throw new Error('nothing listens yet');
      },
      { timeoutMs: 15_000, intervalMs: 50, gone },
    ).catch((err: unknown) => {
      throw new Error(`${err instanceof Error ? err.message : String(err)}:\n${tail.toString()}`);
    });
    if (gone()) throw new Error(`versitygw did not start on port ${port}:\n${tail.toString()}`);
  };
  const stop = async () => {
    if (child) await stopChild(child, { signal: 'SIGTERM', timeoutMs: 5000 });
    child = undefined;
  };
  await start();

  const endpoint = `http://127.0.0.1:${port}`;
  const settings = (bucket: string): S3Settings => ({
    bucket,
    endpoint,
    region: 'us-east-1',
    accessKeyId: S3_ACCESS_KEY,
    secretAccessKey: S3_SECRET_KEY,
    forcePathStyle: true,
  });
  let buckets = 0;
  return {
    endpoint,
    port,
    dir,
    settings,
    async bucket(name = `bucket-${process.pid}-${++buckets}`) {
      const storage = new S3Storage(settings(name));
      await storage.ensureBucket();
      storage.close();
      return {
        bucket: name,
        env: {
          S3_BUCKET: name,
          S3_ENDPOINT: endpoint,
          S3_REGION: 'us-east-1',
          S3_ACCESS_KEY_ID: S3_ACCESS_KEY,
          S3_SECRET_ACCESS_KEY: S3_SECRET_KEY,
          S3_FORCE_PATH_STYLE: 'true',
        },
      };
    },
    stop,
    start,
    async close() {
      await stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
