import { execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { Client as TemporalClient, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { Client as PgClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { pipeline } from 'node:stream/promises';
import ExcelJS from 'exceljs';
import iconv from 'iconv-lite';
import { createApplication, createOperator } from '../../src/auth/accounts';
import { IMPORT_ENCODINGS, type ImportEncoding } from '../../src/imports/options';
import { createDatabase } from '../../src/db/client';
import { applyMigrations } from '../../src/db/migrate';
import { createBenchDatabase, dropBenchDatabase, log, startProcess, waitUntil } from './processes';
import { getFreePort, stopChild, WORKER_ENV, WORKER_NODE_ARGS } from '../../dev/process-control';
import { startDevServer, type DevServer } from '../../dev/temporal-dev-server';
import { importWorkflowId, undoImportWorkflowId } from '../../workflows/import-definitions';

/**
 * `npm run bench:import -- --rows N [--mode create|update|both] [--chunk-rows R] [--concurrency C] [--format csv|xlsx|ndjson]
 *   [--encoding E] [--delimiter comma|semicolon|tab|pipe] [--undo | --webhook]`
 *
 * Starts its own API and worker processes against a fresh database on the machine's Postgres and a Temporal dev
 * server it starts, imports a generated file of N users through the HTTP API (upload, preview ready, confirm,
 * completed), then a second file that changes every one of them (updates), and prints each phase's time, rows per
 * second, the worker's peak RSS and the history event counts. In the same run it measures the raw baseline on the
 * same files: COPY into a temporary table, then one INSERT ... ON CONFLICT upsert, and prints the ratio.
 * The API and the worker start as the launcher starts them (WORKER_NODE_ARGS, WORKER_ENV); the worker gets a prebuilt
 * workflow bundle (WORKFLOW_BUNDLE_PATH, as a deployment would) unless `--worker bundling`, so its memory is the
 * import's and not webpack's. The machine is shared: compare the ratio, not the absolute times.
 *
 * `--undo` (with the update mode) measures what undo costs. The update is then run twice, each file changing every
 * user: first through a second API process with IMPORT_UNDO_DAYS=0 (undo off: the chunks record no before-images),
 * then through the usual one (before-images recorded), and the write phases are compared. Then the second update is
 * undone, timed from the POST to UNDONE, against that import's write phase; every user must be back at the first
 * update's values. Then one more update without before-images: the cost is taken against the mean of the two without.
 *
 * `--webhook` measures what webhook delivery adds to an import (issue 13): three updates, the second with a webhook
 * subscription for every event to a receiver on loopback (WEBHOOK_ALLOW_PRIVATE=true), the first and the third without
 * one; the import's total (upload to preview, confirm to done) with the receiver is compared with the mean of the two
 * without, and the receiver must have got that import's events. In both modes each import starts from a freshly
 * vacuumed users table.
 */

const ROOT = path.resolve(__dirname, '../..');
const execFileAsync = promisify(execFile);

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '100000' },
    mode: { type: 'string', default: 'both' },
    'chunk-rows': { type: 'string' },
    concurrency: { type: 'string' },
    /** `prebuilt` (default): src/worker.ts (tsx) with a workflow bundle built before it starts (WORKFLOW_BUNDLE_PATH);
     *  `bundling`: src/worker.ts bundling the workflows in-process at start; `compiled`: the API and the worker from
     *  the production build (dist/, compiled by this run) with a prebuilt bundle, as the Docker image runs them. */
    worker: { type: 'string', default: 'prebuilt' },
    /** The format of the file imported: csv (default), xlsx or ndjson. The baseline always COPYs the UTF-8 CSV. */
    format: { type: 'string', default: 'csv' },
    /** The encoding of a csv file imported: utf-8 (default), utf-16le, utf-16be, windows-1252, iso-8859-1. */
    encoding: { type: 'string', default: 'utf-8' },
    /** The delimiter of a csv file imported: comma (default), semicolon (European Excel), tab or pipe. */
    delimiter: { type: 'string', default: 'comma' },
    undo: { type: 'boolean', default: false },
    webhook: { type: 'boolean', default: false },
  },
});
type BenchFormat = 'csv' | 'xlsx' | 'ndjson';
const FORMAT = args.format as BenchFormat;
if (!['csv', 'xlsx', 'ndjson'].includes(FORMAT)) throw new Error('--format must be csv, xlsx or ndjson');
const ENCODING = args.encoding as ImportEncoding;
if (!(IMPORT_ENCODINGS as readonly string[]).includes(ENCODING)) throw new Error(`--encoding must be one of ${IMPORT_ENCODINGS.join(', ')}`);
if (FORMAT !== 'csv' && ENCODING !== 'utf-8') throw new Error('--encoding applies to csv only');
const DELIMITERS: Record<string, string> = { comma: ',', semicolon: ';', tab: '\t', pipe: '|' };
const DELIMITER = DELIMITERS[args.delimiter!];
if (DELIMITER === undefined) throw new Error(`--delimiter must be one of ${Object.keys(DELIMITERS).join(', ')}`);
if (FORMAT !== 'csv' && DELIMITER !== ',') throw new Error('--delimiter applies to csv only');
/** How the imported files are labelled: the format, and a csv's encoding and delimiter. */
const FILE_LABEL = FORMAT === 'csv' ? `csv ${ENCODING}${DELIMITER === ',' ? '' : ` ${args.delimiter}-delimited`}` : FORMAT;
const ROWS = Number(args.rows);
if (!Number.isInteger(ROWS) || ROWS < 1) throw new Error('--rows must be a positive whole number');
const MODES = args.mode === 'both' ? ['create', 'update'] : [args.mode!];
if (args.undo && !MODES.includes('update')) throw new Error('--undo needs the update mode');
if (args.webhook && args.undo) throw new Error('--webhook and --undo are measured in runs of their own');

