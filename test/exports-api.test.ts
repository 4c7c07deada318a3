import { createHash } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { auditLog, emailOutbox, exportsTable } from '../drizzle/schema';
import { columnsForRole, EXPORT_COLUMNS, type ExportColumn } from '../src/exports/columns';
import { escapeFormula } from '../src/exports/csv';
import { exportDownloadUrl } from '../src/exports/present';
import { loadSigningSecret } from '../src/storage/signing';
import {
  ALL_COLUMNS,
  download,
  expectedCsv,
  parseCsv,
  runExport,
  seedUsers,
  usersInOrder,
  waitForExport,
  type SeedUser,
} from './helpers/exports';
import { exportProgressQuery } from '../workflows/export-definitions';
import { ApplicationId, JobId, JobKind } from '../workflows/definitions';
import { api, createTenant, startTestStack, type TestStack, type TestTenant } from './helpers/stack';

/**
 * The export endpoints end to end on the real stack (Postgres, Temporal, a worker, local storage): filters, columns,
 * roles, the file's bytes against the reference formatter, links, email and audit.
 */

let stack: TestStack;
let tenant: TestTenant;
let owner: string;
let seeded: Awaited<ReturnType<typeof seedUsers>>;

const t = (iso: string) => new Date(iso);

const SEED: SeedUser[] = [
  {
    vendorData: 'alice-1',
    displayName: 'Alice',
    fullName: 'Alice Liddell',
    dateOfBirth: '1990-04-01',
    email: 'alice@example.com',
    phone: '+34600111222',
    country: 'ESP',
    status: 'ACTIVE',
    tags: ['vip', 'eu'],
    metadata: { plan: 'pro', seats: 3 },
    sessionCount: 2,
    approvedCount: 1,
    createdAt: t('2024-01-01T10:00:00.000Z'),
  },
  {
    vendorData: 'bob-2',
    displayName: 'Bob, "the builder"',
    fullName: 'Bob Stone',
    email: 'bob@builder.test',
    phone: '+441234567890',
    country: 'GBR',
    status: 'FLAGGED',
    tags: ['new'],
    metadata: { note: 'line one\nline two' },
    createdAt: t('2024-02-01T10:00:00.000Z'),
  },
  {
    vendorData: '=HYPERLINK("http://evil")',
    displayName: '+SUM(A1:A2)',
    fullName: '-2+3',
    email: '@risky@example.com',
    phone: '+15551234567',
    country: 'USA',
    status: 'BLOCKED',
    tags: ['-neg', 'x'],
    createdAt: t('2024-03-01T10:00:00.000Z'),
  },
  {
    vendorData: 'zoë-ünïcødé',
    displayName: '日本語の名前',
    fullName: 'Zoë Ñúñez 😀',
    email: 'zoe@example.com',
    country: 'FRA',
    status: 'ACTIVE',
    tags: ['café', 'eu'],
    metadata: { emoji: '😀', nested: { a: [1, 2, { b: null }] } },
    createdAt: t('2024-04-01T10:00:00.000Z'),
  },
  {
    vendorData: 'numbers-5',
    displayName: '-12.5',
    fullName: '+100',
    country: 'DEU',
    status: 'FLAGGED',
    createdAt: t('2024-05-01T10:00:00.000Z'),
  },
  // Same created_at as the one above: the id breaks the tie.
  { vendorData: 'tie-6', displayName: 'Tie', country: 'DEU', status: 'ACTIVE', createdAt: t('2024-05-01T10:00:00.000Z') },
];

beforeAll(async () => {
  stack = await startTestStack();
  tenant = await createTenant(stack.database.db);
  owner = tenant.operators.OWNER.token;
  seeded = await seedUsers(stack.database.db, tenant.applicationId, SEED);
});

afterAll(async () => {
  await stack?.stop();
});

async function exportFile(body: unknown, token = owner) {
  const done = await runExport(stack, token, body);
  expect(done.status).toBe('COMPLETED');
  const file = await download(done.download_url);
  expect(file.status).toBe(200);
  return { done, file };
}

/** The seeded users matching `pick`, in export order. */
async function expected(columns: readonly ExportColumn[], pick: (u: (typeof seeded)[number]) => boolean = () => true) {
  const all = await usersInOrder(stack.database.db, tenant.applicationId);
  return expectedCsv(columns, all.filter(pick));
}

