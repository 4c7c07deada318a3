import { eq, sql } from 'drizzle-orm';
import { request as httpRequest } from 'node:http';
import { Writable } from 'node:stream';
import pino from 'pino';
import { emailOutbox } from '../drizzle/schema';
import { OutboxMailer } from '../src/email/outbox';
import { openApiDocument } from '../src/api/openapi';
import { HEADER_LIMITS } from '../src/imports/columns';
import { api, createTenant, startTestStack, waitFor, type TestStack, type TestTenant } from './helpers/stack';
import { runExport } from './helpers/exports';
import { allRows, getImport, upload, uploadAndValidate, waitForStatus } from './fixtures/imports/support';

/**
 * Hostile input, generated rather than listed: every operation of the OpenAPI document (so every endpoint of the
 * console and the public API, each method) crossed with every kind of hostile input that fits it. Each request must be
 * answered with a client error (4xx, never 500) and a JSON error body with a stable code, and must write nothing (the
 * tenant's users, imports, exports and audit entries are counted before and after). Then hostile import files: they
 * are REJECTED quickly with their code (or give a row error), and the service keeps answering.
 */

let stack: TestStack;
let tenant: TestTenant;
let token: string;
/** Ids the path parameters are filled with: a real user, a REJECTED import (confirm, cancel, retry are all 409) and a completed export. */
const ids: Record<string, string> = {};

const DEEP = 5000;
const HUGE_BYTES = 1_200_000;

/** Every line the API logged (at info level), as parsed JSON. */
const apiLog: Record<string, any>[] = [];

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') apiLog.push(JSON.parse(line));
      callback();
    },
  });
  stack = await startTestStack({ logger: pino({ level: 'info' }, sink) });
  tenant = await createTenant(stack.database.db);
  token = tenant.operators.OWNER.token;
  const created = await api(stack, 'POST', '/v3/users/create/', { apiKey: tenant.apiKey, body: { vendor_data: 'target-1' } });
  expect(created.status).toBe(201);
  ids.vendor_data = 'target-1';
  const rejected = await uploadAndValidate(stack, token, 'nickname\nx\n');
  expect(rejected.status).toBe('REJECTED');
  ids.id = rejected.id;
  const exported = await runExport(stack, token, { columns: ['id'] });
  expect(exported.status).toBe('COMPLETED');
  ids.export = exported.id;
  ids.key = new URL(exported.download_url).pathname.replace(/^\/downloads\//, '');
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

async function counts() {
  const { rows } = await stack.database.db.execute<Record<string, number>>(sql`
    SELECT (SELECT count(*)::int FROM users WHERE application_id = ${tenant.applicationId}) AS users,
           (SELECT count(*)::int FROM imports WHERE application_id = ${tenant.applicationId}) AS imports,
           (SELECT count(*)::int FROM exports WHERE application_id = ${tenant.applicationId}) AS exports,
           (SELECT count(*)::int FROM audit_log WHERE application_id = ${tenant.applicationId}) AS audit,
           (SELECT max(updated_at) FROM users WHERE application_id = ${tenant.applicationId})::text AS users_updated`);
  return rows[0];
}

// ---- the operations, from the OpenAPI document ----

interface Operation {
  method: string;
  path: string;
  auth: 'token' | 'apiKey' | 'none';
  queryParams: string[];
  /** A valid body for the operation (its hostile variants are made from it); undefined: it takes none. */
  body?: Record<string, unknown>;
}

/** A valid body for each operation that takes JSON; the other POSTs are sent `{"note": ...}`, which they ignore. */
const BODIES: Record<string, Record<string, unknown>> = {
  'POST /v3/users/create/': { vendor_data: 'hostile-new', display_name: 'x', tags: ['a'], metadata: { note: 'x' } },
  'PATCH /v3/users/{vendor_data}/': { display_name: 'x', tags: ['a'], metadata: { note: 'x' } },
  'POST /console/users/exports': { filters: { search: 'x', tags: ['a'] }, columns: ['id'] },
};

function operations(): Operation[] {
  const doc = openApiDocument() as { paths: Record<string, Record<string, any>> };
  const out: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const security = JSON.stringify(op.security ?? []);
      const auth = security.includes('apiKey') ? 'apiKey' : security.includes('operatorToken') ? 'token' : 'none';
      const queryParams = ((op.parameters ?? []) as { in: string; name: string }[]).filter((p) => p.in === 'query').map((p) => p.name);
      const upper = method.toUpperCase();
      const body = upper === 'POST' || upper === 'PATCH' ? (BODIES[`${upper} ${path}`] ?? { note: 'x' }) : undefined;
      out.push({ method: upper, path, auth, queryParams, body });
    }
  }
  return out;
}

