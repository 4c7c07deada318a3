import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { Client as TemporalClient, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { Client as PgClient } from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { createApplication, createOperator } from '../../src/auth/accounts';
import { createDatabase } from '../../src/db/client';
import { applyMigrations } from '../../src/db/migrate';
import { getFreePort, OutputTail, sleep, stopChild, WORKER_ENV, WORKER_NODE_ARGS } from '../../dev/process-control';
import { startDevServer, type DevServer } from '../../dev/temporal-dev-server';
import { startS3Server, type S3TestServer } from '../helpers/s3-server';

/**
 * `npm run bench:export -- --rows N [--format csv|ndjson] [--gzip] [--storage local|s3|both] [--repeat K]
 *   [--concurrency C] [--part-rows R] [--incremental P]`
 *
 * Seeds N users into a fresh database on the machine's Postgres (one INSERT ... SELECT over generate_series), starts
 * a Temporal dev server, the API and a worker as processes of their own (and versitygw on loopback for S3), exports
 * every column through the HTTP API (as `--format`, default csv; gzip-compressed with `--gzip`) and waits for
 * COMPLETED, then downloads the file and checks its SHA-256. It prints the time, rows per second and the worker's
 * peak RSS (sampled during the export, and its lifetime high-water mark), and in the same run the raw baseline:
 * COPY (SELECT <the same columns> ... ORDER BY created_at, id) TO STDOUT WITH CSV into a file (for every format: the
 * targets of NDJSON and gzip are given against it), measured right before and right after each export (the machine is
 * shared: the ratio is taken against their mean), with the ratio. `--repeat K` exports K times per storage and also
 * prints the median ratio.
 * The worker is given a prebuilt workflow bundle (as a deployment would), so its memory is the export's and not
 * webpack's. It starts as the launcher starts it (WORKER_NODE_ARGS, WORKER_ENV); BENCH_WORKER_NODE_OPTIONS and
 * BENCH_MALLOC_ARENA_MAX and BENCH_MALLOC_MMAP_THRESHOLD add NODE_OPTIONS / replace MALLOC_ARENA_MAX and
 * MALLOC_MMAP_THRESHOLD_, to try other memory settings.
 *
 * `--incremental P` (on the first storage, after its exports): an incremental export schedule is created and triggered
 * through its Temporal Schedule once (its first file holds every user), then P% of the users are updated and it is
 * triggered again: that run is timed from the trigger to COMPLETED, against the baseline of the same COPY restricted
 * to the changed users (`updated_at` after the first run's snapshot). Target (issue 12): within 1 s + 1.5x of it.
 */

const ROOT = path.resolve(__dirname, '../..');
const ADMIN_URL = process.env.BENCH_ADMIN_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '100000' },
    storage: { type: 'string', default: 'both' },
    concurrency: { type: 'string' },
    'part-rows': { type: 'string' },
    repeat: { type: 'string', default: '1' },
    incremental: { type: 'string' },
    format: { type: 'string', default: 'csv' },
    gzip: { type: 'boolean', default: false },
  },
});
const FORMAT = args.format!;
if (FORMAT !== 'csv' && FORMAT !== 'ndjson') throw new Error('--format is csv or ndjson');
const GZIP = args.gzip === true;
/** The export request's body: every column, the format, gzip. */
const EXPORT_BODY = { format: FORMAT, ...(GZIP ? { gzip: true } : {}) };
const FORMAT_LABEL = `${FORMAT}${GZIP ? '+gzip' : ''}`;
const REPEAT = Math.max(1, Number(args.repeat));
const ROWS = Number(args.rows);
if (!Number.isInteger(ROWS) || ROWS < 1) throw new Error('--rows must be a positive whole number');
const STORAGES = args.storage === 'both' ? ['local', 's3'] : [args.storage!];
if (!STORAGES.every((s) => s === 'local' || s === 's3')) throw new Error('--storage is local, s3 or both');

const COLUMNS =
  'id, vendor_data, display_name, full_name, date_of_birth, email, phone, country, status, tags, metadata, ' +
  'session_count, approved_count, declined_count, in_review_count, created_at, updated_at';