describe('POST /console/users/exports', () => {
  test('every column by default for an OWNER: the file is exactly the reference formatting, in created_at, id order', async () => {
    const { done, file } = await exportFile({});
    expect(done.columns).toEqual(ALL_COLUMNS);
    expect(file.text).toBe(await expected(ALL_COLUMNS));
    expect(done.row_count).toBe(SEED.length);
    expect(done.file_bytes).toBe(file.bytes.length);
    expect(done.file_sha256).toBe(createHash('sha256').update(file.bytes).digest('hex'));
    expect(done.progress).toBe(1);
    expect(file.headers.get('content-type')).toMatch(/^text\/csv/);
    const rows = parseCsv(file.text);
    expect(rows[0]).toEqual([...EXPORT_COLUMNS]);
    expect(rows.slice(1).map((r) => r[0])).toEqual((await usersInOrder(stack.database.db, tenant.applicationId)).map((u) => u.id));
  });

  test('the export object has the fields of API.md', async () => {
    const started = await api(stack, 'POST', '/console/users/exports', { token: owner, body: { columns: ['id'] } });
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({
      status: 'QUEUED',
      filters: {},
      columns: ['id'],
      operator: { id: tenant.operators.OWNER.id, email: tenant.operators.OWNER.email },
      row_count: null,
      file_bytes: null,
      file_sha256: null,
      download_url: null,
      link_expires_at: null,
      email: null,
      error: null,
      workflow_id: `users-export-${started.body.id}`,
      finished_at: null,
      format: 'csv',
      gzip: false,
      excel_bom: false,
    });
    expect(Object.keys(started.body).sort()).toEqual(
      [
        'id', 'status', 'filters', 'columns', 'operator', 'row_count', 'progress', 'file_bytes', 'file_sha256', 'download_url',
        'link_expires_at', 'email', 'error', 'workflow_id', 'created_at', 'finished_at', 'format', 'gzip', 'excel_bom',
        'rows_per_second', 'eta_seconds', 'schedule_id', 'incremental', 'changed_after', 'snapshot_at',
      ].sort(),
    );
    const done = await waitForExport(stack, owner, started.body.id);
    expect(done).toMatchObject({ status: 'COMPLETED', row_count: SEED.length, progress: 1 });
    // No mail service is configured in this stack: the email is stored in the outbox, and nothing claims it was sent.
    expect(done.email).toEqual({ to: tenant.operators.OWNER.email, status: 'OUTBOX', sent_at: null });
    expect(new Date(done.link_expires_at).getTime() - Date.now()).toBeGreaterThan(86_000_000);
    expect(done.finished_at).not.toBeNull();
  });
});

