import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'drizzle-orm';
import { api, createTenant, startTestStack, testEnv, waitFor, type TestStack } from './helpers/stack';
import { importWorkflowId } from '../workflows/import-definitions';
import { describeWorkflowTree } from '../src/temporal/inspect';
import { csvOf, getImport, uploadAndValidate, waitForStatus } from './fixtures/imports/support';

const execFileAsync = promisify(execFile);
const ROOT = path.resolve(__dirname, '..');

// Chunks of 5 rows, 4 at once; a marker row in every chunk holds its transaction open (test/helpers/fault-injection.ts).
let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack({ env: { IMPORT_CHUNK_ROWS: '5', IMPORT_CHUNK_CONCURRENCY: '4' } });
});
afterAll(async () => {
  await stack?.stop();
});

/** `count` rows; the first row of each chunk of 5 holds its chunk's transaction `delayMs` open. */
function slowFile(prefix: string, count: number, delayMs: number) {
  return csvOf(
    ['vendor_data', 'display_name'],
    Array.from({ length: count }, (_, i) => [i % 5 === 0 ? `test-fault:delay-${delayMs}-${prefix}-${i}` : `${prefix}-${String(i).padStart(4, '0')}`, `n ${i}`]),
  );
}

/**
 * The import's chunks as the database has them: how many are COMPLETED, and how many are being written right now
 * (a chunk's write holds its row locked for its whole transaction; SKIP LOCKED passes over those).
 */