/** The path with its parameters filled in; `hostile` (already URL-encoded) replaces the last parameter, or is appended. */
function pathOf(op: Operation, hostile?: string): string {
  const params = [...op.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
  let path = op.path;
  params.forEach((name, i) => {
    const raw = ids[name === 'id' && op.path.includes('/exports') ? 'export' : name] ?? 'x';
    const value = hostile !== undefined && i === params.length - 1 ? hostile : name === 'key' ? raw : encodeURIComponent(raw);
    path = path.replace(`{${name}}`, value);
  });
  if (hostile !== undefined && params.length === 0) path = path.endsWith('/') ? `${path}${hostile}/` : `${path}${hostile}`;
  return path;
}

/** Every string leaf of a body, as a path of keys. */
function leaves(value: unknown, path: (string | number)[] = []): (string | number)[][] {
  if (typeof value === 'string') return [path];
  if (Array.isArray(value)) return value.flatMap((v, i) => leaves(v, [...path, i]));
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => leaves(v, [...path, k]));
  return [];
}

function replaced(body: unknown, path: (string | number)[], value: unknown): unknown {
  if (path.length === 0) return value;
  const copy: any = Array.isArray(body) ? [...body] : { ...(body as object) };
  copy[path[0]] = replaced(copy[path[0]], path.slice(1), value);
  return copy;
}

/** JSON text nested `depth` deep, written as text: JSON.stringify itself overflows the stack on such a value. */
const deepArray = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
const deepObject = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

const PLACEHOLDER = '\u2063placeholder\u2063';

/** The body as JSON text with the leaf at `path` replaced by the raw JSON text `json`. */
function withRawJson(body: unknown, path: (string | number)[], json: string): string {
  return JSON.stringify(replaced(body, path, PLACEHOLDER)).replace(JSON.stringify(PLACEHOLDER), json);
}

interface Case {
  name: string;
  op: Operation;
  path: string;
  body?: string;
  /** Status and code the answer must have (any 4xx and any code when not given). */
  status?: number;
  code?: string;
  detailCode?: string;
}

