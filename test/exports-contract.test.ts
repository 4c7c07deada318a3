import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { MockActivityEnvironment } from '@temporalio/testing';
import { eq, sql } from 'drizzle-orm';
import { exportParts, exportsTable } from '../drizzle/schema';
import { createExportActivities, endExport, type ExportPlan } from '../activities/exports';
import { createDatabase, type Database } from '../src/db/client';
import { OutboxMailer } from '../src/email/outbox';
import { exportKeys } from '../src/exports/queries';
import type { Storage } from '../src/storage';
import { LocalStorage } from '../src/storage/local';
import { S3Storage } from '../src/storage/s3';
import { signedPath } from '../src/storage/signing';
import { download, runExport, seedUsers } from './helpers/exports';
import { startS3Server, type S3TestServer } from './helpers/s3-server';
import { api, createTenant, startTestStack, testConfig, testEnv, type TestStack, type TestTenant } from './helpers/stack';

/**
 * Contract points of exports: an altered download link is refused whichever character is changed, a local download
 * carries its format's media type and file name, and a cancel that lands while startExport or assembleExport runs
 * (the workflow does not wait for them) leaves the export CANCELLED with nothing in storage.
 */

jest.setTimeout(180_000);

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** `text` with its last character replaced by each of the 63 other base64url characters. */
function lastCharacterAltered(text: string): string[] {
  const last = text.slice(-1);
  return [...BASE64URL].filter((c) => c !== last).map((c) => text.slice(0, -1) + c);
}