describe('filters', () => {
  const cases: [string, Record<string, unknown>, (u: (typeof seeded)[number]) => boolean][] = [
    ['status', { status: ['flagged'] }, (u) => u.status === 'FLAGGED'],
    ['status, several', { status: ['ACTIVE', 'BLOCKED'] }, (u) => u.status === 'ACTIVE' || u.status === 'BLOCKED'],
    ['country', { country: ['deu', 'GBR'] }, (u) => u.country === 'DEU' || u.country === 'GBR'],
    ['tags (any of them)', { tags: ['vip', 'café'] }, (u) => u.tags.includes('vip') || u.tags.includes('café')],
    ['created_from (inclusive)', { created_from: '2024-03-01T10:00:00Z' }, (u) => u.createdAt >= t('2024-03-01T10:00:00Z')],
    ['created_to (exclusive)', { created_to: '2024-03-01T10:00:00Z' }, (u) => u.createdAt < t('2024-03-01T10:00:00Z')],
    ['search', { search: 'ALICE' }, (u) => u.vendorData === 'alice-1'],
    [
      'all combined',
      { status: ['ACTIVE', 'FLAGGED'], country: ['ESP', 'FRA', 'GBR'], tags: ['eu', 'new'], created_from: '2024-01-01T00:00:00Z', created_to: '2024-04-01T10:00:00Z', search: 'e' },
      (u) => ['alice-1', 'bob-2'].includes(u.vendorData),
    ],
    ['nothing matches', { status: ['BLOCKED'], country: ['ESP'] }, () => false],
  ];
  test.each(cases)('%s', async (_name, filters, pick) => {
    const { done, file } = await exportFile({ filters, columns: ['vendor_data', 'status', 'country', 'tags', 'created_at'] });
    const columns: ExportColumn[] = ['vendor_data', 'status', 'country', 'tags', 'created_at'];
    expect(file.text).toBe(await expected(columns, pick));
    expect(done.row_count).toBe((await usersInOrder(stack.database.db, tenant.applicationId)).filter(pick).length);
  });

  test('filters come back normalised in the export object', async () => {
    const res = await api(stack, 'POST', '/console/users/exports', {
      token: owner,
      body: { filters: { status: ['active', 'ACTIVE'], country: ['esp'], created_from: '2024-01-01T01:00:00+01:00', search: '  al ' } },
    });
    expect(res.status).toBe(202);
    expect(res.body.filters).toEqual({ status: ['ACTIVE'], country: ['ESP'], created_from: '2024-01-01T00:00:00.000Z', search: 'al' });
    await waitForExport(stack, owner, res.body.id);
  });

  // Each searchable field alone: a text only that field of one user holds.
  test.each([
    ['vendor_data', 'ZOË-ÜN', 'zoë-ünïcødé'],
    ['display_name', 'the builder', 'bob-2'],
    ['full_name', 'liddell', 'alice-1'],
    ['email', '@BUILDER.test', 'bob-2'],
    ['phone', '5551234', '=HYPERLINK("http://evil")'],
  ])('search matches %s, case-insensitively', async (_field, search, vendorData) => {
    const { file } = await exportFile({ filters: { search }, columns: ['vendor_data'] });
    expect(parseCsv(file.text)).toEqual([['vendor_data'], [escapeFormula(vendorData)]]);
  });

  test('search treats % and _ literally', async () => {
    const { file } = await exportFile({ filters: { search: '%' }, columns: ['vendor_data'] });
    expect(parseCsv(file.text)).toEqual([['vendor_data']]);
  });
});

describe('columns and roles', () => {
  test('columns are written in the order given', async () => {
    const columns: ExportColumn[] = ['updated_at', 'email', 'id', 'tags', 'vendor_data'];
    const { file } = await exportFile({ columns });
    expect(file.text).toBe(await expected(columns));
    expect(parseCsv(file.text)[0]).toEqual(columns);
  });

  test.each(['DEVELOPER', 'READER'] as const)('%s exports the restricted columns by default', async (role) => {
    const token = tenant.operators[role].token;
    const { done, file } = await exportFile({}, token);
    const restricted = columnsForRole(role);
    expect(restricted).toEqual([
      'id', 'vendor_data', 'display_name', 'country', 'status', 'tags', 'session_count', 'approved_count', 'declined_count',
      'in_review_count', 'created_at', 'updated_at',
    ]);
    expect(done.columns).toEqual(restricted);
    expect(file.text).toBe(await expected(restricted));
  });

  test.each(['DEVELOPER', 'READER'] as const)('%s may not export a personal-data column: 403 column_not_permitted', async (role) => {
    const token = tenant.operators[role].token;
    const before = await stack.database.db.select().from(exportsTable).where(eq(exportsTable.applicationId, tenant.applicationId));
    for (const column of ['full_name', 'date_of_birth', 'email', 'phone', 'metadata_json']) {
      const res = await api(stack, 'POST', '/console/users/exports', { token, body: { columns: ['id', column] } });
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('column_not_permitted');
      expect(res.body.error.details).toEqual({ columns: [column] });
      expect(res.body.error.message).toContain(column);
    }
    const res = await api(stack, 'POST', '/console/users/exports', { token, body: { columns: ['phone', 'id', 'email'] } });
    expect(res.body.error.details).toEqual({ columns: ['phone', 'email'] });
    const after = await stack.database.db.select().from(exportsTable).where(eq(exportsTable.applicationId, tenant.applicationId));
    expect(after.length).toBe(before.length);
  });

  test.each(['ADMIN', 'COMPLIANCE_OFFICER'] as const)('%s exports every column', async (role) => {
    const { done, file } = await exportFile({ columns: ['email', 'full_name'] }, tenant.operators[role].token);
    expect(done.columns).toEqual(['email', 'full_name']);
    expect(file.text).toBe(await expected(['email', 'full_name']));
  });
});