/** One import of the run: the file version it imports and whether its API process records undo before-images. */
interface Phase {
  name: string;
  version: number;
  undoOff: boolean;
  /** --webhook: a subscription to every event is in place while this import runs. */
  webhook?: boolean;
}
const PHASES: Phase[] = args.webhook
  ? [
      { name: 'create', version: 1, undoOff: false },
      { name: 'update, no webhook', version: 2, undoOff: false },
      { name: 'update, webhook receiver subscribed', version: 3, undoOff: false, webhook: true },
      { name: 'update, no webhook again', version: 4, undoOff: false },
    ]
  : [
  // --undo compares two updates: the users they update must exist first.
  ...(MODES.includes('create') || args.undo ? [{ name: 'create', version: 1, undoOff: false }] : []),
  ...(MODES.includes('update')
    ? args.undo
      ? [
          { name: 'update, undo off (no before-images)', version: 2, undoOff: true },
          { name: 'update, before-images recorded', version: 3, undoOff: false },
        ]
      : [{ name: 'update', version: 2, undoOff: false }]
    : []),
];

const HEADER = 'vendor_data,display_name,full_name,email,phone,country,status,tags,metadata_json';
const COUNTRIES = ['ESP', 'FRA', 'DEU', 'USA', 'GBR', 'ITA', 'PRT', 'NLD', 'BRA', 'MEX'];
const STATUSES = ['ACTIVE', 'ACTIVE', 'ACTIVE', 'FLAGGED', 'BLOCKED'];

/** The values of user `i` in file `version` (a later version changes every field an update can change). */
function userRow(i: number, version: number) {
  const n = String(i).padStart(7, '0');
  return {
    vendor_data: `user-${n}`,
    display_name: `User ${n} v${version}`,
    full_name: `Full Name ${n}`,
    email: `user${n}@example.com`,
    phone: `+3460${n}`,
    country: COUNTRIES[(i + version) % 10],
    status: STATUSES[(i + version) % 5],
    tags: [`tag-${i % 7}`, `tier-${version}`],
    metadata: { seq: i, v: version },
  };
}

/**
 * Writes the file of `rows` users; `version` changes every field an update can change. csv in `encoding` (UTF-16 with
 * its byte-order mark, as Excel writes it), ndjson (UTF-8), or xlsx (exceljs's streaming writer, inline strings).
 */
