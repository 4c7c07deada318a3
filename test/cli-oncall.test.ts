import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { and, eq, sql } from 'drizzle-orm';
import { auditLog, exportParts } from '../drizzle/schema';
import { importWorkflowId } from '../workflows/import-definitions';
import { seedManyUsers, waitForExport } from './helpers/exports';
import { api, createTenant, startTestStack, testEnv, waitFor, type TestStack } from './helpers/stack';
import { csvOf, importFile, uploadAndValidate, waitForStatus } from './fixtures/imports/support';

/**
 * The on-call commands of `npm run cli` (API.md "Command line") against the real stack: `imports show` and
 * `imports stuck` read the database and Temporal's view (pending activities, attempt, last failure); pause, resume,
 * throttle, undo and retry go through the same service functions as the API; `exports show` / `exports retry`; and
 * the CLI finding Postgres and Temporal through the launcher's `<DATA_DIR>/cli.json` with nothing set.
 */

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '..');

jest.setTimeout(120_000);

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack({
    env: {
      IMPORT_CHUNK_ROWS: '5',
      IMPORT_CHUNK_CONCURRENCY: '2',
      EXPORT_PART_ROWS: '400',
      EXPORT_CONCURRENCY: '1',
      EXPORT_CHECKPOINT_BYTES: String(16 * 1024),
      TEST_EXPORT_CHUNK_DELAY_MS: '100',
    },
  });
});
afterAll(async () => {
  await stack?.stop();
});

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI as a process; `env` replaces the stack's endpoints (DATABASE_URL, TEMPORAL_*) when given. */
async function cliRun(args: string[], env?: NodeJS.ProcessEnv): Promise<CliResult> {
  const base: NodeJS.ProcessEnv = env ?? {
    ...process.env,
    DATABASE_URL: testEnv().databaseUrl,
    TEMPORAL_ADDRESS: testEnv().temporalAddress,
    TEMPORAL_TASK_QUEUE: stack.config.temporal.taskQueue,
  };
  try {
    const { stdout, stderr } = await run(path.join(ROOT, 'node_modules/.bin/tsx'), ['src/cli.ts', ...args], {
      cwd: ROOT,
      env: { ...base, LOG_LEVEL: 'silent' },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The one JSON object a successful command prints. */
async function cli(...args: string[]): Promise<any> {
  const result = await cliRun(args);
  if (result.code !== 0) throw new Error(`cli ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  expect(result.stdout.trim().split('\n')).toHaveLength(1);
  return JSON.parse(result.stdout);
}

async function importRow(id: string) {
  const result = await stack.database.db.execute<{ status: string; chunk_concurrency: number; undo_requested_actor: string | null; undo_requested_by: string | null }>(
    sql`SELECT status, chunk_concurrency, undo_requested_actor, undo_requested_by FROM imports WHERE id = ${id}`,
  );
  return result.rows[0];
}

/** Chunks of the import being written right now (a chunk's write holds its row locked for its transaction). */
async function chunksWriting(importId: string): Promise<number> {
  return stack.database.db.transaction(async (tx) => {
    const all = await tx.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM import_chunks WHERE import_id = ${importId}`);
    const free = await tx.execute<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM (SELECT 1 FROM import_chunks WHERE import_id = ${importId} FOR KEY SHARE SKIP LOCKED) f`,
    );
    return all.rows[0].n - free.rows[0].n;
  });
}

const SUMMARY = /^chunk \d+ of \d+, rows \d+-\d+$/;

describe('imports show', () => {
  it('a completed import: the import object, its workflow COMPLETED with nothing pending, no failed chunk', async () => {
    const t = await createTenant(stack.database.db);
    const done = await importFile(stack, t.operators.ADMIN.token, csvOf(['vendor_data'], Array.from({ length: 12 }, (_, i) => [`done-${i}`])));
    expect(done.status).toBe('COMPLETED');

    const shown = await cli('imports', 'show', done.id);
    expect(shown).toMatchObject({
      id: done.id,
      status: 'COMPLETED',
      processed_rows: 12,
      created_count: 12,
      chunks: { total: 3, completed: 3, failed: 0 },
      workflow_id: importWorkflowId(done.id),
      progress_at: expect.any(String),
      failed_chunks: [],
      workflow: {
        workflow_id: importWorkflowId(done.id),
        status: 'COMPLETED',
        run_id: expect.any(String),
        pending_activities: [],
      },
    });
    expect(shown.workflow.history_length).toBeGreaterThan(5);
    expect(shown).not.toHaveProperty('workflow_error');

    const missing = await cliRun(['imports', 'show', '00000000-0000-4000-8000-000000000000']);
    expect(missing.code).not.toBe(0);
    expect(missing.stdout).toBe('');
    expect(JSON.parse(missing.stderr)).toMatchObject({ error: { code: 'not_found' } });
  });

  it('a failed chunk: show lists it with its last error; imports retry (CLI) writes it and the import completes', async () => {
    const t = await createTenant(stack.database.db);
    const token = t.operators.ADMIN.token;
    // The second chunk fails its first 5 attempts: 4 in the first run (its retries), so it ends FAILED.
    const rows = Array.from({ length: 10 }, (_, i) => [i === 7 ? 'test-fault:fail-5-r' : `retry-${i}`]);
    const ended = await importFile(stack, token, csvOf(['vendor_data'], rows));
    expect(ended).toMatchObject({ status: 'COMPLETED_WITH_ERRORS', chunks: { failed: 1 } });

    const shown = await cli('imports', 'show', ended.id);
    expect(shown.failed_chunks).toEqual([
      expect.objectContaining({ chunk_no: 1, row_count: 5, attempts: 4, error: { code: expect.any(String), message: expect.stringContaining('test fault: chunk 1 fails') } }),
    ]);

    const retried = await cli('imports', 'retry', ended.id);
    expect(retried).toMatchObject({ id: ended.id, status: 'RUNNING' });
    const done = await waitForStatus(stack, token, ended.id, ['COMPLETED']);
    expect(done).toMatchObject({ processed_rows: 10, failed_rows: 0 });
    expect((await cli('imports', 'show', ended.id)).failed_chunks).toEqual([]);
  });
});

describe('imports stuck', () => {
  it('finds the import whose chunk hangs after a failed attempt: the chunk, the attempt and its last error', async () => {
    const t = await createTenant(stack.database.db);
    const token = t.operators.ADMIN.token;
    // One chunk of 5 rows: its first attempt fails, its second holds its transaction open for 35 s.
    const rows = [['test-fault:fail-1-s'], ['test-fault:delay-35000-s'], ['stuck-2'], ['stuck-3'], ['stuck-4']];
    const preview = await uploadAndValidate(stack, token, csvOf(['vendor_data'], rows));
    expect(preview).toMatchObject({ status: 'AWAITING_CONFIRMATION', chunks: { total: 1 } });
    expect((await api(stack, 'POST', `/console/users/imports/${preview.id}/confirm`, { token })).status).toBe(202);

    // Temporal's view: the chunk activity of the child workflow is on its second attempt, after a failure.
    const child = `${importWorkflowId(preview.id)}-chunks-1-1`;
    await waitFor(async () => {
      try {
        const described = await stack.client.workflow.getHandle(child).describe();
        const pending = described.raw.pendingActivities ?? [];
        return pending.some((a) => (a.attempt ?? 0) >= 2) ? true : undefined;
      } catch {
        return undefined; // the child is not started yet
      }
    }, 30_000, 100);
    await waitFor(async () => ((await chunksWriting(preview.id)) === 1 ? true : undefined), 30_000, 50);

    // This application's (the run's database is shared with the other test files); the whole list below.
    const stuck = await cli('imports', 'stuck', '--minutes', '0', '--application', t.applicationId);
    expect(Object.keys(stuck)).toEqual(['imports']);
    const found = stuck.imports.find((i: { id: string }) => i.id === preview.id);
    expect(stuck.imports).toHaveLength(1);
    expect(found).toBeDefined();
    expect(found).toMatchObject({ status: 'RUNNING', processed_rows: 0, workflow: { status: 'RUNNING' } });
    expect(found.progress_idle_seconds).toBeGreaterThanOrEqual(0);
    const chunkActivity = found.workflow.pending_activities.find((a: { activity_type: string }) => a.activity_type === 'writeImportChunk');
    expect(chunkActivity).toMatchObject({
      workflow_id: child,
      chunk_no: 0,
      summary: expect.stringMatching(SUMMARY),
      state: expect.stringMatching(/^(SCHEDULED|STARTED)$/),
      last_failure: { message: expect.stringContaining('test fault: chunk 0 fails its first 1 attempts (this is attempt 1)'), type: 'Error' },
      scheduled_time: expect.any(String),
    });
    expect(chunkActivity.summary).toMatch(/^chunk 1 of 1, rows /);
    expect(chunkActivity.attempt).toBeGreaterThanOrEqual(2);
    expect(found.workflow.children).toEqual([expect.objectContaining({ workflow_id: child, status: 'RUNNING' })]);

    // `show` prints the same view; with --minutes 60 the import is not stuck yet.
    const shown = await cli('imports', 'show', preview.id);
    expect(shown.workflow.pending_activities).toEqual([expect.objectContaining({ activity_type: 'writeImportChunk', chunk_no: 0 })]);
    const notYet = await cli('imports', 'stuck', '--minutes', '60', '--application', t.applicationId);
    expect(notYet.imports.map((i: { id: string }) => i.id)).not.toContain(preview.id);

    const bad = await cliRun(['imports', 'stuck', '--minutes', 'soon']);
    expect(bad.code).not.toBe(0);
    expect(JSON.parse(bad.stderr)).toMatchObject({ error: { code: 'usage', message: expect.stringContaining('--minutes') } });

    // The chunk commits after its delay: progress moved, the import completes.
    await waitForStatus(stack, token, preview.id, ['COMPLETED'], 60_000);
    const after = await cli('imports', 'show', preview.id);
    expect(new Date(after.progress_at).getTime()).toBeGreaterThan(new Date(found.progress_at).getTime());
  });
});

describe('pause, throttle, resume and undo through the CLI', () => {
  it('move the database as the API does; undo is recorded as asked by the cli', async () => {
    const t = await createTenant(stack.database.db);
    const token = t.operators.ADMIN.token;
    // 10 chunks of 5; the first row of each holds its chunk's transaction open 2 s (longer than a CLI's start).
    const rows = Array.from({ length: 50 }, (_, i) => [i % 5 === 0 ? `test-fault:delay-2000-p-${i}` : `p-${i}`]);
    const preview = await uploadAndValidate(stack, token, csvOf(['vendor_data'], rows));
    await api(stack, 'POST', `/console/users/imports/${preview.id}/confirm`, { token });
    await waitFor(async () => ((await chunksWriting(preview.id)) > 0 ? true : undefined), 30_000, 50);

    expect(await cli('imports', 'pause', preview.id)).toMatchObject({ id: preview.id, status: 'PAUSED' });
    expect((await importRow(preview.id)).status).toBe('PAUSED');
    expect(await cli('imports', 'throttle', preview.id, '--concurrency', '1')).toMatchObject({ status: 'PAUSED', chunk_concurrency: 1 });
    expect((await importRow(preview.id)).chunk_concurrency).toBe(1);
    // A paused import is not "stuck": nothing is supposed to move.
    expect((await cli('imports', 'stuck', '--minutes', '0', '--application', t.applicationId)).imports.map((i: { id: string }) => i.id)).not.toContain(preview.id);
    expect(await cli('imports', 'resume', preview.id)).toMatchObject({ status: 'RUNNING' });
    expect((await importRow(preview.id)).status).toBe('RUNNING');
    const done = await waitForStatus(stack, token, preview.id, ['COMPLETED'], 60_000);
    expect(done).toMatchObject({ processed_rows: 50, created_count: 50 });

    const undo = await cli('imports', 'undo', preview.id);
    expect(undo).toMatchObject({ id: preview.id, status: 'UNDOING' });
    expect(await importRow(preview.id)).toMatchObject({ undo_requested_actor: 'cli', undo_requested_by: null });
    await waitFor(async () => ((await importRow(preview.id)).status === 'UNDONE' ? true : undefined), 60_000, 100);
    const users = await stack.database.db.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM users WHERE application_id = ${t.applicationId}`);
    expect(users.rows[0].n).toBe(0);
    const entries = await stack.database.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.targetId, preview.id), eq(auditLog.action, 'users.import.undo')));
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ operatorId: null, details: expect.objectContaining({ actor: 'cli', requested_by: null, deleted: 50 }) });
    const shown = await cli('imports', 'show', preview.id);
    expect(shown).toMatchObject({ status: 'UNDONE', undo: { status: 'COMPLETED', deleted: 50 }, undo_workflow: { status: 'COMPLETED' } });

    const again = await cliRun(['imports', 'undo', preview.id]);
    expect(again.code).not.toBe(0);
    expect(JSON.parse(again.stderr)).toMatchObject({ error: { code: 'invalid_state' } });
  });
});

