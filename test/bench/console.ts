import { Connection, Client as TemporalClient } from '@temporalio/client';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { parseArgs } from 'node:util';
import { Client as PgClient } from 'pg';
import { buildConsole, CONSOLE_DIST } from '../../dev/console-build';
import { createApp } from '../../src/api/app';
import { createApplication, createOperator } from '../../src/auth/accounts';
import { loadConfig } from '../../src/config';
import { createDatabase } from '../../src/db/client';
import { applyMigrations } from '../../src/db/migrate';
import { createLogger } from '../../src/logger';
import { createStorage } from '../../src/storage';
import { launchBrowser, newContext } from '../e2e/browser';

/**
 * `npm run bench:console [-- --runs N]`
 *
 * Builds the console, prints the size of its JavaScript and CSS (raw and gzipped, as served over a compressing
 * proxy), then serves it from the real API (a fresh database on the machine's Postgres; Temporal is not needed to
 * sign in) and opens the sign-in link N times in Debian's Chromium, each time in a new browser context (cold cache,
 * nothing stored): the first-load time runs from navigation start until the page shows the signed-in operator
 * (HTML, scripts, styles and GET /console/me done). The baseline, measured in the same run and the same way, is a
 * bare HTML page from the same server. Targets: JavaScript under 250 KB gzipped, first load under 1 s.
 */

const ADMIN_URL = process.env.BENCH_ADMIN_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '7' } } });
const RUNS = Math.max(1, Number(args.runs));

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const log = (message: string) => process.stderr.write(`[bench] ${message}\n`);

async function adminQuery(sql: string): Promise<void> {
  const client = new PgClient({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

function assetSizes() {
  const dir = path.join(CONSOLE_DIST, 'assets');
  const sizes = { js: { raw: 0, gzip: 0, files: 0 }, css: { raw: 0, gzip: 0, files: 0 } };
  for (const name of fs.readdirSync(dir)) {
    const kind = name.endsWith('.js') ? 'js' : name.endsWith('.css') ? 'css' : undefined;
    if (!kind) continue;
    const bytes = fs.readFileSync(path.join(dir, name));
    sizes[kind].raw += bytes.length;
    sizes[kind].gzip += gzipSync(bytes).length;
    sizes[kind].files++;
  }
  return sizes;
}

async function main(): Promise<void> {
  const buildStarted = Date.now();
  await buildConsole();
  const buildMs = Date.now() - buildStarted;
  const sizes = assetSizes();

  const database = `kyc_bench_console_${process.pid}`;
  await adminQuery(`CREATE DATABASE "${database}"`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${database}`;
  const databaseUrl = url.toString();
  const db = createDatabase(databaseUrl, { poolSize: 4, applicationName: 'kyc-bench-console' });
  const connection = Connection.lazy({ address: '127.0.0.1:1' });
  try {
    await applyMigrations(databaseUrl);
    const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', DATABASE_URL: databaseUrl, DATA_DIR: fs.mkdtempSync('/tmp/kyc-bench-console-') });
    const application = await createApplication(db.db, { name: 'bench' });
    const operator = await createOperator(db.db, { applicationId: application.id, email: 'admin@bench.test', role: 'ADMIN' });
    const app = createApp({
      config,
      db: db.db,
      temporal: new TemporalClient({ connection }),
      storage: createStorage(config),
      logger: createLogger(config, 'api'),
    });
    const server = await new Promise<import('node:http').Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const bare = path.join(CONSOLE_DIST, 'bench-baseline.html');
    fs.writeFileSync(bare, '<!doctype html><html lang="en"><title>baseline</title><p id="ready">ready</p></html>');

    const browser = await launchBrowser();
    const consoleMs: number[] = [];
    const baselineMs: number[] = [];
    try {
      for (let i = 0; i < RUNS; i++) {
        for (const kind of ['baseline', 'console'] as const) {
          const context = await newContext(browser);
          const page = await context.newPage();
          const started = Date.now();
          if (kind === 'baseline') {
            await page.goto(`${baseUrl}/console/bench-baseline.html`);
            await page.locator('#ready').waitFor();
          } else {
            await page.goto(`${baseUrl}/console/#token=${encodeURIComponent(operator.token)}`);
            await page.getByRole('button', { name: 'Sign out' }).waitFor();
            await page.getByText(operator.email).first().waitFor();
          }
          // From the browser's own navigation start, so the context's creation is not counted.
          const sinceNavigation = await page.evaluate(() => performance.now());
          (kind === 'console' ? consoleMs : baselineMs).push(sinceNavigation);
          log(`${kind} run ${i + 1}: ${sinceNavigation.toFixed(0)} ms (wall ${Date.now() - started} ms)`);
          await context.close();
        }
      }
    } finally {
      await browser.close();
      fs.rmSync(bare, { force: true });
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }

    const lines = [
      '',
      `console build (vite): ${(buildMs / 1000).toFixed(1)} s`,
      `JavaScript: ${sizes.js.files} files, ${kb(sizes.js.raw)} raw, ${kb(sizes.js.gzip)} gzipped (target < 250 KB gzipped)`,
      `CSS: ${sizes.css.files} files, ${kb(sizes.css.raw)} raw, ${kb(sizes.css.gzip)} gzipped`,
      `first load, cold cache, until signed in: median ${median(consoleMs).toFixed(0)} ms, max ${Math.max(...consoleMs).toFixed(0)} ms over ${RUNS} runs (target < 1000 ms)`,
      `baseline (bare HTML page, same server, same way): median ${median(baselineMs).toFixed(0)} ms, max ${Math.max(...baselineMs).toFixed(0)} ms`,
      `JavaScript ${sizes.js.gzip < 250 * 1024 ? 'within' : 'OVER'} budget; first load ${median(consoleMs) < 1000 ? 'within' : 'OVER'} budget`,
      '',
    ];
    process.stdout.write(lines.join('\n'));
  } finally {
    await db.close();
    await connection.close().catch(() => undefined);
    await adminQuery(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:console failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
