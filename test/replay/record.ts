import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { Client, WorkflowClientInterceptor } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { and, eq, sql } from 'drizzle-orm';
import { exportParts, exportsTable } from '../../drizzle/schema';
import { setApprovalPolicy } from '../../src/auth/accounts';
import { insertImport } from '../../src/imports/queries';
import { createLogger } from '../../src/logger';
import { installTemporalRuntime } from '../../src/temporal/runtime';
import { createStorage } from '../../src/storage';
import { importWorkflowId, undoImportWorkflowId, type ImportUsersInput } from '../../workflows/import-definitions';
import { exportWorkflowId } from '../../workflows/export-definitions';
import { webhookDeliveryWorkflowId } from '../../workflows/webhook-definitions';
import { webhookEventId } from '../../src/webhooks/events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { csvOf, uploadAndValidate, waitForStatus } from '../fixtures/imports/support';
import { runExport, seedUsers, waitForExport } from '../helpers/exports';
import { startS3Server } from '../helpers/s3-server';
import { api, createTenant, startTestStack, waitFor, type TestStack, type TestTenant } from '../helpers/stack';
import globalSetup, { cleanUp } from '../setup/global-setup';
import { HISTORIES_DIR, MANIFEST, type RecordedHistory } from './histories';

/**
 * `npm run replay:record [-- <label>] [-- --only <scenario>,...]`: runs every workflow for real (the API, the worker
 * and the activities against a fresh database, a private Temporal dev server and versitygw, as `npm test` does) in
 * each scenario below, and saves the history of every run, children included, under
 * test/replay/histories/<label>/ (label: today's date) with a manifest of workflow ids. test/replay/replay.test.ts
 * replays every folder against the current workflow code.
 */

interface Scenario {
  name: string;
  run(ctx: Context): Promise<void>;
}

interface Context {
  stack: TestStack;
  tenant: TestTenant;
  token: string;
  save(scenario: string, workflowId: string, runId?: string): Promise<void>;
  /** Chunks per child workflow the API's next import starts with (the production default is 100). */
  setChunksPerChild(n: number | undefined): void;
  /** Imports expire after 2 s; export ranges pause 1.5 s after each block of rows. */
  slowStack: TestStack;
  s3Stack: TestStack;
}

function log(message: string): void {
  process.stderr.write(`[record] ${message}\n`);
}

/** `count` rows `<prefix>-<n>`; `marker(i)` may replace a row's vendor_data by a test-fault marker. */
function rows(prefix: string, count: number, marker: (i: number) => string | undefined = () => undefined): string {
  return csvOf(
    ['vendor_data', 'display_name'],
    Array.from({ length: count }, (_, i) => [marker(i) ?? `${prefix}-${String(i).padStart(4, '0')}`, `name ${i}`]),
  );
}

async function confirm(ctx: Pick<Context, 'stack' | 'token'>, id: string): Promise<void> {
  const res = await api(ctx.stack, 'POST', `/console/users/imports/${id}/confirm`, { token: ctx.token });
  if (res.status !== 202) throw new Error(`confirm ${id}: ${res.status} ${res.text}`);
}

async function cancel(ctx: Pick<Context, 'stack' | 'token'>, id: string): Promise<void> {
  const res = await api(ctx.stack, 'POST', `/console/users/imports/${id}/cancel`, { token: ctx.token });
  if (res.status !== 202) throw new Error(`cancel ${id}: ${res.status} ${res.text}`);
}

/** Waits until the run (the latest one by default) has closed; returns its run id. */
async function closedRun(client: Client, workflowId: string, runId?: string): Promise<string> {
  return waitFor(async () => {
    const described = await client.workflow.getHandle(workflowId, runId).describe();
    return described.status.name === 'RUNNING' ? undefined : described.runId;
  }, 90_000, 200);
}

