import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { applyMigrations } from '../../src/db/migrate';
import { findTemporalCli } from '../../dev/temporal-dev-server';
import { ensureConsoleBuilt } from '../../dev/console-build';
import { canConnect } from '../../dev/process-control';
import { ApplicationId, JobId, JobKind } from '../../workflows/definitions';
import { startPrivatePostgres, type PrivatePostgres } from '../helpers/private-postgres';

/**
 * Once per `npm test`: a fresh database on the machine's Postgres (migrated), a headless Temporal dev
 * server on a free port with an in-memory store and the search attributes (the SDK's TestWorkflowEnvironment.createLocal
 * running the Temporal CLI that dev/temporal-dev-server.ts finds), and the workflow bundle. Test files find them through
 * process.env (jest starts its workers after this, with this environment):
 *
 * - TEST_DATABASE_URL (also DATABASE_URL), TEST_ADMIN_DATABASE_URL
 * - TEST_TEMPORAL_ADDRESS (also TEMPORAL_ADDRESS), TEST_TEMPORAL_NAMESPACE
 * - TEST_WORKFLOW_BUNDLE_PATH (also WORKFLOW_BUNDLE_PATH): a file for `Worker.create({ workflowBundle: { codePath } })`,
 *   bundled from test/workflows/ (the production workflows and the test-only system check)
 * - TEST_TMP_DIR (removed afterwards), with DATA_DIR set to a `data` directory inside it
 * - the operator console built into web/dist (when missing or older than web/), for the browser tests
 *
 * The admin connection is DATABASE_URL when set, else postgres://postgres@127.0.0.1:5432/postgres when something
 * listens there, else an embedded Postgres started for this run (the binaries `npm start` uses), so that `npm ci`
 * and `npm test` work on a machine with only Node and the Temporal CLI.
 */

export interface TestInfra {
  adminUrl: string;
  database: string;
  tmpDir: string;
  temporal?: TestWorkflowEnvironment;
  /** The run's own Postgres, when the machine has none (removed at teardown). */
  embeddedPostgres?: PrivatePostgres;
}

declare global {
  var __KYC_TEST_INFRA__: TestInfra | undefined;
}

const DEFAULT_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

function log(message: string): void {
  process.stderr.write(`[test setup] ${message}\n`);
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

async function adminQuery(adminUrl: string, sql: string): Promise<void> {
  const client = new Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(
      `Cannot reach Postgres at ${adminUrl.replace(/:[^:@/]*@/, ':***@')} (${reason}).\n` +
        'Start the machine\'s Postgres (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start), ' +
        'or set DATABASE_URL to a Postgres where this user may create databases.',
    );
  }
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export async function dropTestDatabase(adminUrl: string, database: string): Promise<void> {
  // WITH (FORCE): a test that leaked a pool must not keep the database alive.
  await adminQuery(adminUrl, `DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
}

export default async function globalSetup(): Promise<void> {
  const started = Date.now();
  const database = `kyc_test_${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kyc-test-'));
  const infra: TestInfra = { adminUrl: process.env.DATABASE_URL?.trim() || DEFAULT_ADMIN_URL, database, tmpDir };
  globalThis.__KYC_TEST_INFRA__ = infra;

  try {
    if (!process.env.DATABASE_URL?.trim() && !(await canConnect('127.0.0.1', 5432))) {
      log('no Postgres on 127.0.0.1:5432 and DATABASE_URL is unset: starting an embedded Postgres for this run');
      infra.embeddedPostgres = await startPrivatePostgres();
      infra.adminUrl = infra.embeddedPostgres.url;
    }
    const adminUrl = infra.adminUrl;
    await adminQuery(adminUrl, `CREATE DATABASE "${database}"`);
    const databaseUrl = withDatabase(adminUrl, database);
    await applyMigrations(databaseUrl);

    const [temporal, bundlePath] = await Promise.all([
      startTemporal(),
      bundleWorkflows(tmpDir),
      ensureConsoleBuilt(log),
    ]);
    infra.temporal = temporal;

    const dataDir = path.join(tmpDir, 'data');
    fs.mkdirSync(dataDir);
    Object.assign(process.env, {
      TEST_ADMIN_DATABASE_URL: adminUrl,
      TEST_DATABASE_URL: databaseUrl,
      DATABASE_URL: databaseUrl,
      TEST_TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_ADDRESS: temporal.address,
      TEST_TEMPORAL_NAMESPACE: temporal.namespace ?? 'default',
      TEST_TMP_DIR: tmpDir,
      DATA_DIR: dataDir,
    });
    process.env.TEST_WORKFLOW_BUNDLE_PATH = bundlePath;
    process.env.WORKFLOW_BUNDLE_PATH = bundlePath; // config.temporal.workflowBundlePath: workers skip bundling
    log(`database ${database}, Temporal ${temporal.address}, ready in ${Date.now() - started} ms`);
  } catch (err) {
    // Jest does not run the teardown when the setup fails: clean up here.
    await cleanUp(infra).catch(() => undefined);
    throw err;
  }
}

/**
 * The run's Temporal dev server, started by the SDK's test environment from the CLI binary on PATH or in
 * $(go env GOPATH)/bin (built with go install when missing, as npm start does). The fault tests that SIGKILL a dev
 * server and start it again on the same port and SQLite file keep their own (test/helpers/private-temporal.ts): the
 * environment does not expose the server's process, and its teardown is the only way it stops.
 */
async function startTemporal(): Promise<TestWorkflowEnvironment> {
  const cliPath = await findTemporalCli({ log });
  const start = () =>
    TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: cliPath },
        ip: '127.0.0.1',
        searchAttributes: [ApplicationId, JobId, JobKind],
        log: { format: 'pretty', level: 'warn' },
      },
    });
  // The SDK waits a fixed 5 s for the server to answer (sdk-core's ephemeral_server, not configurable) and kills it
  // when it does not; the first start of a freshly built CLI on a busy machine has taken longer. Try again, twice.
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (error) {
      if (attempt === 3 || !/did not start within/.test(String(error))) throw error;
      log(`the Temporal dev server did not answer within the SDK's 5 s (attempt ${attempt} of 3); starting it again`);
    }
  }
}

/** The test workers' bundle: test/workflows/index.ts, the production workflows plus the test-only system check. */
async function bundleWorkflows(tmpDir: string): Promise<string> {
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: new DefaultLogger('WARN') });
  const file = path.join(tmpDir, 'workflow-bundle.js');
  fs.writeFileSync(file, code);
  return file;
}

export async function cleanUp(infra: TestInfra): Promise<void> {
  const problems: string[] = [];
  if (infra.temporal) {
    await infra.temporal.teardown().catch((err: unknown) => problems.push(`Temporal: ${String(err)}`));
  }
  if (infra.embeddedPostgres) await infra.embeddedPostgres.destroy().catch((err: unknown) => problems.push(`embedded Postgres: ${String(err)}`));
  else await dropTestDatabase(infra.adminUrl, infra.database).catch((err: unknown) => problems.push(`database: ${String(err)}`));
  fs.rmSync(infra.tmpDir, { recursive: true, force: true });
  if (problems.length > 0) throw new Error(`test teardown: ${problems.join('; ')}`);
}