describe('exports show and exports retry', () => {
  it('a FAILED export: show gives its error and workflow; retry (CLI) goes on and completes it', async () => {
    const t = await createTenant(stack.database.db);
    await seedManyUsers(stack.database.db, t.applicationId, 2000, 'cliexp');
    const token = t.operators.OWNER.token;
    const started = await api(stack, 'POST', '/console/users/exports', { token, body: { filters: { status: ['ACTIVE', 'FLAGGED', 'BLOCKED'] } } });
    expect(started.status).toBe(202);
    const id = started.body.id as string;
    const parts = await waitFor(async () => {
      const found = await stack.database.db.select().from(exportParts).where(eq(exportParts.exportId, id));
      return found.length > 1 ? found : undefined;
    });
    // Take away the last range before it runs (ranges run one at a time here): the export fails.
    const last = parts[parts.length - 1];
    await stack.database.db.delete(exportParts).where(and(eq(exportParts.exportId, id), eq(exportParts.partNo, last.partNo)));
    expect(await waitForExport(stack, token, id)).toMatchObject({ status: 'FAILED' });

    const shown = await cli('exports', 'show', id);
    expect(shown).toMatchObject({
      id,
      status: 'FAILED',
      error: { code: 'export_part_missing' },
      download_url: null,
      parts: { total: parts.length - 1 },
      workflow: { workflow_id: `users-export-${id}`, run_id: expect.any(String), pending_activities: [] },
    });
    expect(shown.workflow.status).not.toBe('RUNNING');

    // What went wrong is repaired; then the CLI retries it, with the same service as POST .../retry.
    await stack.database.db.insert(exportParts).values(last);
    const retried = await cli('exports', 'retry', id);
    expect(retried).toMatchObject({ id, error: null, download_url: null });
    expect(['QUEUED', 'RUNNING', 'COMPLETED']).toContain(retried.status);
    expect(await waitForExport(stack, token, id)).toMatchObject({ status: 'COMPLETED', row_count: 2000 });

    const again = await cliRun(['exports', 'retry', id]);
    expect(again.code).not.toBe(0);
    expect(JSON.parse(again.stderr)).toMatchObject({ error: { code: 'invalid_state' } });
  });
});