const log = (message: string) => process.stderr.write(`[bench] ${message}\n`);
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const perSecond = (ms: number) => `${Math.round(ROWS / (ms / 1000)).toLocaleString('en-US')} rows/s`;
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;

/** VmRSS and VmHWM of a process, in bytes (0 when it is gone). */
function memoryOf(pid: number): { rss: number; hwm: number } {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return { rss: 0, hwm: 0 };
  }
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

async function adminQuery(sql: string): Promise<void> {
  const client = new PgClient({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

interface Proc {
  child: ChildProcess;
  output: OutputTail;
}

/**
 * Runs a TypeScript entry point in one node process with tsx's CommonJS hook (`node --require tsx/cjs`): no tsx parent
 * process, so /proc shows the service's own memory, and no ESM loader thread (which `tsx file.ts` adds, ~35 MB).
 */
function startProcess(entry: string, env: NodeJS.ProcessEnv): Proc {
  const output = new OutputTail(64 * 1024);
  const nodeArgs = entry === 'src/worker.ts' ? WORKER_NODE_ARGS : ['--require', 'tsx/cjs'];
  const child = spawn(process.execPath, [...nodeArgs, entry], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk));
  child.on('error', () => undefined);
  return { child, output };
}

async function waitUntil(what: string, check: () => Promise<boolean> | boolean, proc?: Proc, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (proc && proc.child.exitCode !== null) throw new Error(`${what}: the process exited\n${proc.output.toString()}`);
    if (Date.now() > deadline) throw new Error(`${what}: timed out${proc ? `\n${proc.output.toString()}` : ''}`);
    await sleep(50);
  }
}

async function http(baseUrl: string, method: string, urlPath: string, token: string, body?: unknown): Promise<any> {
  const res = await fetch(`${baseUrl}${urlPath}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  if (res.status >= 300) throw new Error(`${method} ${urlPath}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** The baseline: Postgres writing the same columns as CSV, in the same order, into a file. */
async function baseline(databaseUrl: string, applicationId: string, file: string, changedAfter?: string): Promise<{ ms: number; bytes: number }> {
  const client = new PgClient({ connectionString: databaseUrl });
  await client.connect();
  try {
    const started = performance.now();
    const changed = changedAfter ? ` AND updated_at > '${changedAfter}'` : '';
    const copy = client.query(
      copyTo(
        `COPY (SELECT ${COLUMNS} FROM users WHERE application_id = '${applicationId}'${changed} ORDER BY created_at, id) TO STDOUT WITH (FORMAT csv, HEADER)`,
      ),
    );
    await pipeline(copy, fs.createWriteStream(file));
    return { ms: performance.now() - started, bytes: fs.statSync(file).size };
  } finally {
    await client.end();
  }
}

interface RunResult {
  storage: string;
  ms: number;
  baseBefore: number;
  baseAfter: number;
  rowCount: number;
  fileBytes: number;
  peakRss: number;
  hwm: number;
  idleRss: number;
  phases: string;
}

/** Where the time went, from the workflow's history: each activity type's span (first scheduled to last closed). */
async function phasesOf(address: string, workflowId: string): Promise<string> {
  const connection = await Connection.connect({ address });
  try {
    const client = new TemporalClient({ connection });
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    const events = history.events ?? [];
    const ms = (t: unknown) => {
      const time = t as { seconds?: { toNumber(): number } | number; nanos?: number };
      const seconds = typeof time.seconds === 'number' ? time.seconds : (time.seconds?.toNumber() ?? 0);
      return seconds * 1000 + (time.nanos ?? 0) / 1e6;
    };
    const start = ms(events[0].eventTime);
    const scheduled = new Map<string, string>();
    const spans = new Map<string, { from: number; to: number; count: number }>();
    for (const event of events) {
      const attrs = event.activityTaskScheduledEventAttributes;
      if (attrs) scheduled.set(String(event.eventId), attrs.activityType?.name ?? '?');
      const closed = event.activityTaskCompletedEventAttributes ?? event.activityTaskFailedEventAttributes;
      if (closed) {
        const type = scheduled.get(String(closed.scheduledEventId)) ?? '?';
        const scheduledEvent = events.find((e) => String(e.eventId) === String(closed.scheduledEventId));
        const from = ms(scheduledEvent!.eventTime) - start;
        const to = ms(event.eventTime) - start;
        const span = spans.get(type);
        spans.set(type, span ? { from: Math.min(span.from, from), to: Math.max(span.to, to), count: span.count + 1 } : { from, to, count: 1 });
      }
    }
    const end = ms(events[events.length - 1].eventTime) - start;
    const parts = [...spans.entries()].map(([type, s]) => `${type}${s.count > 1 ? `×${s.count}` : ''} ${Math.round(s.from)}-${Math.round(s.to)}`);
    return `${parts.join(', ')}; workflow closed at ${Math.round(end)} ms (${events.length} history events)`;
  } finally {
    await connection.close();
  }
}

interface IncrementalResult {
  percent: number;
  changed: number;
  rowCount: number;
  ms: number;
  baseBefore: number;
  baseAfter: number;
}

/** See `--incremental` above: the second run of an incremental schedule, over `percent`% of the users changed. */
async function incrementalRun(params: {
  baseUrl: string;
  token: string;
  temporalAddress: string;
  databaseUrl: string;
  applicationId: string;
  percent: number;
  tmp: string;
  worker: Proc;
}): Promise<IncrementalResult> {
  const { baseUrl, token } = params;
  const schedule = await http(baseUrl, 'POST', '/console/users/export-schedules', token, {
    name: 'bench incremental',
    every: '366d',
    incremental: true,
    ...EXPORT_BODY,
  });
  const connection = await Connection.connect({ address: params.temporalAddress });
  try {
    const handle = new TemporalClient({ connection }).schedule.getHandle(schedule.temporal_schedule_id);
    /** Triggers a run and waits for its export (a new last_export_id) to be COMPLETED. */
    const run = async (previous: string | null) => {
      await handle.trigger();
      let exportId: string | null = null;
      await waitUntil(
        'scheduled run',
        async () => {
          const now = await http(baseUrl, 'GET', `/console/users/export-schedules/${schedule.id}`, token);
          if (!now.last_export_id || now.last_export_id === previous) return false;
          exportId = now.last_export_id;
          const exp = await http(baseUrl, 'GET', `/console/users/exports/${exportId}`, token);
          if (exp.status === 'FAILED') throw new Error(`scheduled export failed: ${JSON.stringify(exp.error)}`);
          return exp.status === 'COMPLETED';
        },
        params.worker,
        30 * 60_000,
      );
      return http(baseUrl, 'GET', `/console/users/exports/${exportId!}`, token);
    };
    const first = await run(null);
    const pg = new PgClient({ connectionString: params.databaseUrl });
    await pg.connect();
    let changed: number;
    try {
      const every = Math.max(1, Math.round(100 / params.percent));
      changed = (await pg.query(`UPDATE users SET display_name = display_name || ' (changed)', updated_at = now() WHERE application_id = $1 AND (hashtext(vendor_data) & 2147483647) % $2 = 0`, [params.applicationId, every])).rowCount ?? 0;
      // A run's snapshot is a second in the past: wait until these updates are older than that.
      await waitUntil('the updates to age a second', async () => (await pg.query(`SELECT max(updated_at) < clock_timestamp() - interval '1.1 second' AS ok FROM users WHERE application_id = $1`, [params.applicationId])).rows[0].ok === true);
    } finally {
      await pg.end();
    }
    const changedAfter = new Date(first.snapshot_at).toISOString();
    const file = path.join(params.tmp, 'baseline-incremental.csv');
    const baseBefore = (await baseline(params.databaseUrl, params.applicationId, file, changedAfter)).ms;
    const started = performance.now();
    const second = await run(first.id);
    const ms = performance.now() - started;
    const baseAfter = (await baseline(params.databaseUrl, params.applicationId, file, changedAfter)).ms;
    if (second.row_count !== changed) throw new Error(`the incremental run holds ${second.row_count} rows, ${changed} were changed`);
    return { percent: params.percent, changed, rowCount: second.row_count, ms, baseBefore, baseAfter };
  } finally {
    await http(baseUrl, 'DELETE', `/console/users/export-schedules/${schedule.id}`, token).catch(() => undefined);
    await connection.close();
  }
}

async function exportRun(params: {
  storage: 'local' | 's3';
  databaseUrl: string;
  temporalAddress: string;
  bundlePath: string;
  token: string;
  tmp: string;
  s3?: S3TestServer;
  baseline: () => Promise<number>;
  /** --incremental P: also the incremental run (see incrementalRun) before the processes stop. */
  incremental?: { percent: number; applicationId: string; onResult: (result: IncrementalResult) => void };
}): Promise<RunResult[]> {
  const port = await getFreePort();
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    DATABASE_URL: params.databaseUrl,
    TEMPORAL_ADDRESS: params.temporalAddress,
    TEMPORAL_TASK_QUEUE: `bench-export-${params.storage}-${process.pid}`,
    PORT: String(port),
    PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
    DATA_DIR: path.join(params.tmp, `data-${params.storage}`),
    LINK_SIGNING_SECRET: 'bench-signing-secret',
    WORKFLOW_BUNDLE_PATH: params.bundlePath,
    RETENTION_INTERVAL: '24h',
    ...(process.env.BENCH_WORKER_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_WORKER_NODE_OPTIONS } : {}),
    MALLOC_ARENA_MAX: process.env.BENCH_MALLOC_ARENA_MAX ?? WORKER_ENV.MALLOC_ARENA_MAX,
    MALLOC_MMAP_THRESHOLD_: process.env.BENCH_MALLOC_MMAP_THRESHOLD ?? WORKER_ENV.MALLOC_MMAP_THRESHOLD_,
    ...(args.concurrency ? { EXPORT_CONCURRENCY: args.concurrency } : {}),
    ...(args['part-rows'] ? { EXPORT_PART_ROWS: args['part-rows'] } : {}),
  };
  if (params.storage === 's3') {
    const { env: s3Env } = await params.s3!.bucket(`bench-${process.pid}`);
    Object.assign(env, s3Env);
  }
  const api = startProcess('src/api/server.ts', env);
  const worker = startProcess('src/worker.ts', env);
  const baseUrl = `http://127.0.0.1:${port}`;
  try {
    await waitUntil('API', async () => (await fetch(`${baseUrl}/healthz`).catch(() => undefined))?.ok === true, api);
    await waitUntil('worker', () => worker.output.toString().includes('retention schedule'), worker);

    // A first, empty export: connections and caches are warm for the timed one (as in a running service).
    const warm = await http(baseUrl, 'POST', '/console/users/exports', params.token, { filters: { tags: ['no-such-tag'] } });
    await waitUntil('warm-up export', async () => (await http(baseUrl, 'GET', `/console/users/exports/${warm.id}`, params.token)).status === 'COMPLETED', worker);

    const pid = worker.child.pid!;
    const results: RunResult[] = [];
    for (let round = 0; round < REPEAT; round++) {
      const baseBefore = await params.baseline();
      const idleRss = memoryOf(pid).rss;
      let peakRss = idleRss;
      const sampler = setInterval(() => {
        peakRss = Math.max(peakRss, memoryOf(pid).rss);
      }, 25);
      const started = performance.now();
      const created = await http(baseUrl, 'POST', '/console/users/exports', params.token, EXPORT_BODY);
      let done: any;
      await waitUntil(
        'export',
        async () => {
          done = await http(baseUrl, 'GET', `/console/users/exports/${created.id}`, params.token);
          if (done.status === 'FAILED') throw new Error(`export failed: ${JSON.stringify(done.error)}\n${worker.output.toString()}`);
          return done.status === 'COMPLETED';
        },
        worker,
        30 * 60_000,
      );
      const ms = performance.now() - started;
      clearInterval(sampler);
      peakRss = Math.max(peakRss, memoryOf(pid).rss);
      const hwm = memoryOf(pid).hwm;
      const baseAfter = await params.baseline();

      // Download it (local: through the API's signed link; S3: the presigned link) and check size and SHA-256.
      const res = await fetch(done.download_url);
      if (!res.ok || !res.body) throw new Error(`download: ${res.status}`);
      const hash = createHash('sha256');
      let bytes = 0;
      await pipeline(
        res.body as unknown as NodeJS.ReadableStream,
        new Transform({
          transform(chunk: Buffer, _enc, callback) {
            hash.update(chunk);
            bytes += chunk.length;
            callback();
          },
        }),
      );
      if (hash.digest('hex') !== done.file_sha256 || bytes !== done.file_bytes) {
        throw new Error('the downloaded file does not match the export object');
      }
      if (done.row_count !== ROWS) throw new Error(`row_count ${done.row_count}, expected ${ROWS}`);
      const phases = await phasesOf(params.temporalAddress, done.workflow_id);
      results.push({
        storage: params.storage,
        ms,
        baseBefore,
        baseAfter,
        rowCount: done.row_count,
        fileBytes: done.file_bytes,
        peakRss,
        hwm,
        idleRss,
        phases,
      });
    }
    if (params.incremental) {
      const { percent, applicationId, onResult } = params.incremental;
      onResult(await incrementalRun({ baseUrl, token: params.token, temporalAddress: params.temporalAddress, databaseUrl: params.databaseUrl, applicationId, percent, tmp: params.tmp, worker }));
    }
    return results;
  } finally {
    await stopChild(api.child, { signal: 'SIGTERM', timeoutMs: 15_000 });
    await stopChild(worker.child, { signal: 'SIGTERM', timeoutMs: 30_000 });
  }
}

async function main(): Promise<void> {
  const database = `kyc_bench_export_${process.pid}_${randomBytes(3).toString('hex')}`;
  const databaseUrl = withDatabase(ADMIN_URL, database);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kyc-bench-export-'));
  let temporal: DevServer | undefined;
  let s3: S3TestServer | undefined;
  try {
    log(`database ${database}; ${ROWS.toLocaleString('en-US')} rows; ${FORMAT_LABEL}; storage ${STORAGES.join(', ')}; ${os.cpus().length} cores`);
    await adminQuery(`CREATE DATABASE "${database}"`);
    await applyMigrations(databaseUrl);
    const [server, bundle] = await Promise.all([
      startDevServer({ headless: true, log }),
      bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), logger: new DefaultLogger('WARN') }),
    ]);
    temporal = server;
    const bundlePath = path.join(tmp, 'workflow-bundle.js');
    fs.writeFileSync(bundlePath, bundle.code);
    if (STORAGES.includes('s3')) s3 = await startS3Server();

    const db = createDatabase(databaseUrl, { poolSize: 2 });
    const application = await createApplication(db.db, { name: 'bench' });
    const owner = await createOperator(db.db, { applicationId: application.id, email: 'owner@bench.test', role: 'OWNER' });
    await db.close();

    const seedStarted = performance.now();
    const pg = new PgClient({ connectionString: databaseUrl });
    await pg.connect();
    await pg.query('SET synchronous_commit = off');
    await pg.query(
      `INSERT INTO users (application_id, vendor_data, vendor_data_key, display_name, full_name, date_of_birth, email, phone,
                          country, status, tags, metadata, session_count, approved_count, created_at, updated_at)
       SELECT $1::uuid, 'User-' || g, 'user-' || g, 'Display ' || g, 'Full Name ' || g, date '1950-01-01' + (g % 20000),
              'user' || g || '@example.com', '+3460' || lpad((g % 10000000)::text, 7, '0'),
              (ARRAY['ESP','FRA','DEU','USA','GBR'])[1 + g % 5], (ARRAY['ACTIVE','FLAGGED','BLOCKED'])[1 + g % 3],
              CASE WHEN g % 4 = 0 THEN ARRAY['vip','eu'] ELSE ARRAY['new'] END,
              jsonb_build_object('plan', 'pro', 'seq', g), g % 7, g % 3,
              timestamptz '2024-01-01' + make_interval(secs => g * 0.01), now()
       FROM generate_series(1, $2::int) g`,
      [application.id, ROWS],
    );
    await pg.query('ANALYZE users');
    await pg.end();
    log(`seeded ${ROWS.toLocaleString('en-US')} users in ${seconds(performance.now() - seedStarted)}`);

    const measureBaseline = async () => (await baseline(databaseUrl, application.id, path.join(tmp, 'baseline.csv'))).ms;
    const first = await baseline(databaseUrl, application.id, path.join(tmp, 'baseline.csv'));
    log(`baseline COPY: ${seconds(first.ms)}, ${mb(first.bytes)}`);

    const results: RunResult[] = [];
    let incremental: IncrementalResult | undefined;
    const percent = args.incremental ? Number(args.incremental) : undefined;
    if (percent !== undefined && !(percent > 0 && percent <= 100)) throw new Error('--incremental is a percentage, 0 to 100');
    for (const storage of STORAGES as ('local' | 's3')[]) {
      log(`export to ${storage}...`);
      results.push(
        ...(await exportRun({
          storage,
          databaseUrl,
          temporalAddress: server.address,
          bundlePath,
          token: owner.token,
          tmp,
          s3,
          baseline: measureBaseline,
          incremental:
            percent !== undefined && storage === STORAGES[0]
              ? { percent, applicationId: application.id, onResult: (r) => (incremental = r) }
              : undefined,
        })),
      );
    }

    const ratioOf = (r: RunResult) => r.ms / ((r.baseBefore + r.baseAfter) / 2);
    const lines = [
      '',
      `Export of ${ROWS.toLocaleString('en-US')} users as ${FORMAT_LABEL}, every column (${os.cpus().length} cores); baseline: COPY (SELECT the same columns ` +
        `... ORDER BY created_at, id) TO STDOUT WITH CSV into a file, ${mb(first.bytes)}, measured before and after each export`,
    ];
    for (const r of results) {
      lines.push(
        `  ${r.storage.padEnd(5)} ${seconds(r.ms)} (${perSecond(r.ms)}), ${mb(r.fileBytes)}; baseline ${seconds(r.baseBefore)} / ${seconds(r.baseAfter)}; ` +
          `ratio ${ratioOf(r).toFixed(2)}x; worker RSS peak ${mb(r.peakRss)} (idle before ${mb(r.idleRss)}, lifetime high-water ${mb(r.hwm)})`,
      );
      lines.push(`        phases (ms from workflow start): ${r.phases}`);
    }
    for (const storage of STORAGES) {
      const ratios = results.filter((r) => r.storage === storage).map(ratioOf).sort((a, b) => a - b);
      const peak = Math.max(...results.filter((r) => r.storage === storage).map((r) => r.peakRss));
      lines.push(
        `  ${storage}: median ratio ${ratios[Math.floor(ratios.length / 2)].toFixed(2)}x over ${ratios.length} run(s) ` +
          `(${ratios.map((x) => x.toFixed(2)).join(', ')}); worker RSS peak ${mb(peak)}`,
      );
    }
    if (incremental) {
      const base = (incremental.baseBefore + incremental.baseAfter) / 2;
      lines.push(
        `  incremental (${STORAGES[0]}): ${incremental.percent}% changed, ${incremental.rowCount.toLocaleString('en-US')} rows; trigger -> COMPLETED ${seconds(incremental.ms)}; ` +
          `baseline COPY of those rows ${seconds(incremental.baseBefore)} / ${seconds(incremental.baseAfter)}; target 1 s + 1.5x = ${seconds(1000 + 1.5 * base)}: ` +
          `${incremental.ms <= 1000 + 1.5 * base ? 'met' : 'missed'}`,
      );
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await s3?.close().catch(() => undefined);
    await temporal?.stop().catch(() => undefined);
    await adminQuery(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`).catch(() => undefined);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