describe('the file', () => {
  test('an empty result is a header-only file', async () => {
    const { done, file } = await exportFile({ filters: { search: 'no user has this text' } });
    expect(file.text).toBe(`${EXPORT_COLUMNS.join(',')}\r\n`);
    expect(done.row_count).toBe(0);
    expect(done.progress).toBe(1);
  });

  test('unicode survives as UTF-8 without a byte-order mark', async () => {
    const { file } = await exportFile({ filters: { search: 'zoë' }, columns: ['display_name', 'full_name', 'tags', 'metadata_json'] });
    expect(file.bytes[0]).not.toBe(0xef);
    const [, row] = parseCsv(file.text);
    expect(row).toEqual(['日本語の名前', 'Zoë Ñúñez 😀', 'café,eu', expect.any(String)]);
    expect(JSON.parse(row[3])).toEqual({ emoji: '😀', nested: { a: [1, 2, { b: null }] } });
  });

  test('formula cells get a leading quote; numbers and E.164 phones do not', async () => {
    const { file } = await exportFile({
      filters: { country: ['USA', 'DEU', 'ESP'] },
      columns: ['vendor_data', 'display_name', 'full_name', 'email', 'phone', 'tags'],
    });
    const rows = parseCsv(file.text);
    expect(rows[1]).toEqual(['alice-1', 'Alice', 'Alice Liddell', 'alice@example.com', '+34600111222', 'vip,eu']);
    expect(rows[2]).toEqual(["'=HYPERLINK(\"http://evil\")", "'+SUM(A1:A2)", "'-2+3", "'@risky@example.com", '+15551234567', "'-neg,x"]);
    // (numbers-5 and tie-6 share a created_at: their order is by id.)
    expect(rows.find((r) => r[0] === 'numbers-5')).toEqual(['numbers-5', '-12.5', '+100', '', '', '']);
  });

  test('quotes, commas and line breaks are quoted as RFC 4180 has it; records end in CRLF', async () => {
    const { file } = await exportFile({ filters: { search: 'bob' }, columns: ['display_name', 'metadata_json'] });
    expect(file.text).toBe('display_name,metadata_json\r\n"Bob, ""the builder""","{""note"": ""line one\\nline two""}"\r\n');
  });
});

