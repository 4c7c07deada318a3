import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { createApplication, createOperator } from '../../src/auth/accounts';
import { createDatabase } from '../../src/db/client';
import { applyMigrations } from '../../src/db/migrate';
import { createBenchDatabase, dropBenchDatabase, log, startProcess, waitUntil } from './processes';
import { getFreePort, stopChild, WORKER_ENV, WORKER_NODE_ARGS } from '../../dev/process-control';
import { startDevServer, type DevServer } from '../../dev/temporal-dev-server';

/**
 * `npm run bench:metrics -- [--rows N] [--scrapes K] [--interval-ms M]`
 *
 * How long `/metrics` takes to answer, on the API and on the worker (whose answer includes the Temporal SDK's metrics,
 * read from its exporter), while an import of N users (default 100,000) is validated and written, against a baseline:
 * the same scrapes with nothing running. Starts its own API and worker processes (as the launcher does, the worker
 * with a prebuilt workflow bundle) against a fresh database on the machine's Postgres and a Temporal dev server it
 * starts. Both endpoints are scraped one after the other every M ms (default 50: far more often than Prometheus
 * would), K times for the baseline (default 200) and for as long as the import runs; prints p50 / p95 / max in ms,
 * and checks that the worker's rows-written counter moved by N.
 */


const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '100000' },
    scrapes: { type: 'string', default: '200' },
    'interval-ms': { type: 'string', default: '50' },
  },
});
const ROWS = Number(args.rows);
const SCRAPES = Number(args.scrapes);
const INTERVAL_MS = Number(args['interval-ms']);
if (!Number.isInteger(ROWS) || ROWS < 1) throw new Error('--rows must be a positive whole number');
if (!Number.isInteger(SCRAPES) || SCRAPES < 1) throw new Error('--scrapes must be a positive whole number');

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function writeCsv(file: string, rows: number): Promise<void> {
  const out = fs.createWriteStream(file);
  out.write('vendor_data,display_name,email,country,status\n');
  let batch = '';
  for (let i = 0; i < rows; i++) {
    const n = String(i).padStart(7, '0');
    batch += `user-${n},User ${n},user${n}@example.com,ESP,ACTIVE\n`;
    if (batch.length > 1 << 20) {
      if (!out.write(batch)) await once(out, 'drain');
      batch = '';
    }
  }
  out.end(batch);
  await once(out, 'finish');
}


/** One scrape: the time to the last byte of the answer, and the answer. */
async function scrape(url: string): Promise<{ ms: number; text: string; bytes: number }> {
  const started = performance.now();
  const res = await fetch(url);
  const text = await res.text();
  const ms = performance.now() - started;
  if (res.status !== 200) throw new Error(`${url}: ${res.status}`);
  return { ms, text, bytes: Buffer.byteLength(text) };
}

interface Series {
  api: number[];
  worker: number[];
  /** When each round started (performance.now()). */
  at: number[];
  bytes: { api: number; worker: number };
}

/** Scrapes both endpoints every INTERVAL_MS until `until()` says stop (or `count` rounds are done). */
async function scrapeLoop(apiUrl: string, workerUrl: string, until: { count?: number; stop?: () => boolean }): Promise<Series> {
  const series: Series = { api: [], worker: [], at: [], bytes: { api: 0, worker: 0 } };
  for (let round = 0; until.count === undefined || round < until.count; round++) {
    if (until.stop?.()) break;
    series.at.push(performance.now());
    const a = await scrape(apiUrl);
    const w = await scrape(workerUrl);
    series.api.push(a.ms);
    series.worker.push(w.ms);
    series.bytes = { api: Math.max(series.bytes.api, a.bytes), worker: Math.max(series.bytes.worker, w.bytes) };
    await sleep(INTERVAL_MS);
  }
  return series;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}
const figures = (values: number[]) =>
  `p50 ${percentile(values, 50).toFixed(1)} ms, p95 ${percentile(values, 95).toFixed(1)} ms, max ${Math.max(...values).toFixed(1)} ms (${values.length} scrapes)`;

function rowsWritten(text: string): number {
  let total = 0;
  for (const match of text.matchAll(/^kyc_rows_written_total\{action="(created|updated|unchanged)"\} (\S+)$/gm)) total += Number(match[2]);
  return total;
}