const SCENARIOS: Scenario[] = [
  {
    name: 'confirm',
    async run(ctx) {
      // 7 rows in chunks of 5: two chunk activities in one child workflow.
      const preview = await uploadAndValidate(ctx.stack, ctx.token, rows('confirm', 7));
      await confirm(ctx, preview.id);
      await waitForStatus(ctx.stack, ctx.token, preview.id, ['COMPLETED']);
      await ctx.save('confirm', importWorkflowId(preview.id));
    },
  },
  {
    name: 'cancel',
    async run(ctx) {
      const preview = await uploadAndValidate(ctx.stack, ctx.token, rows('cancel', 2));
      await cancel(ctx, preview.id);
      await ctx.save('cancel', importWorkflowId(preview.id));
    },
  },
  {
    name: 'cancel-running',
    async run(ctx) {
      // 40 rows in 8 chunks, two at a time, each held 1.5 s: the cancel reaches the child while chunks are being
      // written and before the last ones start.
      const preview = await uploadAndValidate(
        ctx.stack,
        ctx.token,
        rows('cancel-running', 40, (i) => (i % 5 === 0 ? `test-fault:delay-1500-${i}` : undefined)),
      );
      await confirm(ctx, preview.id);
      await waitFor(async () => {
        const res = await api(ctx.stack, 'GET', `/console/users/imports/${preview.id}`, { token: ctx.token });
        return res.body.processed_rows >= 5 ? true : undefined;
      }, 30_000, 50);
      await cancel(ctx, preview.id);
      await ctx.save('cancel-running', importWorkflowId(preview.id));
    },
  },
  {
    name: 'cancel-in-temporal',
    async run(ctx) {
      // Cancelled from Temporal (Web UI, CLI) rather than the API: the workflow records it in the database.
      const preview = await uploadAndValidate(ctx.stack, ctx.token, rows('cancel-in-temporal', 2));
      await ctx.stack.client.workflow.getHandle(importWorkflowId(preview.id)).cancel();
      await ctx.save('cancel-in-temporal', importWorkflowId(preview.id));
    },
  },
  {
    name: 'pause-throttle',
    async run(ctx) {
      // 40 rows in 8 chunks, each held 1 s: paused while chunks are written, the window resized, then resumed.
      const preview = await uploadAndValidate(ctx.stack, ctx.token, rows('pause', 40, (i) => (i % 5 === 0 ? `test-fault:delay-1000-${i}` : undefined)));
      await confirm(ctx, preview.id);
      await waitFor(async () => {
        const res = await api(ctx.stack, 'GET', `/console/users/imports/${preview.id}`, { token: ctx.token });
        return res.body.processed_rows >= 5 ? true : undefined;
      }, 30_000, 50);
      for (const [method, suffix, body] of [
        ['POST', '/pause', undefined],
        ['PATCH', '', { chunk_concurrency: 3 }],
        ['POST', '/resume', undefined],
      ] as const) {
        const res = await api(ctx.stack, method, `/console/users/imports/${preview.id}${suffix}`, { token: ctx.token, body });
        if (res.status >= 300) throw new Error(`${method} ${suffix}: ${res.status} ${res.text}`);
      }
      await waitForStatus(ctx.stack, ctx.token, preview.id, ['COMPLETED']);
      await ctx.save('pause-throttle', importWorkflowId(preview.id));
    },
  },
  {
    name: 'live-progress',
    async run(ctx) {
      // 40 rows in 8 chunks, each held 3 s, two at a time (12 s): long enough for a periodic read of the database
      // by the parent (its current details, first after 5 s) while its batch runs.
      const preview = await uploadAndValidate(ctx.stack, ctx.token, rows('live', 40, (i) => (i % 5 === 0 ? `test-fault:delay-3000-${i}` : undefined)));
      await confirm(ctx, preview.id);
      await waitForStatus(ctx.stack, ctx.token, preview.id, ['COMPLETED'], 60_000);
      await ctx.save('live-progress', importWorkflowId(preview.id));
    },
  },
  {
    name: 'approval',
    async run(ctx) {
      // A policy on every status: the import waits for a second operator, who approves; another is rejected.
      const tenant = await createTenant(ctx.stack.database.db);
      await setApprovalPolicy(ctx.stack.database.db, { applicationId: tenant.applicationId, statuses: ['ACTIVE'] });
      for (const decision of ['approve', 'reject'] as const) {
        const file = csvOf(['vendor_data', 'status'], [[`${decision}-1`, 'ACTIVE'], [`${decision}-2`, 'ACTIVE']]);
        const preview = await uploadAndValidate(ctx.stack, tenant.operators.OWNER.token, file);
        await confirm({ stack: ctx.stack, token: tenant.operators.OWNER.token }, preview.id);
        const res = await api(ctx.stack, 'POST', `/console/users/imports/${preview.id}/${decision}`, { token: tenant.operators.ADMIN.token });
        if (res.status !== 202) throw new Error(`${decision}: ${res.status} ${res.text}`);
        await closedRun(ctx.stack.client, importWorkflowId(preview.id));
        await ctx.save(`approval-${decision}`, importWorkflowId(preview.id));
      }
    },
  },
  {
    name: 'auto-confirm',
    async run(ctx) {
      // The public bulk API's auto_confirm: the run confirms the import itself once validated; with an approval
      // policy it waits for a second operator instead, who approves.
      const tenant = await createTenant(ctx.stack.database.db);
      const apiUpload = async (content: string) => {
        const form = new FormData();
        form.append('auto_confirm', 'true');
        form.append('file', new Blob([Buffer.from(content)], { type: 'text/csv' }), 'users.csv');
        const res = await fetch(`${ctx.stack.baseUrl}/v3/users/imports`, { method: 'POST', headers: { 'x-api-key': tenant.apiKey }, body: form });
        const body = (await res.json()) as { id: string };
        if (res.status !== 202) throw new Error(`upload: ${res.status} ${JSON.stringify(body)}`);
        return body.id;
      };
      const plain = await apiUpload(rows('auto', 7));
      await waitForStatus(ctx.stack, tenant.operators.OWNER.token, plain, ['COMPLETED']);
      await ctx.save('auto-confirm', importWorkflowId(plain));

      await setApprovalPolicy(ctx.stack.database.db, { applicationId: tenant.applicationId, statuses: ['BLOCKED'] });
      const gated = await apiUpload(csvOf(['vendor_data', 'status'], [['auto-gated-1', 'BLOCKED'], ['auto-gated-2', 'ACTIVE']]));
      await waitForStatus(ctx.stack, tenant.operators.OWNER.token, gated, ['AWAITING_APPROVAL']);
      const res = await api(ctx.stack, 'POST', `/console/users/imports/${gated}/approve`, { token: tenant.operators.ADMIN.token });
      if (res.status !== 202) throw new Error(`approve: ${res.status} ${res.text}`);
      await waitForStatus(ctx.stack, tenant.operators.OWNER.token, gated, ['COMPLETED']);
      await ctx.save('auto-confirm-approval', importWorkflowId(gated));
    },
  },
  {
    name: 'expiry',
    async run(ctx) {
      const stack = ctx.slowStack;
      const tenant = await createTenant(stack.database.db);
      const token = tenant.operators.OWNER.token;
      const preview = await uploadAndValidate(stack, token, rows('expiry', 2));
      await waitForStatus(stack, token, preview.id, ['EXPIRED'], 30_000);
      await ctx.save('expiry', importWorkflowId(preview.id));
    },
  },
  {
    name: 'failed-chunk',
    async run(ctx) {
      // Chunk 2 (row 7) fails its 4 attempts: COMPLETED_WITH_ERRORS. Then a retry (the run has closed): a new run in
      // `retry` mode writes that chunk.
      const preview = await uploadAndValidate(ctx.stack, ctx.token, rows('failed-chunk', 10, (i) => (i === 7 ? 'test-fault:fail-4' : undefined)));
      await confirm(ctx, preview.id);
      await waitForStatus(ctx.stack, ctx.token, preview.id, ['COMPLETED_WITH_ERRORS'], 60_000);
      const workflowId = importWorkflowId(preview.id);
      const firstRun = await closedRun(ctx.stack.client, workflowId);
      const retried = await api(ctx.stack, 'POST', `/console/users/imports/${preview.id}/retry`, { token: ctx.token });
      if (retried.status !== 202) throw new Error(`retry: ${retried.status} ${retried.text}`);
      await waitForStatus(ctx.stack, ctx.token, preview.id, ['COMPLETED'], 60_000);
      const retryRun = await closedRun(ctx.stack.client, workflowId);
      if (retryRun === firstRun) throw new Error('the retry did not start a new run');
      await ctx.save('failed-chunk', workflowId, firstRun);
      await ctx.save('failed-chunk-retry', workflowId, retryRun);
    },
  },
  {
    name: 'retry-while-closing',
    async run(ctx) {
      // Chunk 1 fails; the finish step holds the run open 6 s, so the retry signal reaches a running workflow,
      // which continues as new in `retry` mode.
      const file = rows('retry-while-closing', 8, (i) => (i === 0 ? 'test-fault:fail-4' : i === 7 ? 'test-fault:finish-delay-6000' : undefined));
      const preview = await uploadAndValidate(ctx.stack, ctx.token, file);
      await confirm(ctx, preview.id);
      await waitForStatus(ctx.stack, ctx.token, preview.id, ['COMPLETED_WITH_ERRORS'], 60_000);
      const workflowId = importWorkflowId(preview.id);
      const first = await ctx.stack.client.workflow.getHandle(workflowId).describe();
      if (first.status.name !== 'RUNNING') throw new Error('the first run closed before the retry');
      const retried = await api(ctx.stack, 'POST', `/console/users/imports/${preview.id}/retry`, { token: ctx.token });
      if (retried.status !== 202) throw new Error(`retry: ${retried.status} ${retried.text}`);
      await waitForStatus(ctx.stack, ctx.token, preview.id, ['COMPLETED'], 60_000);
      const status = (await ctx.stack.client.workflow.getHandle(workflowId, first.runId).describe()).status.name;
      if (status !== 'CONTINUED_AS_NEW') throw new Error(`the first run ended ${status}, not CONTINUED_AS_NEW`);
      const second = await closedRun(ctx.stack.client, workflowId);
      await ctx.save('retry-while-closing', workflowId, first.runId);
      await ctx.save('retry-while-closing-continued', workflowId, second);
    },
  },
  {
    name: 'several-children',
    async run(ctx) {
      // 25 rows, 5 chunks, 2 chunks per child: three child workflows one after the other.
      ctx.setChunksPerChild(2);
      try {
        const preview = await uploadAndValidate(ctx.stack, ctx.token, rows('several-children', 25));
        ctx.setChunksPerChild(undefined);
        await confirm(ctx, preview.id);
        await waitForStatus(ctx.stack, ctx.token, preview.id, ['COMPLETED']);
        await ctx.save('several-children', importWorkflowId(preview.id));
      } finally {
        ctx.setChunksPerChild(undefined);
      }
    },
  },
  {
    name: 'export-local',
    async run(ctx) {
      // 5 users in ranges of 2 rows: three range activities, two at a time.
      const tenant = await createTenant(ctx.stack.database.db);
      await seedUsers(ctx.stack.database.db, tenant.applicationId, Array.from({ length: 5 }, (_, i) => ({ vendorData: `export-local-${i}` })));
      const done = await runExport(ctx.stack, tenant.operators.OWNER.token, {});
      if (done.status !== 'COMPLETED') throw new Error(`export ended ${done.status}`);
      await ctx.save('local', exportWorkflowId(done.id));
    },
  },
  {
    name: 'export-schedule',
    async run(ctx) {
      // One run of an incremental export schedule, started by the Temporal Schedule's trigger; its child export too.
      const tenant = await createTenant(ctx.stack.database.db);
      const token = tenant.operators.OWNER.token;
      await seedUsers(ctx.stack.database.db, tenant.applicationId, [{ vendorData: 'schedule-1' }, { vendorData: 'schedule-2' }]);
      const created = await api(ctx.stack, 'POST', '/console/users/export-schedules', {
        token,
        body: { name: 'replay', every: '1d', incremental: true, columns: ['id', 'vendor_data'] },
      });
      if (created.status !== 201) throw new Error(`POST export-schedules: ${created.status} ${created.text}`);
      const handle = ctx.stack.client.schedule.getHandle(created.body.temporal_schedule_id);
      await handle.trigger();
      const workflowId = await waitFor(async () => (await handle.describe()).info.recentActions.at(-1)?.action.workflow.workflowId, 30_000);
      await closedRun(ctx.stack.client, workflowId);
      await ctx.save('incremental', workflowId);
      await api(ctx.stack, 'DELETE', `/console/users/export-schedules/${created.body.id}`, { token });
    },
  },
  {
    name: 'export-s3',
    async run(ctx) {
      const stack = ctx.s3Stack;
      const tenant = await createTenant(stack.database.db);
      await seedUsers(stack.database.db, tenant.applicationId, Array.from({ length: 5 }, (_, i) => ({ vendorData: `export-s3-${i}` })));
      const done = await runExport(stack, tenant.operators.OWNER.token, {});
      if (done.status !== 'COMPLETED') throw new Error(`export ended ${done.status}`);
      await ctx.save('s3', exportWorkflowId(done.id));
    },
  },
  {
    name: 'export-failed',
    async run(ctx) {
      // 6 users in 3 ranges, two at a time, each held 1.5 s: the last range is taken away before it starts, so the
      // export fails (export_part_missing) and the workflow records it.
      const stack = ctx.slowStack;
      const tenant = await createTenant(stack.database.db);
      await seedUsers(stack.database.db, tenant.applicationId, Array.from({ length: 6 }, (_, i) => ({ vendorData: `export-failed-${i}` })));
      const token = tenant.operators.OWNER.token;
      const started = await api(stack, 'POST', '/console/users/exports', { token, body: {} });
      if (started.status !== 202) throw new Error(`POST export: ${started.status} ${started.text}`);
      const parts = await waitFor(async () => {
        const rows = await stack.database.db.select().from(exportParts).where(eq(exportParts.exportId, started.body.id));
        return rows.length === 3 ? rows : undefined;
      }, 30_000, 20);
      const last = Math.max(...parts.map((p) => p.partNo));
      await stack.database.db.delete(exportParts).where(and(eq(exportParts.exportId, started.body.id), eq(exportParts.partNo, last)));
      const done = await waitForExport(stack, token, started.body.id);
      if (done.status !== 'FAILED') throw new Error(`export ended ${done.status}, not FAILED`);
      await ctx.save('failed', exportWorkflowId(done.id));
    },
  },
  {
    name: 'export-cancel',
    async run(ctx) {
      // Cancelled from Temporal while its ranges are being written.
      const stack = ctx.slowStack;
      const tenant = await createTenant(stack.database.db);
      await seedUsers(stack.database.db, tenant.applicationId, Array.from({ length: 6 }, (_, i) => ({ vendorData: `export-cancel-${i}` })));
      const token = tenant.operators.OWNER.token;
      const started = await api(stack, 'POST', '/console/users/exports', { token, body: {} });
      if (started.status !== 202) throw new Error(`POST export: ${started.status} ${started.text}`);
      await waitForExport(stack, token, started.body.id, ['RUNNING'], 30_000);
      await stack.client.workflow.getHandle(exportWorkflowId(started.body.id)).cancel();
      const done = await waitForExport(stack, token, started.body.id);
      if (done.status !== 'CANCELLED') throw new Error(`export ended ${done.status}, not CANCELLED`);
      await ctx.save('cancel-in-temporal', exportWorkflowId(done.id));
    },
  },
  {
    name: 'retention',
    async run(ctx) {
      // One export past EXPORT_RETENTION_DAYS: the run deletes its file.
      const tenant = await createTenant(ctx.stack.database.db);
      await seedUsers(ctx.stack.database.db, tenant.applicationId, [{ vendorData: 'retention-1' }]);
      const old = await runExport(ctx.stack, tenant.operators.OWNER.token, { columns: ['id'] });
      await ctx.stack.database.db
        .update(exportsTable)
        .set({ finishedAt: new Date(Date.now() - 30 * 86_400_000) })
        .where(eq(exportsTable.id, old.id));
      const workflowId = `retention-replay-${randomUUID()}`;
      const result = await ctx.stack.client.workflow.execute('retentionWorkflow', {
        taskQueue: ctx.stack.config.temporal.taskQueue,
        workflowId,
        args: [{}],
      });
      if (result.exportsExpired < 1) throw new Error(`retention expired nothing: ${JSON.stringify(result)}`);
      await ctx.save('expired-export', workflowId);
    },
  },
  {
    name: 'undo',
    async run(ctx) {
      // 12 rows in chunks of 5, 4 of them updating users that exist: the undo restores and deletes over 3 chunks.
      const tenant = await createTenant(ctx.stack.database.db);
      const token = tenant.operators.ADMIN.token;
      await seedUsers(ctx.stack.database.db, tenant.applicationId, [0, 3, 6, 9].map((i) => ({ vendorData: `undo-${String(i).padStart(4, '0')}` })));
      const preview = await uploadAndValidate(ctx.stack, token, rows('undo', 12));
      await confirm({ stack: ctx.stack, token }, preview.id);
      await waitForStatus(ctx.stack, token, preview.id, ['COMPLETED']);
      const res = await api(ctx.stack, 'POST', `/console/users/imports/${preview.id}/undo`, { token });
      if (res.status !== 202) throw new Error(`undo ${preview.id}: ${res.status} ${res.text}`);
      await waitForStatus(ctx.stack, token, preview.id, ['UNDONE']);
      await ctx.save('undo', undoImportWorkflowId(preview.id));
    },
  },
  {
    name: 'retention-undo-images',
    async run(ctx) {
      // The retention run with its step for undo before-images (patch retention-undo-images): one import past
      // IMPORT_UNDO_DAYS.
      const tenant = await createTenant(ctx.stack.database.db);
      const token = tenant.operators.ADMIN.token;
      const preview = await uploadAndValidate(ctx.stack, token, rows('retention-undo', 2));
      await confirm({ stack: ctx.stack, token }, preview.id);
      await waitForStatus(ctx.stack, token, preview.id, ['COMPLETED']);
      await ctx.stack.database.db.execute(sql`UPDATE imports SET finished_at = now() - interval '40 days' WHERE id = ${preview.id}`);
      const workflowId = `retention-replay-${randomUUID()}`;
      const result = await ctx.stack.client.workflow.execute('retentionWorkflow', {
        taskQueue: ctx.stack.config.temporal.taskQueue,
        workflowId,
        args: [{}],
      });
      if ((result.undoImagesDeleted ?? 0) < 1) throw new Error(`retention deleted no undo images: ${JSON.stringify(result)}`);
      await ctx.save('undo-images', workflowId);
    },
  },
  {
    name: 'reconcile',
    async run(ctx) {
      // An import whose workflow never started (the API died in between): the reconciler starts it.
      const tenant = await createTenant(ctx.stack.database.db);
      const id = randomUUID();
      const key = `imports/${tenant.applicationId}/${id}.csv`;
      const file = rows('reconcile', 2);
      await createStorage(ctx.stack.config).putStream(key, Readable.from([Buffer.from(file)]));
      await insertImport(ctx.stack.database.db, {
        id,
        applicationId: tenant.applicationId,
        operatorId: tenant.operators.ADMIN.id,
        fileName: 'orphan.csv',
        fileSha256: 'x',
        fileBytes: file.length,
        storageKey: key,
        workflowId: importWorkflowId(id),
      });
      const workflowId = `reconcile-replay-${randomUUID()}`;
      const result = await ctx.stack.client.workflow.execute('reconcileWorkflow', {
        taskQueue: ctx.stack.config.temporal.taskQueue,
        workflowId,
        args: [{ applicationId: tenant.applicationId }],
      });
      if (!result.restarted.includes(id)) throw new Error(`the reconciler did not restart the import: ${JSON.stringify(result)}`);
      await ctx.save('restarted-import', workflowId);
      // The restarted import waits for its operator; cancel it so that nothing is left running.
      await waitForStatus(ctx.stack, tenant.operators.ADMIN.token, id, ['AWAITING_CONFIRMATION']);
      await cancel({ stack: ctx.stack, token: tenant.operators.ADMIN.token }, id);
    },
  },
  {
    name: 'webhook-delivery',
    async run(ctx) {
      // A receiver on loopback that fails the first attempt and takes the second: the delivery of an
      // import.awaiting_confirmation event, retried once.
      let calls = 0;
      const receiver = createServer((req, res) => {
        req.resume();
        req.on('end', () => {
          calls++;
          res.statusCode = calls === 1 ? 503 : 200;
          res.end();
        });
      });
      await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', () => resolve()));
      try {
        const tenant = await createTenant(ctx.stack.database.db);
        const token = tenant.operators.ADMIN.token;
        const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
        const created = await api(ctx.stack, 'POST', '/console/webhooks', { token, body: { url, events: ['import.awaiting_confirmation'] } });
        if (created.status !== 201) throw new Error(`webhook: ${created.status} ${created.text}`);
        const preview = await uploadAndValidate(ctx.stack, token, rows('webhook', 2));
        const eventId = webhookEventId('import.awaiting_confirmation', preview.id);
        await ctx.save('retried', webhookDeliveryWorkflowId(eventId, created.body.id));
        await cancel({ stack: ctx.stack, token }, preview.id);
      } finally {
        receiver.close();
      }
    },
  },
  {
    name: 'system-check',
    async run(ctx) {
      const workflowId = `system-check-replay-${randomUUID()}`;
      await ctx.stack.client.workflow.execute('systemCheckWorkflow', {
        taskQueue: ctx.stack.config.temporal.taskQueue,
        workflowId,
        args: [{ requestedBy: 'replay-recorder' }],
      });
      await ctx.save('ok', workflowId);
    },
  },
];