describe('links', () => {
  let done: any;
  beforeAll(async () => {
    done = await runExport(stack, tenant.operators.ADMIN.token, { columns: ['id', 'vendor_data'] });
  });

  test('download_url is only for the operator who requested the export', async () => {
    expect(done.download_url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/downloads\//);
    for (const role of ['OWNER', 'COMPLIANCE_OFFICER', 'DEVELOPER', 'READER'] as const) {
      const res = await api(stack, 'GET', `/console/users/exports/${done.id}`, { token: tenant.operators[role].token });
      expect(res.status).toBe(200);
      expect(res.body.download_url).toBeNull();
      const list = await api(stack, 'GET', '/console/users/exports', { token: tenant.operators[role].token });
      expect(list.body.results.find((e: any) => e.id === done.id).download_url).toBeNull();
    }
    const list = await api(stack, 'GET', '/console/users/exports', { token: tenant.operators.ADMIN.token });
    expect(list.body.results.find((e: any) => e.id === done.id).download_url).toBe(done.download_url);
  });

  test('the link works without a token, and an altered link is 403', async () => {
    expect((await download(done.download_url)).status).toBe(200);
    // The API serves every link: /downloads/<export id>.<generation>.<expires>.<signature>
    const url = new URL(done.download_url);
    const [id, generation, expires, sig] = url.pathname.split('/').pop()!.split('.');
    expect(id).toBe(done.id);
    const token = (parts: string[]) => `/downloads/${parts.join('.')}`;
    const bads = [
      token([id, generation, expires, (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1)]),
      token([id, generation, String(Number(expires) + 3600), sig]),
      token([seeded[0].id, generation, expires, sig]),
      token([id, String(Number(generation) + 1), expires, sig]),
      token([id, generation, expires]),
      '/downloads/not-a-token',
    ];
    for (const bad of bads) {
      const res = await api(stack, 'GET', bad);
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('invalid_link');
    }
  });

  test('POST /link gives the requester a fresh link; others get 403, another application 404', async () => {
    const admin = tenant.operators.ADMIN.token;
    // Fresh each time, even within one second of the one before (two in a row here).
    const first = await api(stack, 'POST', `/console/users/exports/${done.id}/link`, { token: admin });
    const res = await api(stack, 'POST', `/console/users/exports/${done.id}/link`, { token: admin });
    expect([first.status, res.status]).toEqual([200, 200]);
    expect(new Set([done.download_url, first.body.download_url, res.body.download_url]).size).toBe(3);
    expect(new Date(first.body.link_expires_at).getTime()).toBeGreaterThan(new Date(done.link_expires_at).getTime());
    expect(new Date(res.body.link_expires_at).getTime()).toBeGreaterThan(new Date(first.body.link_expires_at).getTime());
    expect((await download(res.body.download_url)).status).toBe(200);
    const again = await api(stack, 'GET', `/console/users/exports/${done.id}`, { token: admin });
    expect(again.body.download_url).toBe(res.body.download_url);

    for (const role of ['OWNER', 'COMPLIANCE_OFFICER', 'READER'] as const) {
      const other = await api(stack, 'POST', `/console/users/exports/${done.id}/link`, { token: tenant.operators[role].token });
      expect(other.status).toBe(403);
      expect(other.body.error.code).toBe('forbidden');
    }
    const stranger = await createTenant(stack.database.db);
    for (const path of [`/console/users/exports/${done.id}`, `/console/users/exports/${done.id}/link`]) {
      const res2 = await api(stack, path.endsWith('link') ? 'POST' : 'GET', path, { token: stranger.operators.OWNER.token });
      expect(res2.status).toBe(404);
      expect(res2.body.error.code).toBe('not_found');
    }
    const list = await api(stack, 'GET', '/console/users/exports', { token: stranger.operators.OWNER.token });
    expect(list.body).toEqual({ results: [], next_cursor: null });
  });

  test('an expired link is 403 link_expired; POST /link is 409 unless COMPLETED', async () => {
    await stack.database.db
      .update(exportsTable)
      .set({ linkIssuedAt: new Date(Date.now() - 7200_000), linkExpiresAt: new Date(Date.now() - 3600_000) })
      .where(eq(exportsTable.id, done.id));
    // Once link_expires_at has passed the API hands out no link (download_url null); a link signed for that period
    // (as it was handed out before it passed) is refused.
    const expired = await api(stack, 'GET', `/console/users/exports/${done.id}`, { token: tenant.operators.ADMIN.token });
    expect(expired.body).toMatchObject({ status: 'COMPLETED', download_url: null });
    const [row] = await stack.database.db.select().from(exportsTable).where(eq(exportsTable.id, done.id));
    const secret = loadSigningSecret(stack.config.storage.linkSigningSecret, stack.config.dataDir);
    const signed = exportDownloadUrl(secret, row, stack.config.api.publicBaseUrl, row.linkIssuedAt!.getTime());
    const url = new URL(signed!);
    const res = await api(stack, 'GET', url.pathname + url.search);
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('link_expired');

    const queued = await api(stack, 'POST', '/console/users/exports', { token: owner, body: { columns: ['id'] } });
    const early = await api(stack, 'POST', `/console/users/exports/${queued.body.id}/link`, { token: owner });
    if (early.status !== 200) {
      expect(early.status).toBe(409);
      expect(early.body.error.code).toBe('invalid_state');
    }
    await waitForExport(stack, owner, queued.body.id);
    await stack.database.db.update(exportsTable).set({ status: 'EXPIRED', storageKey: null }).where(eq(exportsTable.id, queued.body.id));
    const gone = await api(stack, 'POST', `/console/users/exports/${queued.body.id}/link`, { token: owner });
    expect(gone.status).toBe(409);
    expect(gone.body.error.code).toBe('invalid_state');
    const failed = await stack.database.db
      .insert(exportsTable)
      .values({ applicationId: tenant.applicationId, operatorId: tenant.operators.OWNER.id, status: 'FAILED', columns: ['id'] })
      .returning();
    const failedLink = await api(stack, 'POST', `/console/users/exports/${failed[0].id}/link`, { token: owner });
    expect(failedLink.status).toBe(409);
  });
});

describe('email and audit', () => {
  test('the requester is emailed the link, the row count, the filters and the expiry, once', async () => {
    const done = await runExport(stack, tenant.operators.COMPLIANCE_OFFICER.token, {
      filters: { status: ['ACTIVE'], country: ['ESP', 'FRA'] },
      columns: ['id', 'email'],
    });
    const mails = await stack.database.db.select().from(emailOutbox).where(eq(emailOutbox.idempotencyKey, `users-export-${done.id}`));
    expect(mails).toHaveLength(1);
    const [mail] = mails;
    expect(mail.toAddress).toBe(tenant.operators.COMPLIANCE_OFFICER.email);
    expect(mail.body).toContain(done.download_url);
    expect(mail.body).toContain(`Rows: ${done.row_count}`);
    expect(mail.body).toContain('status: ACTIVE');
    expect(mail.body).toContain('country: ESP, FRA');
    expect(mail.body).toContain(done.link_expires_at);
    expect(done.email).toEqual({ to: mail.toAddress, status: 'OUTBOX', sent_at: null });
    expect(mail).toMatchObject({ transport: 'outbox', sent: false, sentAt: null });
    expect((await download(done.download_url)).status).toBe(200);
  });

  test('each export writes one audit entry as it ends, with filters, columns and row count', async () => {
    const done = await runExport(stack, owner, { filters: { tags: ['eu'] }, columns: ['vendor_data', 'tags'] });
    const entries = await stack.database.db.select().from(auditLog).where(eq(auditLog.targetId, done.id));
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      action: 'users.export',
      status: 'SUCCESS',
      operatorId: tenant.operators.OWNER.id,
      details: expect.objectContaining({ filters: { tags: ['eu'] }, columns: ['vendor_data', 'tags'], row_count: done.row_count }),
    });
    const log = await api(stack, 'GET', '/console/audit-log?action=users.export', { token: owner });
    expect(log.status).toBe(200);
    const entry = log.body.results.find((e: any) => e.target_id === done.id);
    expect(entry).toMatchObject({
      action: 'users.export',
      status: 'SUCCESS',
      operator: { id: tenant.operators.OWNER.id, email: tenant.operators.OWNER.email },
      details: { filters: { tags: ['eu'] }, columns: ['vendor_data', 'tags'], row_count: 2 },
    });
    expect(new Date(entry.finished_at).getTime()).toBeGreaterThanOrEqual(new Date(entry.started_at).getTime());
  });
});