async function chunkState(importId: string): Promise<{ completed: number; writing: number }> {
  return stack.database.db.transaction(async (tx) => {
    const all = await tx.execute<{ n: number; completed: number }>(
      sql`SELECT count(*)::int AS n, (count(*) FILTER (WHERE status = 'COMPLETED'))::int AS completed FROM import_chunks WHERE import_id = ${importId}`,
    );
    const free = await tx.execute<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM (SELECT 1 FROM import_chunks WHERE import_id = ${importId} FOR KEY SHARE SKIP LOCKED) f`,
    );
    return { completed: all.rows[0].completed, writing: all.rows[0].n - free.rows[0].n };
  });
}

async function dbStatus(importId: string): Promise<string> {
  const result = await stack.database.db.execute<{ status: string }>(sql`SELECT status FROM imports WHERE id = ${importId}`);
  return result.rows[0].status;
}

async function currentDetails(importId: string): Promise<string> {
  const metadata = await stack.client.workflow.getHandle(importWorkflowId(importId)).query<{ currentDetails?: string }>('__temporal_workflow_metadata');
  return metadata.currentDetails ?? '';
}

/** Samples `check` for `ms` milliseconds (a state that must hold for a while, not one to wait for). */
async function holdsFor(ms: number, check: () => Promise<void>) {
  const until = Date.now() + ms;
  let samples = 0;
  while (Date.now() < until || samples < 3) {
    await check();
    samples++;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function userCount(applicationId: string): Promise<number> {
  const result = await stack.database.db.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM users WHERE application_id = ${applicationId}`);
  return result.rows[0].n;
}

describe('pause and resume', () => {
  it('pause during writing: the chunks in flight finish, no chunk starts while PAUSED; resume completes with exact counts', async () => {
    const t = await createTenant(stack.database.db);
    const token = t.operators.ADMIN.token;
    const preview = await uploadAndValidate(stack, token, slowFile('pz', 120, 500));
    expect(preview).toMatchObject({ status: 'AWAITING_CONFIRMATION', chunks: { total: 24 }, chunk_concurrency: 4 });

    // Not writing yet: 409.
    const early = await api(stack, 'POST', `/console/users/imports/${preview.id}/pause`, { token });
    expect(early.status).toBe(409);
    expect(early.body.error.code).toBe('invalid_state');

    await api(stack, 'POST', `/console/users/imports/${preview.id}/confirm`, { token });
    await waitFor(async () => ((await chunkState(preview.id)).completed >= 2 ? true : undefined), 30_000, 50);

    // READER and COMPLIANCE_OFFICER may not; DEVELOPER may.
    expect((await api(stack, 'POST', `/console/users/imports/${preview.id}/pause`, { token: t.operators.READER.token })).status).toBe(403);
    expect((await api(stack, 'POST', `/console/users/imports/${preview.id}/pause`, { token: t.operators.COMPLIANCE_OFFICER.token })).status).toBe(403);
    const paused = await api(stack, 'POST', `/console/users/imports/${preview.id}/pause`, { token: t.operators.DEVELOPER.token });
    expect(paused.status).toBe(202);
    expect(paused.body.status).toBe('PAUSED');
    const atPause = await chunkState(preview.id);
    expect(await dbStatus(preview.id)).toBe('PAUSED');
    expect(await currentDetails(preview.id)).toMatch(/PAUSED/);

    // A second pause is 409; so is a confirm.
    const again = await api(stack, 'POST', `/console/users/imports/${preview.id}/pause`, { token });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('invalid_state');

    // The chunks in flight (at most the window) finish: none is writing, and Temporal has no chunk activity pending
    // (one scheduled just before the pause may reach the worker after it, and is in flight all the same) ...
    const drained = await waitFor(async () => {
      const tree = await describeWorkflowTree(stack.client, importWorkflowId(preview.id));
      if (!tree || tree.pending_activities.some((a) => a.activity_type === 'writeImportChunk')) return undefined;
      const state = await chunkState(preview.id);
      return state.writing === 0 ? state : undefined;
    }, 30_000, 50);
    expect(drained.completed - atPause.completed).toBeLessThanOrEqual(4);
    expect(drained.completed).toBeLessThan(24);
    // ... and none starts while PAUSED.
    await holdsFor(3000, async () => {
      expect(await chunkState(preview.id)).toEqual(drained);
      expect(await dbStatus(preview.id)).toBe('PAUSED');
    });
    expect((await getImport(stack, token, preview.id)).status).toBe('PAUSED');

    const resumed = await api(stack, 'POST', `/console/users/imports/${preview.id}/resume`, { token });
    expect(resumed.status).toBe(202);
    expect(resumed.body.status).toBe('RUNNING');
    const again2 = await api(stack, 'POST', `/console/users/imports/${preview.id}/resume`, { token });
    expect(again2.status).toBe(409);

    const done = await waitForStatus(stack, token, preview.id, ['COMPLETED'], 60_000);
    expect(done).toMatchObject({ created_count: 120, updated_count: 0, processed_rows: 120, chunks: { total: 24, completed: 24, failed: 0 } });
    expect(await userCount(t.applicationId)).toBe(120);
    const resumeDone = await api(stack, 'POST', `/console/users/imports/${preview.id}/resume`, { token });
    expect(resumeDone.status).toBe(409);
  }, 120_000);

  it('a paused import can be cancelled: it ends CANCELLED, the rows written stay', async () => {
    const t = await createTenant(stack.database.db);
    const token = t.operators.OWNER.token;
    const preview = await uploadAndValidate(stack, token, slowFile('pc', 60, 300));
    await api(stack, 'POST', `/console/users/imports/${preview.id}/confirm`, { token });
    await waitFor(async () => ((await chunkState(preview.id)).completed >= 1 ? true : undefined), 30_000, 50);
    expect((await api(stack, 'POST', `/console/users/imports/${preview.id}/pause`, { token })).status).toBe(202);
    expect((await api(stack, 'POST', `/console/users/imports/${preview.id}/cancel`, { token })).status).toBe(202);
    await stack.client.workflow.getHandle(importWorkflowId(preview.id)).result();
    const ended = await getImport(stack, token, preview.id);
    expect(ended.status).toBe('CANCELLED');
    expect(ended.finished_at).not.toBeNull();
    expect(await userCount(t.applicationId)).toBe(ended.created_count);
  }, 60_000);
});

describe('throttle', () => {
  it('PATCH chunk_concurrency 4 -> 1 -> 4 changes the window without a restart; bad values are 400 invalid_field', async () => {
    const t = await createTenant(stack.database.db);
    const token = t.operators.ADMIN.token;
    const preview = await uploadAndValidate(stack, token, slowFile('th', 150, 400));
    const id = preview.id;
    const patch = (body: unknown, as = token) => api(stack, 'PATCH', `/console/users/imports/${id}`, { token: as, body });

    // Bad values and not yet running.
    for (const bad of [{ chunk_concurrency: 0 }, { chunk_concurrency: 17 }, { chunk_concurrency: 2.5 }, { chunk_concurrency: '4' }, {}, { chunk_concurrency: 2, other: 1 }]) {
      const res = await patch(bad);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid_field');
    }
    expect((await patch({ chunk_concurrency: 2 })).status).toBe(409);
    expect((await patch({ chunk_concurrency: 2 }, t.operators.READER.token)).status).toBe(403);

    await api(stack, 'POST', `/console/users/imports/${id}/confirm`, { token });
    const runId = (await stack.client.workflow.getHandle(importWorkflowId(id)).describe()).runId;
    // Window 4: four chunks are written at once.
    await waitFor(async () => ((await chunkState(id)).writing === 4 ? true : undefined), 30_000, 20);

    const one = await patch({ chunk_concurrency: 1 });
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ status: 'RUNNING', chunk_concurrency: 1 });
    // The chunks in flight finish; from then on one at a time.
    await waitFor(async () => ((await chunkState(id)).writing <= 1 ? true : undefined), 30_000, 20);
    const before = (await chunkState(id)).completed;
    await holdsFor(2000, async () => {
      expect((await chunkState(id)).writing).toBeLessThanOrEqual(1);
    });
    expect((await chunkState(id)).completed).toBeGreaterThan(before);
    expect(await currentDetails(id)).toMatch(/window 1/);

    expect((await patch({ chunk_concurrency: 4 }, t.operators.DEVELOPER.token)).status).toBe(200);
    await waitFor(async () => ((await chunkState(id)).writing === 4 ? true : undefined), 30_000, 20);

    const done = await waitForStatus(stack, token, id, ['COMPLETED'], 90_000);
    expect(done).toMatchObject({ created_count: 150, chunk_concurrency: 4, chunks: { total: 30, completed: 30, failed: 0 } });
    expect(await userCount(t.applicationId)).toBe(150);
    // The same run all along: no restart.
    expect((await stack.client.workflow.getHandle(importWorkflowId(id)).describe()).runId).toBe(runId);
    expect((await patch({ chunk_concurrency: 2 })).status).toBe(409);
  }, 150_000);
});