function parseArgs(argv: string[]): { label: string; only?: Set<string> } {
  let label = new Date().toISOString().slice(0, 10);
  let only: Set<string> | undefined;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--only') only = new Set(argv[++i]?.split(',') ?? []);
    else label = argv[i];
  }
  if (!/^[\w.-]+$/.test(label)) throw new Error(`label ${label}: letters, digits, '.', '_' and '-' only`);
  for (const name of only ?? []) {
    if (!SCENARIOS.some((s) => s.name === name)) throw new Error(`no scenario ${name} (${SCENARIOS.map((s) => s.name).join(', ')})`);
  }
  return { label, only };
}

async function run(): Promise<void> {
  const { label, only } = parseArgs(process.argv.slice(2));
  const outDir = path.join(HISTORIES_DIR, label);
  fs.mkdirSync(outDir, { recursive: true });
  const manifestPath = path.join(outDir, MANIFEST);
  const manifest: RecordedHistory[] = fs.existsSync(manifestPath) ? JSON.parse(fs.readFileSync(manifestPath, 'utf8')) : [];

  // The activities of the failing-chunk scenarios fail on purpose: keep the SDK's warnings about them out of the way.
  installTemporalRuntime(createLogger({ logLevel: 'error' }, 'temporal'));
  await globalSetup();
  const s3 = await startS3Server();
  let chunksPerChild: number | undefined;
  // The API starts imports with the production input; this sets a smaller batch of chunks per child when asked.
  const withChunksPerChild = <T extends { options: { args: unknown[] }; workflowType: string }>(input: T): T => {
    if (chunksPerChild === undefined || input.workflowType !== 'importUsersWorkflow') return input;
    const [first, ...rest] = input.options.args as [ImportUsersInput, ...unknown[]];
    return { ...input, options: { ...input.options, args: [{ ...first, chunksPerChild }, ...rest] } };
  };
  const interceptor: WorkflowClientInterceptor = {
    startWithDetails: (input, next) => next(withChunksPerChild(input)),
    signalWithStart: (input, next) => next(withChunksPerChild(input)),
  };
  const env = {
    IMPORT_CHUNK_ROWS: '5',
    IMPORT_CHUNK_CONCURRENCY: '2',
    EXPORT_PART_ROWS: '2',
    RECONCILE_AFTER: '1ms',
    WEBHOOK_ALLOW_PRIVATE: 'true',
    WEBHOOK_RETRY_INITIAL_INTERVAL: '200ms',
  };
  const stacks: TestStack[] = [];
  try {
    const stack = await startTestStack({ env, clientInterceptors: [interceptor] });
    stacks.push(stack);
    const slowStack = await startTestStack({ env: { ...env, IMPORT_CONFIRM_TIMEOUT: '2s', TEST_EXPORT_CHUNK_DELAY_MS: '1500' } });
    stacks.push(slowStack);
    const s3Stack = await startTestStack({ env: { ...env, ...(await s3.bucket()).env } });
    stacks.push(s3Stack);
    const tenant = await createTenant(stack.database.db);
    const ctx: Context = {
      stack,
      tenant,
      token: tenant.operators.OWNER.token,
      slowStack,
      s3Stack,
      setChunksPerChild: (n) => {
        chunksPerChild = n;
      },
      async save(scenario, workflowId, runId) {
        const closed = await closedRun(stack.client, workflowId, runId);
        const handle = stack.client.workflow.getHandle(workflowId, closed);
        const described = await handle.describe();
        const history = await handle.fetchHistory();
        const events = history.events ?? [];
        const file = `${described.type}-${scenario}.json`;
        fs.writeFileSync(path.join(outDir, file), JSON.stringify(JSON.parse(historyToJSON(history)), null, 1) + '\n');
        const entry: RecordedHistory = { file, workflowType: described.type, workflowId, scenario, status: described.status.name, events: events.length };
        manifest.splice(0, manifest.length, ...manifest.filter((m) => m.file !== file), entry);
        log(`${path.join(label, file)}: ${events.length} events, ${described.status.name}`);
        // Every child run too, named after the parent's scenario (numbered when there are several).
        const children = events
          .map((e) => e.childWorkflowExecutionStartedEventAttributes?.workflowExecution)
          .filter((c): c is { workflowId: string; runId: string } => Boolean(c?.workflowId && c.runId));
        for (const [i, child] of children.entries()) {
          await ctx.save(children.length > 1 ? `${scenario}-${i + 1}` : scenario, child.workflowId, child.runId);
        }
      },
    };
    for (const scenario of SCENARIOS) {
      if (only && !only.has(scenario.name)) continue;
      const started = Date.now();
      log(`scenario ${scenario.name}`);
      await scenario.run(ctx);
      log(`scenario ${scenario.name} done in ${Date.now() - started} ms`);
    }
    manifest.sort((a, b) => a.file.localeCompare(b.file));
    fs.writeFileSync(manifestPath, JSON.stringify(manifest, null, 2) + '\n');
    log(`${manifest.length} histories in ${path.relative(process.cwd(), outDir)}`);
  } finally {
    for (const stack of stacks.reverse()) await stack.stop().catch(() => undefined);
    await s3.close().catch(() => undefined);
    if (globalThis.__KYC_TEST_INFRA__) await cleanUp(globalThis.__KYC_TEST_INFRA__);
  }
}

run().catch((err: unknown) => {
  process.stderr.write(`recording the histories failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