async function writeFile(
  file: string,
  rows: number,
  version: number,
  format: BenchFormat = 'csv',
  encoding: ImportEncoding = 'utf-8',
  delimiter = ',',
): Promise<number> {
  if (format === 'xlsx') {
    const workbook = new ExcelJS.stream.xlsx.WorkbookWriter({ filename: file, useSharedStrings: false, useStyles: false });
    const sheet = workbook.addWorksheet('Users');
    sheet.addRow(HEADER.split(',')).commit();
    for (let i = 0; i < rows; i++) {
      const u = userRow(i, version);
      sheet.addRow([u.vendor_data, u.display_name, u.full_name, u.email, u.phone, u.country, u.status, u.tags.join(','), JSON.stringify(u.metadata)]).commit();
    }
    sheet.commit();
    await workbook.commit();
    return fs.statSync(file).size;
  }
  const out = fs.createWriteStream(file);
  const encoder = encoding === 'utf-8' ? undefined : iconv.getEncoder(encoding, { addBOM: encoding.startsWith('utf-16') });
  const write = async (text: string) => {
    if (!out.write(encoder ? encoder.write(text) : text)) await once(out, 'drain');
  };
  if (format === 'csv') await write(`${HEADER.replaceAll(',', delimiter)}\n`);
  let batch = '';
  for (let i = 0; i < rows; i++) {
    const u = userRow(i, version);
    batch +=
      format === 'ndjson'
        ? `${JSON.stringify(u)}\n`
        : [u.vendor_data, u.display_name, u.full_name, u.email, u.phone, u.country, u.status, `"${u.tags.join(',')}"`,
            `"${JSON.stringify(u.metadata).replace(/"/g, '""')}"`].join(delimiter) + '\n';
    if (batch.length > 1 << 20) {
      await write(batch);
      batch = '';
    }
  }
  await write(batch);
  out.end();
  await once(out, 'finish');
  return fs.statSync(file).size;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const rate = (rows: number, ms: number) => `${Math.round(rows / (ms / 1000)).toLocaleString('en-US')} rows/s`;

function rssOf(pid: number): { rss: number; hwm: number } {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
    return { rss: kb('VmRSS') * 1024, hwm: kb('VmHWM') * 1024 };
  } catch {
    return { rss: 0, hwm: 0 };
  }
}

/** CPU seconds used so far by a process (user + system). */
function cpuSeconds(pid: number): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

interface Baseline {
  copyMs: number;
  upsertMs: number;
  totalMs: number;
}

/** COPY the file into a temporary table, then one upsert into users: the floor any import can reach. */
async function baseline(databaseUrl: string, applicationId: string, file: string): Promise<Baseline> {
  const client = new PgClient({ connectionString: databaseUrl });
  await client.connect();
  try {
    const started = performance.now();
    await client.query('BEGIN');
    await client.query(`CREATE TEMP TABLE bench_staging (vendor_data text, display_name text, full_name text, email text,
      phone text, country text, status text, tags text, metadata_json text) ON COMMIT DROP`);
    await pipeline(fs.createReadStream(file), client.query(copyFrom('COPY bench_staging FROM STDIN WITH (FORMAT csv, HEADER true)')));
    const copied = performance.now();
    await client.query(
      `INSERT INTO users AS u (application_id, vendor_data, vendor_data_key, display_name, full_name, email, phone, country,
         status, tags, metadata)
       SELECT $1, trim(vendor_data), lower(trim(vendor_data)), display_name, full_name, email, phone, upper(country),
         upper(status), string_to_array(tags, ','), metadata_json::jsonb
       FROM bench_staging
       ON CONFLICT (application_id, vendor_data_key) DO UPDATE SET display_name = excluded.display_name,
         full_name = excluded.full_name, email = excluded.email, phone = excluded.phone, country = excluded.country,
         status = excluded.status, tags = excluded.tags, metadata = u.metadata || excluded.metadata, updated_at = now()`,
      [applicationId],
    );
    await client.query('COMMIT');
    const done = performance.now();
    return { copyMs: copied - started, upsertMs: done - copied, totalMs: done - started };
  } finally {
    await client.end();
  }
}