async function main(): Promise<void> {
  const runId = `${process.pid}_${randomBytes(3).toString('hex')}`;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kyc-bench-'));
  const { name: dbName, url: databaseUrl } = await createBenchDatabase(runId);
  const children: ChildProcess[] = [];
  let temporalServer: DevServer | undefined;
  try {
    log(`database ${dbName}; generating a file of ${ROWS} rows`);
    await applyMigrations(databaseUrl);
    const file = path.join(tmp, 'users.csv');
    await writeCsv(file, ROWS);

    temporalServer = await startDevServer({ headless: true, log });
    const port = await getFreePort();
    const metricsPort = await getFreePort();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NODE_ENV: 'development',
      LOG_LEVEL: 'warn',
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: temporalServer.address,
      TEMPORAL_TASK_QUEUE: `bench-${runId}`,
      DATA_DIR: path.join(tmp, 'data'),
      PORT: String(port),
      WORKER_METRICS_PORT: String(metricsPort),
      IMPORT_MAX_ROWS: String(Math.max(ROWS, 100_000)),
    };
    const bundlePath = path.join(tmp, 'workflow-bundle.js');
    const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), logger: new DefaultLogger('WARN') });
    fs.writeFileSync(bundlePath, code);
    const workerEnv: NodeJS.ProcessEnv = { ...env, ...WORKER_ENV, LOG_LEVEL: 'info', WORKFLOW_BUNDLE_PATH: bundlePath };
    const { child: worker, ready: workerReady } = startProcess('worker', [...WORKER_NODE_ARGS, 'src/worker.ts'], workerEnv, 'worker started');
    const { child: apiProcess } = startProcess('api', ['--require', 'tsx/cjs', 'src/api/server.ts'], env);
    children.push(worker, apiProcess);
    const baseUrl = `http://127.0.0.1:${port}`;
    const apiUrl = `${baseUrl}/metrics`;
    const workerUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    await waitUntil(async () => ((await fetch(`${baseUrl}/healthz`)).ok ? true : undefined), 60_000, 200);
    await Promise.race([workerReady, new Promise((_, reject) => setTimeout(() => reject(new Error('worker did not start')), 180_000).unref())]);
    // The worker's answer has the SDK's metrics once it has polled.
    await waitUntil(async () => ((await scrape(workerUrl)).text.includes('temporal_num_pollers') ? true : undefined), 60_000, 200);

    const database = createDatabase(databaseUrl, { poolSize: 2 });
    const app = await createApplication(database.db, { name: 'bench' });
    const owner = await createOperator(database.db, { applicationId: app.id, email: 'bench@example.com', role: 'OWNER' });
    await database.close();
    const headers = { authorization: `Bearer ${owner.token}` };

    log(`baseline: ${SCRAPES} scrapes of each endpoint, nothing running`);
    // A few unmeasured first: the first answers warm up the handlers.
    await scrapeLoop(apiUrl, workerUrl, { count: 5 });
    const idle = await scrapeLoop(apiUrl, workerUrl, { count: SCRAPES });
    const rowsBefore = rowsWritten((await scrape(workerUrl)).text);

    log(`importing ${ROWS} rows while scraping`);
    let running = true;
    const busyPromise = scrapeLoop(apiUrl, workerUrl, { stop: () => !running });
    const t0 = performance.now();
    const form = new FormData();
    form.append('file', await fs.openAsBlob(file), 'users.csv');
    const uploaded = await fetch(`${baseUrl}/console/users/imports`, { method: 'POST', headers, body: form });
    const created = (await uploaded.json()) as { id: string };
    if (uploaded.status !== 202) throw new Error(`upload: ${uploaded.status} ${JSON.stringify(created)}`);
    const get = async () => (await (await fetch(`${baseUrl}/console/users/imports/${created.id}`, { headers })).json()) as Record<string, any>;
    const preview = await waitUntil(async () => {
      const body = await get();
      return body.status === 'VALIDATING' ? undefined : body;
    }, 600_000, 100);
    if (preview.status !== 'AWAITING_CONFIRMATION') throw new Error(`preview: ${JSON.stringify(preview)}`);
    const tPreview = performance.now();
    const confirm = await fetch(`${baseUrl}/console/users/imports/${created.id}/confirm`, { method: 'POST', headers });
    if (confirm.status !== 202) throw new Error(`confirm: ${confirm.status} ${await confirm.text()}`);
    const done = await waitUntil(async () => {
      const body = await get();
      return ['COMPLETED', 'COMPLETED_WITH_ERRORS', 'FAILED', 'CANCELLED'].includes(body.status) ? body : undefined;
    }, 3_600_000, 100);
    const importMs = performance.now() - t0;
    running = false;
    const busy = await busyPromise;
    const rowsAfter = await waitUntil(async () => {
      const rows = rowsWritten((await scrape(workerUrl)).text);
      return rows - rowsBefore >= ROWS ? rows : undefined;
    }, 30_000, 100).catch(async () => rowsWritten((await scrape(workerUrl)).text));

    const during = (values: number[], from: number, to: number) => values.filter((_, i) => busy.at[i] >= from && busy.at[i] < to);
    const phases = (values: number[]) => {
      const validating = during(values, t0, tPreview);
      const writing = during(values, tPreview, Infinity);
      return [validating.length ? `validating ${figures(validating)}` : '', writing.length ? `writing ${figures(writing)}` : ''];
    };
    const lines = [
      `== /metrics while an import of ${ROWS.toLocaleString('en-US')} rows runs (${done.status} in ${(importMs / 1000).toFixed(2)} s) ==`,
      `API     baseline   ${figures(idle.api)}`,
      `API     importing  ${figures(busy.api)}`,
      ...phases(busy.api).map((line) => `          ${line}`),
      `worker  baseline   ${figures(idle.worker)}`,
      `worker  importing  ${figures(busy.worker)}`,
      ...phases(busy.worker).map((line) => `          ${line}`),
      `answer size        API ${(busy.bytes.api / 1024).toFixed(1)} KiB, worker ${(busy.bytes.worker / 1024).toFixed(1)} KiB (with the Temporal SDK's metrics)`,
      `rows written       kyc_rows_written_total moved by ${rowsAfter - rowsBefore} (expected ${ROWS})`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    for (const child of children) await stopChild(child, { signal: 'SIGTERM', timeoutMs: 20_000 });
    await temporalServer?.stop();
    await dropBenchDatabase(dbName);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