function cases(): Case[] {
  const out: Case[] = [];
  for (const op of operations()) {
    const label = `${op.method} ${op.path}`;
    for (const [what, escape, code] of [
      ['NUL', '%00', 'invalid_path'],
      ['malformed escape %ZZ', '%ZZ', 'invalid_path'],
      ['overlong UTF-8 %C0%AF', '%C0%AF', 'invalid_path'],
      ['surrogate bytes %ED%A0%80', '%ED%A0%80', 'invalid_path'],
    ] as const) {
      out.push({ name: `${label}: ${what} in the path`, op, path: pathOf(op, escape), status: 400, code });
    }
    for (const param of op.queryParams.length > 0 ? op.queryParams : ['q']) {
      out.push({
        name: `${label}: NUL in ?${param}`,
        op,
        path: `${pathOf(op)}?${param}=a%00b`,
        status: 400,
        code: 'invalid_field',
        detailCode: 'invalid_characters',
      });
    }
    if (op.path === '/downloads/{key}') {
      out.push({ name: `${label}: a malformed escape inside the key`, op, path: '/downloads/exports/%ZZ/x.csv', status: 400, code: 'invalid_path' });
    }
    if (op.path === '/v3/users/') {
      out.push({ name: `${label}: NUL in ?search=`, op, path: '/v3/users/?search=%00', status: 400, code: 'invalid_field', detailCode: 'invalid_characters' });
    }
    if (op.body === undefined) continue;
    for (const leaf of leaves(op.body)) {
      for (const [what, value] of [
        ['NUL', 'a\u0000b'],
        ['a lone surrogate', 'a\ud800b'],
      ] as const) {
        out.push({
          name: `${label}: ${what} in ${leaf.join('.')}`,
          op,
          path: pathOf(op),
          body: JSON.stringify(replaced(op.body, leaf, value)),
          status: 400,
          code: 'invalid_field',
          detailCode: 'invalid_characters',
        });
      }
      for (const [what, deep] of [
        ['an object', deepObject(DEEP)],
        ['an array', deepArray(DEEP)],
      ] as const) {
        out.push({
          name: `${label}: ${what} nested ${DEEP} deep in ${leaf.join('.')}`,
          op,
          path: pathOf(op),
          body: withRawJson(op.body, leaf, deep),
          status: 400,
          code: 'json_too_deep',
        });
      }
    }
    out.push({
      name: `${label}: a lone surrogate as a JSON key`,
      op,
      path: pathOf(op),
      body: JSON.stringify({ ...op.body, 'k\ud800': 1 }),
      status: 400,
      code: 'invalid_field',
      detailCode: 'invalid_characters',
    });
    out.push({
      name: `${label}: a bare JSON string with a NUL`,
      op,
      path: pathOf(op),
      body: JSON.stringify('a\u0000'),
      status: 400,
      code: 'invalid_field',
      detailCode: 'invalid_characters',
    });
    out.push({
      name: `${label}: a body over the 1 MB JSON limit`,
      op,
      path: pathOf(op),
      body: JSON.stringify({ ...op.body, note: 'x'.repeat(HUGE_BYTES) }),
      status: 413,
      code: 'body_too_large',
    });
  }
  return out;
}

const ALL_CASES = cases();

describe('every endpoint x hostile input: a 4xx with a code, nothing written', () => {
  it('covers every operation of the OpenAPI document', () => {
    const covered = new Set(ALL_CASES.map((c) => `${c.op.method} ${c.op.path}`));
    expect(covered.size).toBe(operations().length);
    expect(covered.size).toBeGreaterThanOrEqual(18);
  });

  it.each(ALL_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const before = await counts();
    const headers: Record<string, string> = {};
    if (c.body !== undefined) headers['content-type'] = 'application/json';
    const res = await api(stack, c.op.method, c.path, {
      token: c.op.auth === 'token' ? token : undefined,
      apiKey: c.op.auth === 'apiKey' ? tenant.apiKey : undefined,
      headers,
      body: c.body,
    });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect(res.body?.error?.code).toMatch(/^[a-z][a-z0-9_]*$/);
    expect(typeof res.body.error.message).toBe('string');
    if (c.status !== undefined) expect({ status: res.status, text: res.text.slice(0, 300) }).toMatchObject({ status: c.status });
    if (c.code !== undefined) expect(res.body.error.code).toBe(c.code);
    if (c.detailCode !== undefined) expect(res.body.error.details?.[0]?.code).toBe(c.detailCode);
    expect(await counts()).toEqual(before);
  });

  it('metadata nested past 64 levels (within the body limit) is the field error invalid_metadata_json', async () => {
    const before = await counts();
    const body = withRawJson({ vendor_data: 'deep-meta', metadata: 'x' }, ['metadata'], deepObject(100));
    const res = await api(stack, 'POST', '/v3/users/create/', { apiKey: tenant.apiKey, body });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'invalid_field', details: [{ field: 'metadata', code: 'invalid_metadata_json' }] });
    const ok = withRawJson({ vendor_data: 'x', metadata: 'x' }, ['metadata'], deepObject(63));
    const patched = await api(stack, 'PATCH', `/v3/users/${ids.vendor_data}/`, { apiKey: tenant.apiKey, body: ok.replace('"vendor_data":"x",', '') });
    expect(patched.status).toBe(200);
    expect(await counts()).toMatchObject({ users: before.users });
  });

  it('the service still answers, and a clean request still works', async () => {
    expect((await api(stack, 'GET', '/healthz')).status).toBe(200);
    const res = await api(stack, 'GET', `/v3/users/${ids.vendor_data}/`, { apiKey: tenant.apiKey });
    expect(res.status).toBe(200);
    expect(res.body.display_name).toBeNull();
    expect(res.body.tags).toEqual([]);
  });
});