interface HistoryStats {
  runs: number;
  maxEvents: number;
  parentEvents: number;
  /** Chunk activities: mean time from scheduled to started (dispatch) and from started to completed (the work). */
  chunkDispatchMs: number;
  chunkWorkMs: number;
}

const eventMs = (e: { eventTime?: { seconds?: unknown; nanos?: number | null } | null }) =>
  Number(e.eventTime?.seconds ?? 0) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6;

/** Activities of one workflow history: how many, and the mean time from scheduled to started and from started to completed. */
function activityTimes(events: Awaited<ReturnType<ReturnType<TemporalClient['workflow']['getHandle']>['fetchHistory']>>['events']) {
  const byId = new Map((events ?? []).map((e) => [Number(e.eventId), e]));
  let dispatch = 0;
  let work = 0;
  let count = 0;
  for (const e of events ?? []) {
    const completed = e.activityTaskCompletedEventAttributes;
    if (!completed) continue;
    const started = byId.get(Number(completed.startedEventId));
    const scheduled = byId.get(Number(completed.scheduledEventId));
    if (!started || !scheduled) continue;
    dispatch += eventMs(started) - eventMs(scheduled);
    work += eventMs(e) - eventMs(started);
    count++;
  }
  return { count, dispatchMs: count ? dispatch / count : 0, workMs: count ? work / count : 0 };
}

async function historyStats(temporal: TemporalClient, importId: string): Promise<HistoryStats> {
  const parent = await temporal.workflow.getHandle(importWorkflowId(importId)).fetchHistory();
  const events = parent.events ?? [];
  if (process.env.BENCH_DEBUG) {
    for (const e of events) {
      const completed = e.activityTaskCompletedEventAttributes?.result?.payloads?.[0]?.data;
      const failed = e.activityTaskFailedEventAttributes?.failure?.message;
      process.stderr.write(`${e.eventId} ${e.eventType} ${completed ? Buffer.from(completed).toString().slice(0, 300) : ''}${failed ?? ''}\n`);
    }
  }
  const children = events
    .map((e) => e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId)
    .filter((id): id is string => Boolean(id));
  let maxEvents = events.length;
  let dispatch = 0;
  let work = 0;
  let activities = 0;
  for (const id of children) {
    const history = await temporal.workflow.getHandle(id).fetchHistory();
    maxEvents = Math.max(maxEvents, history.events?.length ?? 0);
    const times = activityTimes(history.events);
    dispatch += times.dispatchMs * times.count;
    work += times.workMs * times.count;
    activities += times.count;
  }
  return {
    runs: 1 + children.length,
    maxEvents,
    parentEvents: events.length,
    chunkDispatchMs: activities ? dispatch / activities : 0,
    chunkWorkMs: activities ? work / activities : 0,
  };
}