describe('validation', () => {
  const bad: [string, unknown, string, string][] = [
    ['unknown column', { columns: ['id', 'password'] }, 'columns.1', 'unknown_column'],
    ['duplicate column', { columns: ['id', 'id'] }, 'columns.1', 'duplicate_column'],
    ['empty columns', { columns: [] }, 'columns', 'no_columns'],
    ['unknown filter', { filters: { colour: ['red'] } }, 'filters.colour', 'unknown_field'],
    ['unknown top-level field', { filter: {} }, 'filter', 'unknown_field'],
    ['bad status', { filters: { status: ['ACTIVE', 'SLEEPING'] } }, 'filters.status.1', 'invalid_status'],
    ['bad country', { filters: { country: ['XXX'] } }, 'filters.country.0', 'invalid_country'],
    ['status not a list', { filters: { status: 'ACTIVE' } }, 'filters.status', 'invalid_type'],
    ['bad tag', { filters: { tags: [''] } }, 'filters.tags.0', 'invalid_tags'],
    ['bad time', { filters: { created_from: 'yesterday' } }, 'filters.created_from', 'invalid_datetime'],
    ['empty range', { filters: { created_from: '2024-02-01T00:00:00Z', created_to: '2024-01-01T00:00:00Z' } }, 'filters.created_to', 'invalid_range'],
    ['search too long', { filters: { search: 'x'.repeat(201) } }, 'filters.search', 'too_long'],
  ];
  test.each(bad)('%s: 400 invalid_field', async (_name, body, field, code) => {
    const res = await api(stack, 'POST', '/console/users/exports', { token: owner, body });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_field');
    // Messages are for a person: never a validator's own wording.
    for (const detail of res.body.error.details) expect(detail.message).not.toMatch(/Too small|>=/);
    expect(res.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ field, code })]));
  });

  test('bodies that are not an object, not JSON or not JSON-typed', async () => {
    expect((await api(stack, 'POST', '/console/users/exports', { token: owner, body: '[]' })).body.error.code).toBe('invalid_body');
    expect((await api(stack, 'POST', '/console/users/exports', { token: owner, body: '{' })).body.error.code).toBe('invalid_json');
    const text = await api(stack, 'POST', '/console/users/exports', { token: owner, body: 'x', headers: { 'content-type': 'text/plain' } });
    expect(text.status).toBe(415);
  });

  test('no body at all is an export of everything the role may see', async () => {
    const res = await api(stack, 'POST', '/console/users/exports', { token: tenant.operators.READER.token });
    expect(res.status).toBe(202);
    expect(res.body.columns).toEqual(columnsForRole('READER'));
    await waitForExport(stack, tenant.operators.READER.token, res.body.id);
  });

  test('auth: 401 without a token; GET of an unknown or malformed id is 404', async () => {
    expect((await api(stack, 'POST', '/console/users/exports', { body: {} })).status).toBe(401);
    expect((await api(stack, 'GET', '/console/users/exports')).status).toBe(401);
    expect((await api(stack, 'GET', `/console/users/exports/${seeded[0].id}`, { token: owner })).status).toBe(404);
    expect((await api(stack, 'GET', '/console/users/exports/not-a-uuid', { token: owner })).status).toBe(404);
  });
});