describe('hostile import files', () => {
  const header = (names: string[]) => `vendor_data,${names.join(',')}`;

  it.each([
    ['600 unknown column names (10 KB)', `${header(Array.from({ length: 600 }, (_, i) => `unknown_${i}`))}\nu-1\n`, 'too_many_columns'],
    [
      '150 unknown names whose message would pass 10,000 bytes',
      `${header(Array.from({ length: 150 }, (_, i) => `unknown_column_${i}_${'x'.repeat(60)}`))}\nu-1${','.repeat(150)}\n`,
      'unknown_column',
    ],
    ['100,000 unknown column names', `${header(Array.from({ length: 100_000 }, (_, i) => `c${i}`))}\nu-1\n`, 'header_too_large'],
    ['a header line that never ends', `vendor_data,${'x'.repeat(HEADER_LIMITS.maxBytes * 4)}`, 'header_too_large'],
    ['a NUL byte in the header', 'vendor_data,display\u0000name\nu-1,x\n', 'invalid_header'],
    ['a NUL byte as a whole column name', 'vendor_data,\u0000\nu-1,x\n', 'invalid_header'],
  ])('%s: REJECTED with its code, quickly; the service answers', async (_name, file, code) => {
    const before = await counts();
    const started = Date.now();
    const result = await uploadAndValidate(stack, token, file);
    expect(result).toMatchObject({ status: 'REJECTED', error: { code } });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(result.error.message.length).toBeLessThan(3000);
    expect(result.error.message).not.toContain('\u0000');
    if (code === 'unknown_column') expect(result.error.message).toMatch(/ and 130 more/);
    expect((await api(stack, 'GET', '/healthz')).status).toBe(200);
    const after = await counts();
    expect(after.users).toBe(before.users);
    expect(after.imports).toBe(before.imports + 1);
  });

  it('metadata_json nested 5,000 deep is a row error; the import completes', async () => {
    const deep = deepObject(DEEP).replaceAll('"', '""');
    const file = `vendor_data,metadata_json\ndeep-1,"${deep}"\nfine-1,"{""a"":1}"\n`;
    const preview = await uploadAndValidate(stack, token, file);
    expect(preview).toMatchObject({ status: 'AWAITING_CONFIRMATION', invalid_rows: 1, valid_rows: 1 });
    const rows = await allRows(stack, token, preview.id);
    expect(rows[0]).toMatchObject({ vendor_data: 'deep-1', action: 'invalid', errors: [{ column: 'metadata_json', code: 'invalid_metadata_json' }] });
    expect(rows[0].errors[0].message).toMatch(/deeper than 64/);
    expect((await api(stack, 'POST', `/console/users/imports/${preview.id}/confirm`, { token })).status).toBe(202);
    const done = await waitForStatus(stack, token, preview.id, ['COMPLETED']);
    expect(done).toMatchObject({ created_count: 1, skipped_count: 1 });
  });

  it('a file with a huge header does not stop the other imports', async () => {
    const huge = upload(stack, token, `${header(Array.from({ length: 100_000 }, (_, i) => `c${i}`))}\nu-1\n`);
    const fine = await uploadAndValidate(stack, token, 'vendor_data\nok-1\n');
    expect(fine.status).toBe('AWAITING_CONFIRMATION');
    const rejected = await huge;
    expect(rejected.status).toBe(202);
    const end = await waitFor(async () => {
      const body = await getImport(stack, token, rejected.body.id);
      return body.status === 'VALIDATING' ? undefined : body;
    });
    expect(end.error.code).toBe('header_too_large');
  });
});