describe('finding npm start\'s Postgres and Temporal', () => {
  /** The environment of a shell where nothing is set but DATA_DIR. */
  function bareEnv(dataDir: string): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir };
    for (const name of ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'TEMPORAL_TASK_QUEUE']) delete env[name];
    return env;
  }

  it('with DATABASE_URL and TEMPORAL_ADDRESS unset, the CLI reads <DATA_DIR>/cli.json as the launcher writes it', async () => {
    const t = await createTenant(stack.database.db);
    const done = await importFile(stack, t.operators.ADMIN.token, csvOf(['vendor_data'], [['found-1'], ['found-2']]));
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kyc-cli-'));
    try {
      fs.writeFileSync(
        path.join(dataDir, 'cli.json'),
        JSON.stringify({
          database_url: testEnv().databaseUrl,
          temporal_address: testEnv().temporalAddress,
          temporal_namespace: process.env.TEST_TEMPORAL_NAMESPACE ?? 'default',
          task_queue: stack.config.temporal.taskQueue,
        }),
        { mode: 0o600 },
      );
      const result = await cliRun(['imports', 'show', done.id], bareEnv(dataDir));
      expect(result.code).toBe(0);
      // The run's database (the import) and its Temporal (the workflow) were both found.
      expect(JSON.parse(result.stdout)).toMatchObject({ id: done.id, status: 'COMPLETED', workflow: { status: 'COMPLETED' } });
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('with neither set nor a cli.json, a clear error names both ways', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kyc-cli-'));
    try {
      const result = await cliRun(['imports', 'stuck'], bareEnv(dataDir));
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      const error = JSON.parse(result.stderr).error;
      expect(error.code).toBe('not_configured');
      expect(error.message).toContain('DATABASE_URL');
      expect(error.message).toContain('TEMPORAL_ADDRESS');
      expect(error.message).toContain('npm start');
      expect(error.message).toContain(path.join(dataDir, 'cli.json'));
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