describe('CLI', () => {
  it('imports pause, throttle and resume print the import object', async () => {
    const t = await createTenant(stack.database.db);
    const token = t.operators.OWNER.token;
    // One chunk a second, so that the import is still writing while the CLI (a tsx process each) starts.
    const preview = await uploadAndValidate(stack, token, slowFile('cli', 100, 1000));
    await api(stack, 'POST', `/console/users/imports/${preview.id}/confirm`, { token });
    await waitFor(async () => ((await chunkState(preview.id)).writing > 0 ? true : undefined), 30_000, 50);
    expect((await api(stack, 'PATCH', `/console/users/imports/${preview.id}`, { token, body: { chunk_concurrency: 1 } })).status).toBe(200);
    const env = {
      ...process.env,
      DATABASE_URL: testEnv().databaseUrl,
      TEMPORAL_ADDRESS: testEnv().temporalAddress,
      TEMPORAL_TASK_QUEUE: stack.config.temporal.taskQueue,
      LOG_LEVEL: 'silent',
    };
    const cli = async (...args: string[]) => {
      const { stdout } = await execFileAsync('npx', ['tsx', 'src/cli.ts', ...args], { cwd: ROOT, env });
      return JSON.parse(stdout);
    };
    expect(await cli('imports', 'pause', preview.id)).toMatchObject({ id: preview.id, status: 'PAUSED' });
    expect(await cli('imports', 'throttle', preview.id, '--concurrency', '6')).toMatchObject({ id: preview.id, status: 'PAUSED', chunk_concurrency: 6 });
    await expect(cli('imports', 'throttle', preview.id, '--concurrency', '0')).rejects.toThrow(/concurrency/);
    expect(await cli('imports', 'resume', preview.id)).toMatchObject({ id: preview.id, status: 'RUNNING' });
    await waitForStatus(stack, token, preview.id, ['COMPLETED'], 60_000);
    await expect(cli('imports', 'pause', preview.id)).rejects.toThrow(/invalid_state/);
  }, 120_000);
});