describe('signed links do not leak', () => {
  it('the request log never holds a download link (its token, or an older link\'s signature), nor a Referer that may hold one', async () => {
    const link = (await api(stack, 'POST', `/console/users/exports/${ids.export}/link`, { token })).body.download_url as string;
    const url = new URL(link);
    expect(url.pathname).toMatch(/^\/downloads\/[^/]+$/);
    const secret = url.pathname.slice('/downloads/'.length);
    const got = await fetch(link, { headers: { referer: link } });
    expect(got.status).toBe(200);
    await got.arrayBuffer();
    const bad = await fetch(`${link}x`);
    expect(bad.status).toBe(403);
    await bad.arrayBuffer();
    const ours = (l: Record<string, any>) => l.req?.url === '/downloads/[redacted]';
    // Both requests' lines (pino-http writes each when its response has finished, in no fixed order).
    await waitFor(async () =>
      apiLog.some((l) => ours(l) && l.res?.statusCode === 403) && apiLog.some((l) => ours(l) && l.res?.statusCode === 200) ? true : undefined,
    );
    for (const line of apiLog.filter(ours)) {
      if (line.req.headers?.referer) expect(line.req.headers.referer).toBe('[redacted]');
    }
    const everything = JSON.stringify(apiLog);
    expect(everything).not.toContain(secret);
    expect(everything).not.toContain('signature=');
  });

  it('the outbox logs that an email was stored, without its body or link', async () => {
    const lines: Record<string, any>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(JSON.parse(chunk.toString('utf8')));
        callback();
      },
    });
    const mailer = new OutboxMailer(stack.database.db, pino({ level: 'info' }, sink));
    const key = `hostile-${Date.now()}`;
    const text = 'Download: http://localhost/downloads/exports/x.csv?expires=1&signature=s3cr3t';
    const sent = await mailer.send({ applicationId: tenant.applicationId, idempotencyKey: key, to: 'a@b.test', subject: 'ready', text });
    expect(sent).toMatchObject({ status: 'OUTBOX', sentAt: null });
    expect(lines).toHaveLength(1);
    expect(JSON.stringify(lines)).not.toContain('s3cr3t');
    expect(JSON.stringify(lines)).not.toContain('/downloads/');
    const [row] = await stack.database.db.select().from(emailOutbox).where(eq(emailOutbox.idempotencyKey, key));
    expect(row).toMatchObject({ body: text, sent: false, sentAt: null, transport: 'outbox' });
  });

  it('a forged Host header changes neither the links the API hands out nor the emailed link', async () => {
    const forged = await new Promise<{ status: number; body: any }>((resolve, reject) => {
      const base = new URL(stack.baseUrl);
      const req = httpRequest(
        {
          host: base.hostname,
          port: base.port,
          method: 'POST',
          path: '/console/users/exports',
          headers: { host: 'evil.example.com', authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify({ columns: ['id'] }));
    });
    expect(forged.status).toBe(202);
    const done = await waitFor(async () => {
      const res = await api(stack, 'GET', `/console/users/exports/${forged.body.id}`, { token, headers: { 'x-forwarded-host': 'evil.example.com' } });
      return res.body.status === 'COMPLETED' && res.body.email?.status === 'OUTBOX' ? res.body : undefined;
    });
    expect(new URL(done.download_url).origin).toBe(stack.config.api.publicBaseUrl);
    const [mail] = await stack.database.db.select().from(emailOutbox).where(eq(emailOutbox.idempotencyKey, `users-export-${done.id}`));
    expect(mail.body).toContain(`${stack.config.api.publicBaseUrl}/downloads/`);
    expect(mail.body).not.toContain('evil.example.com');
  });
});