async function main(): Promise<void> {
  const runId = `${process.pid}_${randomBytes(3).toString('hex')}`;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kyc-bench-'));
  const { name: dbName, url: databaseUrl } = await createBenchDatabase(runId);
  const children: ChildProcess[] = [];
  let temporalServer: DevServer | undefined;
  let connection: Connection | undefined;
  try {
    log(`database ${dbName}; generating files of ${ROWS} rows`);
    await applyMigrations(databaseUrl);
    // The baseline COPYs the UTF-8 CSV; the import reads the file in --format / --encoding (the same users).
    // Per file version: the UTF-8 CSV the baseline COPYs, and the file imported (the same one unless another format).
    const other = FORMAT !== 'csv' || ENCODING !== 'utf-8' || DELIMITER !== ',';
    const csvFiles = new Map<number, string>();
    const importFiles = new Map<number, string>();
    let bytes = 0;
    let importBytes = 0;
    for (const { version } of PHASES) {
      const csv = path.join(tmp, `users-v${version}.csv`);
      bytes = Math.max(bytes, await writeFile(csv, ROWS, version));
      csvFiles.set(version, csv);
      if (!other) {
        importFiles.set(version, csv);
        continue;
      }
      const imported = path.join(tmp, `users-v${version}.${FORMAT === 'csv' ? `${ENCODING}.csv` : FORMAT}`);
      importBytes = Math.max(importBytes, await writeFile(imported, ROWS, version, FORMAT, ENCODING, DELIMITER));
      importFiles.set(version, imported);
    }
    if (other) log(`import files: ${FILE_LABEL}, ${(importBytes / 1e6).toFixed(1)} MB`);

    temporalServer = await startDevServer({ headless: true, log });
    connection = await Connection.connect({ address: temporalServer.address });
    const temporal = new TemporalClient({ connection });
    const port = await getFreePort();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NODE_ENV: 'development',
      LOG_LEVEL: 'warn',
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: temporalServer.address,
      TEMPORAL_TASK_QUEUE: `bench-${runId}`,
      DATA_DIR: path.join(tmp, 'data'),
      PORT: String(port),
      IMPORT_MAX_ROWS: String(Math.max(ROWS, 100_000)),
      IMPORT_MAX_BYTES: String(Math.max(bytes * 2, importBytes * 2, 64 * 1024 * 1024)),
      ...(args['chunk-rows'] ? { IMPORT_CHUNK_ROWS: args['chunk-rows'] } : {}),
      ...(args.concurrency ? { IMPORT_CHUNK_CONCURRENCY: args.concurrency } : {}),
      ...(args.webhook ? { WEBHOOK_ALLOW_PRIVATE: 'true' } : {}),
    };
    const workerEnv: NodeJS.ProcessEnv = { ...env, ...WORKER_ENV, LOG_LEVEL: 'info' };
    if (args.worker === 'prebuilt') {
      const bundlePath = path.join(tmp, 'workflow-bundle.js');
      const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), logger: new DefaultLogger('WARN') });
      fs.writeFileSync(bundlePath, code);
      workerEnv.WORKFLOW_BUNDLE_PATH = bundlePath;
    }
    // `compiled`: the production build (`npm run build`'s dist/, which this run compiles first), as the Docker image runs it.
    const compiled = args.worker === 'compiled';
    if (compiled) {
      await execFileAsync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT });
      workerEnv.WORKFLOW_BUNDLE_PATH = path.join(tmp, 'workflow-bundle.js');
      const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), logger: new DefaultLogger('WARN') });
      fs.writeFileSync(workerEnv.WORKFLOW_BUNDLE_PATH, code);
    }
    log(
      `worker: ${compiled ? 'dist/src/worker.js (compiled) with' : 'src/worker.ts (tsx) with'} ${args.worker === 'bundling' ? 'the workflows bundled at start' : 'a prebuilt workflow bundle'}`,
    );
    const workerArgs = compiled
      ? [...WORKER_NODE_ARGS.filter((a) => a !== '--require' && a !== 'tsx/cjs'), 'dist/src/worker.js']
      : [...WORKER_NODE_ARGS, 'src/worker.ts'];
    const { child: worker, ready: workerReady } = startProcess('worker', workerArgs, workerEnv, 'worker started');
    const apiArgs = compiled ? ['dist/src/api/server.js'] : ['--require', 'tsx/cjs', 'src/api/server.ts'];
    const { child: apiProcess } = startProcess('api', apiArgs, env);
    children.push(worker, apiProcess);
    const mainUrl = `http://127.0.0.1:${port}`;
    await waitUntil(async () => ((await fetch(`${mainUrl}/healthz`)).ok ? true : undefined), 60_000, 200);
    // --undo: a second API on the same database and worker, with undo off: the imports it starts record no before-images.
    let undoOffUrl = mainUrl;
    if (args.undo) {
      const offPort = await getFreePort();
      const { child } = startProcess('api (undo off)', apiArgs, { ...env, PORT: String(offPort), IMPORT_UNDO_DAYS: '0' });
      children.push(child);
      undoOffUrl = `http://127.0.0.1:${offPort}`;
      await waitUntil(async () => ((await fetch(`${undoOffUrl}/healthz`)).ok ? true : undefined), 60_000, 200);
    }

    const database = createDatabase(databaseUrl, { poolSize: 2 });
    const app = await createApplication(database.db, { name: 'bench' });
    const owner = await createOperator(database.db, { applicationId: app.id, email: 'bench@example.com', role: 'OWNER' });
    const baselineApp = await createApplication(database.db, { name: 'bench-baseline' });
    await database.close();
    // The worker bundles its workflows at start: wait until it polls before timing anything.
    // An unref'd timer: a pending one kept the benchmark alive for three minutes after it had printed its figures.
    await Promise.race([workerReady, new Promise((_, reject) => setTimeout(() => reject(new Error('worker did not start')), 180_000).unref())]);
    const headers = { authorization: `Bearer ${owner.token}` };

    const results: string[] = [];
    const writeMs = new Map<string, number>();
    const totalMs = new Map<string, number>();
    let lastImportId = '';
    // --webhook: a receiver on loopback that answers 200 at once, and the subscription while a phase asks for one.
    const received: { type: string; importId: string; at: number }[] = [];
    const receiver = args.webhook
      ? http.createServer((req, res) => {
          const chunks: Buffer[] = [];
          req.on('data', (c: Buffer) => chunks.push(c));
          req.on('end', () => {
            const event = JSON.parse(Buffer.concat(chunks).toString()) as { type: string; data: { id: string } };
            received.push({ type: event.type, importId: event.data.id, at: performance.now() });
            res.end('ok');
          });
        })
      : undefined;
    if (receiver) await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    let subscriptionId: string | undefined;
    const setWebhook = async (on: boolean) => {
      if (on && !subscriptionId) {
        const port = (receiver!.address() as AddressInfo).port;
        const res = await fetch(`${mainUrl}/console/webhooks`, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/json' },
          body: JSON.stringify({ url: `http://127.0.0.1:${port}/hook`, events: ['import.awaiting_confirmation', 'import.completed', 'import.failed'] }),
        });
        if (res.status !== 201) throw new Error(`webhook: ${res.status} ${await res.text()}`);
        subscriptionId = ((await res.json()) as { id: string }).id;
      } else if (!on && subscriptionId) {
        await fetch(`${mainUrl}/console/webhooks/${subscriptionId}`, { method: 'DELETE', headers });
        subscriptionId = undefined;
      }
    };
    const runPhase = async (phase: Phase) => {
      if (args.webhook) await setWebhook(phase.webhook === true);
      // --undo and --webhook compare imports of one run with each other: each starts from a vacuumed users table, so
      // that autovacuum's work after the previous update (100% dead rows) does not land on whichever import comes next.
      if (args.undo || args.webhook) {
        const vacuum = new PgClient({ connectionString: databaseUrl });
        await vacuum.connect();
        await vacuum.query('VACUUM (ANALYZE) users');
        await vacuum.end();
      }
      const file = csvFiles.get(phase.version)!;
      const importPath = importFiles.get(phase.version)!;
      const baseUrl = phase.undoOff ? undoOffUrl : mainUrl;
      let peakRss = 0;
      const sampler = setInterval(() => {
        peakRss = Math.max(peakRss, rssOf(worker.pid!).rss);
      }, 100);
      const form = new FormData();
      form.append('file', await fs.openAsBlob(importPath), path.basename(importPath));
      const t0 = performance.now();
      const uploaded = await fetch(`${baseUrl}/console/users/imports`, { method: 'POST', headers, body: form });
      const created = (await uploaded.json()) as { id: string; status: string };
      if (uploaded.status !== 202) throw new Error(`upload: ${uploaded.status} ${JSON.stringify(created)}`);
      const tUpload = performance.now();
      const get = async () => (await (await fetch(`${baseUrl}/console/users/imports/${created.id}`, { headers })).json()) as Record<string, any>;
      const preview = await waitUntil(async () => {
        const body = await get();
        return body.status === 'VALIDATING' ? undefined : body;
      }, 600_000, 25);
      const tPreview = performance.now();
      if (preview.status !== 'AWAITING_CONFIRMATION') throw new Error(`preview: ${JSON.stringify(preview)}`);
      const confirm = await fetch(`${baseUrl}/console/users/imports/${created.id}/confirm`, { method: 'POST', headers });
      if (confirm.status !== 202) throw new Error(`confirm: ${confirm.status} ${await confirm.text()}`);
      const tConfirm = performance.now();
      const cpuBefore = { worker: cpuSeconds(worker.pid!), temporal: cpuSeconds(temporalServer!.pid), api: cpuSeconds(apiProcess.pid!) };
      const done = await waitUntil(async () => {
        const body = await get();
        return ['COMPLETED', 'COMPLETED_WITH_ERRORS', 'FAILED', 'CANCELLED'].includes(body.status) ? body : undefined;
      }, 3_600_000, 50);
      const tDone = performance.now();
      const cpu = {
        worker: cpuSeconds(worker.pid!) - cpuBefore.worker,
        temporal: cpuSeconds(temporalServer!.pid) - cpuBefore.temporal,
        api: cpuSeconds(apiProcess.pid!) - cpuBefore.api,
      };
      clearInterval(sampler);
      const { hwm } = rssOf(worker.pid!);
      const history = await historyStats(temporal, created.id);
      const base = await baseline(databaseUrl, baselineApp.id, file);
      const ours = tPreview - t0 + (tDone - tConfirm);
      const lines = [
        `== ${phase.name}: ${ROWS.toLocaleString('en-US')} rows, ${FILE_LABEL}, ${(fs.statSync(importPath).size / 1048576).toFixed(1)} MB ==`,
        `status                     ${done.status}: created ${done.created_count}, updated ${done.updated_count}, unchanged ${done.unchanged_count}, invalid ${done.invalid_rows}`,
        `upload (POST -> 202)       ${seconds(tUpload - t0)}`,
        `preview ready (upload -> AWAITING_CONFIRMATION)  ${seconds(tPreview - t0)}  (to_create ${preview.to_create}, to_update ${preview.to_update})`,
        `write (confirm -> ${done.status})  ${seconds(tDone - tConfirm)}  ${rate(ROWS, tDone - tConfirm)}`,
        `import total (upload -> preview + confirm -> done)  ${seconds(ours)}  ${rate(ROWS, ours)}`,
        `baseline (COPY ${seconds(base.copyMs)} + one upsert ${seconds(base.upsertMs)})  ${seconds(base.totalMs)}  ${rate(ROWS, base.totalMs)}`,
        `ratio import/baseline      ${(ours / base.totalMs).toFixed(2)}x   (write phase alone ${((tDone - tConfirm) / base.totalMs).toFixed(2)}x)`,
        `worker peak RSS            ${(peakRss / 1048576).toFixed(0)} MB during the import (process high-water mark since start ${(hwm / 1048576).toFixed(0)} MB)`,
        `history                    ${history.runs} workflow runs (1 parent + ${history.runs - 1} chunk children); largest ${history.maxEvents} events, parent ${history.parentEvents}`,
        `CPU during the write       worker ${cpu.worker.toFixed(2)} s, Temporal server ${cpu.temporal.toFixed(2)} s, API ${cpu.api.toFixed(2)} s`,
        `chunk activities           mean dispatch ${history.chunkDispatchMs.toFixed(1)} ms, mean run ${history.chunkWorkMs.toFixed(1)} ms`,
      ];
      process.stdout.write(`${lines.join('\n')}\n\n`);
      results.push(...lines);
      writeMs.set(phase.name, tDone - tConfirm);
      totalMs.set(phase.name, ours);
      lastImportId = created.id;
      if (phase.webhook) webhookImport = { id: created.id, doneAt: tDone };
    };
    let webhookImport: { id: string; doneAt: number } | undefined;
    for (const phase of PHASES) await runPhase(phase);

    if (args.webhook && webhookImport) {
      const { id, doneAt } = webhookImport;
      const completed = await waitUntil(async () => received.find((e) => e.importId === id && e.type === 'import.completed'), 120_000, 20);
      const [before, withHook, after] = PHASES.slice(1).map((p) => totalMs.get(p.name)!);
      const without = (before + after) / 2;
      const events = received.filter((e) => e.importId === id).map((e) => e.type);
      const lines = [
        `== webhook delivery: ${ROWS.toLocaleString('en-US')} rows ==`,
        `import total with a receiver subscribed ${seconds(withHook)}; without ${seconds(before)} before and ${seconds(after)} after (mean ${seconds(without)}): ${withHook >= without ? '+' : ''}${(((withHook - without) / without) * 100).toFixed(1)}%`,
        `events received for that import   ${events.join(', ')}; import.completed arrived ${((completed.at - doneAt) / 1000).toFixed(2)} s after the import was seen COMPLETED`,
      ];
      process.stdout.write(`${lines.join('\n')}\n\n`);
      receiver?.close();
    }

    if (args.undo) {
      const [offBefore, on] = PHASES.slice(-2).map((p) => writeMs.get(p.name)!);
      const undoneImportId = lastImportId;
      const tUndo = performance.now();
      const asked = await fetch(`${mainUrl}/console/users/imports/${undoneImportId}/undo`, { method: 'POST', headers });
      if (asked.status !== 202) throw new Error(`undo: ${asked.status} ${await asked.text()}`);
      const undone = await waitUntil(async () => {
        const body = (await (await fetch(`${mainUrl}/console/users/imports/${undoneImportId}`, { headers })).json()) as Record<string, any>;
        return body.status === 'UNDOING' ? undefined : body;
      }, 3_600_000, 50);
      const undoMs = performance.now() - tUndo;
      const undoHistory = await temporal.workflow.getHandle(undoImportWorkflowId(undoneImportId)).fetchHistory();
      const undoActivities = activityTimes(undoHistory.events);
      // Every user must be back at the values of the update before (version 2): its display name says so.
      const check = createDatabase(databaseUrl, { poolSize: 1 });
      const wrong = await check.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM users WHERE application_id = $1 AND display_name NOT LIKE '% v2'`,
        [app.id],
      );
      await check.close();
      // The same update without before-images once more, after the one with them: the two bracket it, so that the
      // table's growth from one update to the next does not count against the images.
      const again: Phase = { name: 'update, undo off again (no before-images)', version: PHASES[PHASES.length - 1].version + 1, undoOff: true };
      csvFiles.set(again.version, path.join(tmp, `users-v${again.version}.csv`));
      await writeFile(csvFiles.get(again.version)!, ROWS, again.version);
      if (FORMAT !== 'csv' || ENCODING !== 'utf-8' || DELIMITER !== ',') {
        importFiles.set(again.version, path.join(tmp, `users-v${again.version}.${FORMAT === 'csv' ? `${ENCODING}.csv` : FORMAT}`));
        await writeFile(importFiles.get(again.version)!, ROWS, again.version, FORMAT, ENCODING, DELIMITER);
      } else {
        importFiles.set(again.version, csvFiles.get(again.version)!);
      }
      await runPhase(again);
      const offAfter = writeMs.get(again.name)!;
      const off = (offBefore + offAfter) / 2;
      const lines = [
        `== undo: ${ROWS.toLocaleString('en-US')} rows ==`,
        `status                     ${undone.status}: restored ${undone.undo?.restored}, deleted ${undone.undo?.deleted}, conflicts ${undone.undo?.conflicts}; users not back at v2: ${wrong.rows[0].n}`,
        `before-images cost         update write ${seconds(on)} with them, ${seconds(offBefore)} before and ${seconds(offAfter)} after without them (mean ${seconds(off)}): ${on >= off ? '+' : ''}${(((on - off) / off) * 100).toFixed(1)}%`,
        `undo (POST -> ${undone.status})   ${seconds(undoMs)}  ${rate(ROWS, undoMs)}   ${(undoMs / on).toFixed(2)}x the import's write phase`,
        `undo activities            ${undoActivities.count}: mean dispatch ${undoActivities.dispatchMs.toFixed(1)} ms, mean run ${undoActivities.workMs.toFixed(1)} ms; history ${undoHistory.events?.length ?? 0} events`,
      ];
      process.stdout.write(`${lines.join('\n')}\n\n`);
    }
  } finally {
    for (const child of children) await stopChild(child, { signal: 'SIGTERM', timeoutMs: 20_000 });
    await connection?.close();
    await temporalServer?.stop();
    await dropBenchDatabase(dbName);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