describe('the API', () => {
  let stack: TestStack;
  let tenant: TestTenant;
  let token: string;

  beforeAll(async () => {
    stack = await startTestStack();
    tenant = await createTenant(stack.database.db);
    token = tenant.operators.OWNER.token;
    await seedUsers(stack.database.db, tenant.applicationId, [
      { vendorData: 'contract-1', createdAt: new Date('2024-01-01T00:00:00Z') },
      { vendorData: 'contract-2', createdAt: new Date('2024-01-02T00:00:00Z') },
    ]);
  });
  afterAll(async () => {
    await stack?.stop();
  });

  test('a download link altered in its last signature character is 403 invalid_link, for every other character', async () => {
    const done = await runExport(stack, token, { columns: ['vendor_data'] });
    expect(done.status).toBe('COMPLETED');
    const pathname = new URL(done.download_url).pathname;
    const altered = lastCharacterAltered(pathname);
    expect(altered).toHaveLength(63);
    for (const link of altered) {
      const res = await api(stack, 'GET', link);
      expect({ link, status: res.status, code: res.body?.error?.code }).toEqual({ link, status: 403, code: 'invalid_link' });
    }
    const unaltered = await download(done.download_url);
    expect(unaltered.status).toBe(200);
    expect(unaltered.text).toBe('vendor_data\r\ncontract-1\r\ncontract-2\r\n');
  });

  test('a local link signed by the storage (?expires=&signature=) altered in its last character is 403 invalid_link', async () => {
    const done = await runExport(stack, token, { columns: ['vendor_data'] });
    const [row] = await stack.database.db.select().from(exportsTable).where(eq(exportsTable.id, done.id));
    const signed = signedPath(stack.config.storage.linkSigningSecret!, row.storageKey!, new Date(Date.now() + 3600_000));
    expect(signed).toMatch(/&signature=[A-Za-z0-9_-]{43}$/);
    for (const link of lastCharacterAltered(signed)) {
      const res = await api(stack, 'GET', link);
      expect({ link, status: res.status, code: res.body?.error?.code }).toEqual({ link, status: 403, code: 'invalid_link' });
    }
    const unaltered = await download(`${stack.baseUrl}${signed}`);
    expect(unaltered.status).toBe(200);
    expect(unaltered.text).toBe('vendor_data\r\ncontract-1\r\ncontract-2\r\n');
    // Audited like the API's links, and ended by a revocation like them.
    const audited = await stack.database.db.execute<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM audit_log WHERE action = 'users.export.download' AND target_id = ${done.id}`,
    );
    expect(audited.rows[0].n).toBe(1);
    expect((await api(stack, 'DELETE', `/console/users/exports/${done.id}/links`, { token })).status).toBe(204);
    const revoked = await api(stack, 'GET', signed);
    expect([revoked.status, revoked.body.error.code]).toEqual([403, 'link_revoked']);
  });

  test.each([
    { body: { format: 'ndjson' }, type: 'application/x-ndjson; charset=utf-8', ext: 'ndjson' },
    { body: { format: 'ndjson', gzip: true }, type: 'application/gzip', ext: 'ndjson.gz' },
    { body: { format: 'csv', gzip: true }, type: 'application/gzip', ext: 'csv.gz' },
    { body: { format: 'csv' }, type: 'text/csv; charset=utf-8', ext: 'csv' },
  ])('a local $ext download is served as $type, with its file name', async ({ body, type, ext }) => {
    const done = await runExport(stack, token, { columns: ['vendor_data'], ...body });
    expect(done.status).toBe('COMPLETED');
    const res = await download(done.download_url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(type);
    // The name is a token, so it may come quoted or not (RFC 6266).
    expect(res.headers.get('content-disposition')?.replace(/"/g, '')).toBe(`attachment; filename=users-export-${done.id}.${ext}`);
    expect(Number(res.headers.get('content-length'))).toBe(res.bytes.length);
    expect(res.bytes.length).toBe(done.file_bytes);
    if (ext === 'ndjson') {
      expect(res.text.trimEnd().split('\n').map((line) => JSON.parse(line))).toEqual([{ vendor_data: 'contract-1' }, { vendor_data: 'contract-2' }]);
    }
  });
});

/** A storage that runs `hook` around one of its methods (`before` or `after` the real call). */
function hooked<K extends keyof Storage>(storage: Storage, method: K, when: 'before' | 'after', hook: () => Promise<void>): Storage {
  return new Proxy(storage, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== 'function') return value;
      if (prop !== method) return value.bind(target);
      return async (...args: unknown[]) => {
        if (when === 'before') await hook();
        const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        if (when === 'after') await hook();
        return result;
      };
    },
  });
}

describe.each(['local', 's3'] as const)('a cancel while an activity runs (%s storage)', (kind) => {
  let database: Database;
  let s3: S3TestServer | undefined;
  let dir: string;
  let storage: Storage;
  /** What is kept under a prefix: objects, and (S3) unfinished multipart uploads. */
  let leftovers: (prefix: string) => Promise<string[]>;

  beforeAll(async () => {
    database = createDatabase(testEnv().databaseUrl, { poolSize: 5 });
    dir = mkdtempSync(path.join(tmpdir(), 'kyc-contract-'));
    if (kind === 'local') {
      const local = new LocalStorage(dir, { signingSecret: 'x' });
      storage = local;
      leftovers = async (prefix) => {
        try {
          return readdirSync(local.pathOf(prefix), { recursive: true }).map(String);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
          throw err;
        }
      };
    } else {
      s3 = await startS3Server();
      const { bucket } = await s3.bucket();
      const remote = new S3Storage(s3.settings(bucket));
      storage = remote;
      leftovers = async (prefix) => {
        const objects = await remote.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
        const uploads = await remote.client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
        return [...(objects.Contents ?? []).map((o) => `object ${o.Key}`), ...(uploads.Uploads ?? []).map((u) => `upload ${u.Key}`)];
      };
    }
  });
  afterAll(async () => {
    if (storage instanceof S3Storage) storage.close();
    await database?.close();
    await s3?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const config = () => testConfig({ DATA_DIR: dir });
  const activitiesWith = (store: Storage) => createExportActivities({ db: database.db, storage: store, mailer: new OutboxMailer(database.db), config: config() });
  /** The workflow's ending of a cancelled export (finishExport). */
  const cancel = (exportId: string) => endExport({ db: database.db, storage, config: config() }, { exportId, outcome: 'CANCELLED' }, `test-cancel-${randomUUID()}`);

  async function queuedExport() {
    const tenant = await createTenant(database.db);
    await seedUsers(database.db, tenant.applicationId, [{ vendorData: 'race-1' }, { vendorData: 'race-2' }, { vendorData: 'race-3' }]);
    const [row] = await database.db
      .insert(exportsTable)
      .values({ applicationId: tenant.applicationId, operatorId: tenant.operators.OWNER.id, columns: ['vendor_data'] })
      .returning();
    return row;
  }
  const rowOf = async (id: string) => (await database.db.select().from(exportsTable).where(eq(exportsTable.id, id)))[0];

  test('startExport on an export cancelled after it was read: it stays CANCELLED, with no plan and no upload', async () => {
    const row = await queuedExport();
    const racing = hooked(storage, 'createComposite', 'before', async () => {
      expect(await cancel(row.id)).toEqual({ status: 'CANCELLED' });
    });
    await expect(new MockActivityEnvironment().run(activitiesWith(racing).startExport, { exportId: row.id })).rejects.toMatchObject({
      type: 'export_finished',
      nonRetryable: true,
    });
    const after = await rowOf(row.id);
    expect(after).toMatchObject({ status: 'CANCELLED', upload: null, startedAt: null });
    expect(await database.db.select().from(exportParts).where(eq(exportParts.exportId, row.id))).toEqual([]);
    expect(await leftovers(exportKeys.prefix(row))).toEqual([]);
  });

  test('a startExport that commits its plan while the cancel cleans up: the upload it opened is removed', async () => {
    const row = await queuedExport();
    let planned: ExportPlan | undefined;
    // The ending reads the export (QUEUED, no upload) and cleans its prefix; startExport then plans it and opens its
    // upload before the ending moves the status.
    const cleaning = hooked(storage, 'deletePrefix', 'after', async () => {
      planned ??= (await new MockActivityEnvironment().run(activitiesWith(storage).startExport, { exportId: row.id })) as ExportPlan;
    });
    await endExport({ db: database.db, storage: cleaning, config: config() }, { exportId: row.id, outcome: 'CANCELLED' }, `test-cancel-${randomUUID()}`);
    expect(planned).toMatchObject({ parts: 1 });
    expect(await rowOf(row.id)).toMatchObject({ status: 'CANCELLED', upload: null });
    expect(await leftovers(exportKeys.prefix(row))).toEqual([]);
  });

  test('assembleExport on an export cancelled while its file was joined: nothing is recorded and the file is deleted', async () => {
    const row = await queuedExport();
    const activities = activitiesWith(storage);
    const plan = (await new MockActivityEnvironment().run(activities.startExport, { exportId: row.id })) as ExportPlan;
    expect(plan.parts).toBe(1);
    await new MockActivityEnvironment().run(activities.exportRange, { exportId: row.id, partNo: 0 });
    const fileKey = exportKeys.file(row);
    // The cancel's clean-up ran before the file was whole; its status lands just after.
    const racing = hooked(storage, 'completeComposite', 'after', async () => {
      expect(await storage.stat(fileKey)).toEqual({ bytes: 'vendor_data\r\nrace-1\r\nrace-2\r\nrace-3\r\n'.length });
      await database.db.update(exportsTable).set({ status: 'CANCELLED', upload: null }).where(eq(exportsTable.id, row.id));
    });
    await expect(new MockActivityEnvironment().run(activitiesWith(racing).assembleExport, { exportId: row.id })).rejects.toMatchObject({
      type: 'export_not_running',
      nonRetryable: true,
    });
    expect(await rowOf(row.id)).toMatchObject({
      status: 'CANCELLED',
      storageKey: null,
      rowCount: null,
      fileBytes: null,
      fileSha256: null,
      linkIssuedAt: null,
      linkExpiresAt: null,
      emailTo: null,
      emailStatus: null,
    });
    expect(await storage.stat(fileKey)).toBeUndefined();
    expect(await leftovers(exportKeys.prefix(row))).toEqual([]);
  });

  test('without a cancel, startExport, exportRange and assembleExport record the file', async () => {
    const row = await queuedExport();
    const activities = activitiesWith(storage);
    await new MockActivityEnvironment().run(activities.startExport, { exportId: row.id });
    expect(await rowOf(row.id)).toMatchObject({ status: 'RUNNING', storageKind: kind });
    await new MockActivityEnvironment().run(activities.exportRange, { exportId: row.id, partNo: 0 });
    const file = await new MockActivityEnvironment().run(activities.assembleExport, { exportId: row.id });
    const text = 'vendor_data\r\nrace-1\r\nrace-2\r\nrace-3\r\n';
    expect(file).toMatchObject({ rowCount: 3, fileBytes: text.length });
    expect(await rowOf(row.id)).toMatchObject({ status: 'RUNNING', storageKey: exportKeys.file(row), rowCount: 3, emailStatus: 'PENDING' });
    expect(await leftovers(exportKeys.prefix(row))).toEqual(kind === 'local' ? [path.basename(exportKeys.file(row))] : [`object ${exportKeys.file(row)}`]);
  });
});