describe('history', () => {
  test('GET /console/users/exports lists newest first with a cursor', async () => {
    const first = await api(stack, 'GET', '/console/users/exports?limit=2', { token: tenant.operators.READER.token });
    expect(first.status).toBe(200);
    expect(first.body.results).toHaveLength(2);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const second = await api(stack, 'GET', `/console/users/exports?limit=2&cursor=${first.body.next_cursor}`, { token: tenant.operators.READER.token });
    expect(second.body.results).toHaveLength(2);
    const times = [...first.body.results, ...second.body.results].map((e: any) => e.created_at);
    expect([...times].sort().reverse()).toEqual(times);
    expect(new Set([...first.body.results, ...second.body.results].map((e: any) => e.id)).size).toBe(4);
    const completed = await api(stack, 'GET', '/console/users/exports?status=completed&limit=200', { token: owner });
    expect(completed.body.results.every((e: any) => e.status === 'COMPLETED')).toBe(true);
    expect((await api(stack, 'GET', '/console/users/exports?status=nope', { token: owner })).status).toBe(400);
    expect((await api(stack, 'GET', '/console/users/exports?limit=0', { token: owner })).status).toBe(400);
  });
});

describe('Temporal', () => {
  test('the workflow carries search attributes, a summary and a progress query (no personal data)', async () => {
    const done = await runExport(stack, owner, { filters: { search: 'alice@example.com' }, columns: ['id', 'email'] });
    const handle = stack.client.workflow.getHandle(done.workflow_id);
    const description = await handle.describe();
    expect(description.typedSearchAttributes.get(JobKind)).toBe('export');
    expect(description.typedSearchAttributes.get(JobId)).toBe(done.id);
    expect(description.typedSearchAttributes.get(ApplicationId)).toBe(tenant.applicationId);
    const summary = await description.staticSummary();
    expect(summary).toContain(done.id.slice(0, 8));
    expect(summary).toContain('search');
    expect(summary).not.toContain('alice');
    expect(await handle.query(exportProgressQuery)).toMatchObject({ phase: 'done', rangesTotal: 1, rangesDone: 1, rowsWritten: 1 });
    const history = JSON.stringify((await handle.fetchHistory()).events);
    expect(history).not.toContain('alice@example.com');
  });

  test('/openapi.json describes the export and audit endpoints', async () => {
    const res = await api(stack, 'GET', '/openapi.json');
    for (const path of ['/console/users/exports', '/console/users/exports/{id}', '/console/users/exports/{id}/link', '/downloads/{key}', '/console/audit-log']) {
      expect(res.body.paths[path]).toBeDefined();
    }
    expect(JSON.stringify(res.body.paths['/console/users/exports'].post.responses[403])).toContain('column_not_permitted');
  });
});
