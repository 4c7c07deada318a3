import { and, eq } from 'drizzle-orm';
import { users } from '../drizzle/schema';
import { recordApprovedSession } from '../src/users/queries';
import { api, createTenant, startTestStack, type TestStack, type TestTenant } from './helpers/stack';

let stack: TestStack;
let tenant: TestTenant;
let other: TestTenant;

beforeAll(async () => {
  stack = await startTestStack({ worker: false });
  tenant = await createTenant(stack.database.db);
  other = await createTenant(stack.database.db);
});
afterAll(async () => {
  await stack?.stop();
});

const countUsers = async (applicationId: string) =>
  (await stack.database.db.select({ id: users.id }).from(users).where(eq(users.applicationId, applicationId))).length;

describe('POST /v3/users/create/', () => {
  test('creates a user with normalised fields and default status', async () => {
    const res = await api(stack, 'POST', '/v3/users/create/', {
      apiKey: tenant.apiKey,
      body: {
        vendor_data: '  Create-1 ',
        display_name: 'Ana',
        email: 'ana@example.com',
        phone: '+34600111222',
        country: 'esp',
        tags: ['vip', 'vip', ' beta '],
        metadata: { source: 'crm' },
        date_of_birth: '1990-01-31',
      },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      vendor_data: 'Create-1',
      display_name: 'Ana',
      country: 'ESP',
      status: 'ACTIVE',
      tags: ['vip', 'beta'],
      metadata: { source: 'crm' },
      verified_fields: [],
      session_count: 0,
      date_of_birth: '1990-01-31',
    });
    expect(res.body.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Date(res.body.created_at).toISOString()).toBe(res.body.created_at);
    const [row] = await stack.database.db.select().from(users).where(eq(users.id, res.body.id));
    expect(row.vendorDataKey).toBe('create-1');
    expect(row.applicationId).toBe(tenant.applicationId);
  });

  test('normalises like an import: a country as alpha-2 or English name, a phone with separators (no default country)', async () => {
    const res = await api(stack, 'POST', '/v3/users/create/', {
      apiKey: tenant.apiKey,
      body: { vendor_data: 'normalised-1', phone: '+34 600-11-12-22', country: 'ES' },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ phone: '+34600111222', country: 'ESP' });
    const patched = await api(stack, 'PATCH', '/v3/users/normalised-1/', { apiKey: tenant.apiKey, body: { country: 'united kingdom' } });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ country: 'GBR' });
    const national = await api(stack, 'POST', '/v3/users/create/', { apiKey: tenant.apiKey, body: { vendor_data: 'normalised-2', phone: '600 11 12 22' } });
    expect(national.status).toBe(400);
    expect(national.body.error.details).toEqual([expect.objectContaining({ field: 'phone', code: 'invalid_phone' })]);
  });

  test('the same vendor_data after normalisation is a 409 conflict', async () => {
    const before = await countUsers(tenant.applicationId);
    const res = await api(stack, 'POST', '/v3/users/create/', { apiKey: tenant.apiKey, body: { vendor_data: 'CREATE-1' } });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('vendor_data_conflict');
    expect(await countUsers(tenant.applicationId)).toBe(before);
  });

  test('another application may use the same vendor_data', async () => {
    const res = await api(stack, 'POST', '/v3/users/create/', { apiKey: other.apiKey, body: { vendor_data: 'create-1' } });
    expect(res.status).toBe(201);
  });

  test.each([
    [{ vendor_data: '' }, 'vendor_data', 'required'],
    [{ vendor_data: '   ' }, 'vendor_data', 'required'],
    [{}, 'vendor_data', 'required'],
    [{ vendor_data: 'x'.repeat(2001) }, 'vendor_data', 'too_long'],
    [{ vendor_data: 'a\u0007b' }, 'vendor_data', 'invalid_characters'],
    [{ vendor_data: 'v', email: 'not-an-email' }, 'email', 'invalid_email'],
    [{ vendor_data: 'v', phone: '600111222' }, 'phone', 'invalid_phone'],
    [{ vendor_data: 'v', country: 'XX' }, 'country', 'invalid_country'],
    [{ vendor_data: 'v', status: 'DELETED' }, 'status', 'invalid_status'],
    [{ vendor_data: 'v', tags: ['ok', ''] }, 'tags', 'invalid_tags'],
    [{ vendor_data: 'v', display_name: 'x'.repeat(256) }, 'display_name', 'too_long'],
    [{ vendor_data: 'v', unknown_thing: 1 }, 'unknown_thing', 'unknown_field'],
    [{ vendor_data: 42 }, 'vendor_data', 'invalid_type'],
    [{ vendor_data: 'v', display_name: 'a\u0000b' }, 'display_name', 'invalid_characters'],
    // Caught by the input guard before any rule, naming the field inside metadata.
    [{ vendor_data: 'v', metadata: { note: 'a\u0000b' } }, 'metadata.note', 'invalid_characters'],
    [{ vendor_data: 'v', metadata: [1, 2] }, 'metadata', 'invalid_metadata_json'],
    [{ vendor_data: 'v', metadata: 'text' }, 'metadata', 'invalid_metadata_json'],
    [{ vendor_data: 'v', metadata: null }, 'metadata', 'invalid_metadata_json'],
    // A tag may not hold a comma (API.md's field rules): the CSV cell joins tags with one.
    [{ vendor_data: 'v', tags: ['ok', 'not,ok'] }, 'tags', 'invalid_tags'],
    // A JSON value of the wrong type: the field's own row error code where it has one.
    [{ vendor_data: 'v', tags: 'vip' }, 'tags', 'invalid_tags'],
    [{ vendor_data: 'v', tags: ['a', 5] }, 'tags', 'invalid_tags'],
    [{ vendor_data: 'v', email: 5 }, 'email', 'invalid_email'],
    [{ vendor_data: 'v', phone: 34600111222 }, 'phone', 'invalid_phone'],
    [{ vendor_data: 'v', country: 724 }, 'country', 'invalid_country'],
    [{ vendor_data: 'v', status: null }, 'status', 'invalid_status'],
    [{ vendor_data: 'v', date_of_birth: 19900101 }, 'date_of_birth', 'invalid_date'],
  ])('%j is a 400 invalid_field naming %s (%s) and writes nothing', async (body, field, code) => {
    const before = await countUsers(tenant.applicationId);
    const res = await api(stack, 'POST', '/v3/users/create/', { apiKey: tenant.apiKey, body });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_field');
    expect(res.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ field, code })]));
    expect(await countUsers(tenant.applicationId)).toBe(before);
  });

  test('malformed JSON is a 400 invalid_json, not a 500', async () => {
    const res = await api(stack, 'POST', '/v3/users/create/', { apiKey: tenant.apiKey, body: '{"vendor_data": ' });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_json');
    expect(res.text).not.toMatch(/at .*\.ts/);
  });

  test('a body that is not a JSON object is a 400', async () => {
    const res = await api(stack, 'POST', '/v3/users/create/', { apiKey: tenant.apiKey, body: '[1,2]' });
    expect(res.status).toBe(400);
  });

  test('a wrong content type is a 415', async () => {
    const res = await api(stack, 'POST', '/v3/users/create/', {
      apiKey: tenant.apiKey,
      body: 'vendor_data=x',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(res.status).toBe(415);
    expect(res.body.error.code).toBe('unsupported_media_type');
  });

  test('no key or a wrong key is a 401', async () => {
    expect((await api(stack, 'POST', '/v3/users/create/', { body: { vendor_data: 'z' } })).status).toBe(401);
    const wrong = await api(stack, 'POST', '/v3/users/create/', { apiKey: 'kyc_ak_wrong', body: { vendor_data: 'z' } });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe('unauthenticated');
  });

  test('an operator token is not an API key', async () => {
    const res = await api(stack, 'GET', '/v3/users/', { apiKey: tenant.operators.OWNER.token });
    expect(res.status).toBe(401);
  });
});

describe('GET and PATCH /v3/users/{vendor_data}/', () => {
  beforeAll(async () => {
    await api(stack, 'POST', '/v3/users/create/', {
      apiKey: tenant.apiKey,
      body: { vendor_data: 'USER-1', display_name: 'One', metadata: { a: 1, b: 2 }, tags: ['x'] },
    });
    await api(stack, 'POST', '/v3/users/create/', { apiKey: tenant.apiKey, body: { vendor_data: 'with/slash é' } });
  });

  test('finds a user after normalisation, URL-encoded', async () => {
    expect((await api(stack, 'GET', '/v3/users/user-1/', { apiKey: tenant.apiKey })).body.vendor_data).toBe('USER-1');
    expect((await api(stack, 'GET', '/v3/users/%20User-1%20/', { apiKey: tenant.apiKey })).status).toBe(200);
    const encoded = encodeURIComponent('WITH/SLASH É');
    const res = await api(stack, 'GET', `/v3/users/${encoded}/`, { apiKey: tenant.apiKey });
    expect(res.status).toBe(200);
    expect(res.body.vendor_data).toBe('with/slash é');
  });

  test("another application's user is a 404", async () => {
    const res = await api(stack, 'GET', '/v3/users/user-1/', { apiKey: other.apiKey });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
    const patch = await api(stack, 'PATCH', '/v3/users/user-1/', { apiKey: other.apiKey, body: { display_name: 'Hijack' } });
    expect(patch.status).toBe(404);
    const [row] = await stack.database.db
      .select()
      .from(users)
      .where(and(eq(users.applicationId, tenant.applicationId), eq(users.vendorDataKey, 'user-1')));
    expect(row.displayName).toBe('One');
  });

  test('updates the given fields, merges metadata, keeps the rest', async () => {
    const res = await api(stack, 'PATCH', '/v3/users/USER-1/', {
      apiKey: tenant.apiKey,
      body: { status: 'flagged', metadata: { b: 3, c: 4 }, email: 'one@example.com' },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      display_name: 'One',
      status: 'FLAGGED',
      metadata: { a: 1, b: 3, c: 4 },
      email: 'one@example.com',
      tags: ['x'],
    });
  });

  test('a patch that changes nothing leaves updated_at alone', async () => {
    const before = (await api(stack, 'GET', '/v3/users/user-1/', { apiKey: tenant.apiKey })).body;
    const res = await api(stack, 'PATCH', '/v3/users/user-1/', { apiKey: tenant.apiKey, body: { status: 'FLAGGED', metadata: { a: 1 } } });
    expect(res.status).toBe(200);
    expect(res.body.updated_at).toBe(before.updated_at);
  });

  test('verified fields and counters are never changed by the API', async () => {
    await recordApprovedSession(stack.database.db, {
      applicationId: tenant.applicationId,
      vendorData: 'user-1',
      fullName: 'Ana Verified',
      dateOfBirth: '1980-05-05',
    });
    const res = await api(stack, 'PATCH', '/v3/users/user-1/', {
      apiKey: tenant.apiKey,
      body: { full_name: 'Someone Else', date_of_birth: '1999-09-09', display_name: 'Changed' },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      full_name: 'Ana Verified',
      date_of_birth: '1980-05-05',
      display_name: 'Changed',
      verified_fields: ['date_of_birth', 'full_name'],
      session_count: 1,
      approved_count: 1,
    });
    // The read-only fields are accepted and ignored, as an import ignores those columns: the user read back as is.
    const counters = await api(stack, 'PATCH', '/v3/users/user-1/', {
      apiKey: tenant.apiKey,
      body: { ...res.body, session_count: 9, approved_count: 9, verified_fields: [], id: '00000000-0000-4000-8000-000000000000', display_name: 'Again' },
    });
    expect(counters.status).toBe(200);
    expect(counters.body).toMatchObject({ id: res.body.id, display_name: 'Again', session_count: 1, approved_count: 1, verified_fields: ['date_of_birth', 'full_name'] });
    expect((await api(stack, 'GET', '/v3/users/user-1/', { apiKey: tenant.apiKey })).body).toEqual(counters.body);
    const created = await api(stack, 'POST', '/v3/users/create/', { apiKey: tenant.apiKey, body: { vendor_data: 'counted-1', session_count: 5, created_at: '2000-01-01T00:00:00Z' } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ session_count: 0, approved_count: 0, verified_fields: [] });
    expect(created.body.created_at).not.toBe('2000-01-01T00:00:00.000Z');
  });

  test('renaming onto an existing vendor_data is a 409', async () => {
    const res = await api(stack, 'PATCH', '/v3/users/user-1/', { apiKey: tenant.apiKey, body: { vendor_data: 'CREATE-1' } });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('vendor_data_conflict');
  });

  test('a bad field in a patch is a 400 and changes nothing', async () => {
    const before = (await api(stack, 'GET', '/v3/users/user-1/', { apiKey: tenant.apiKey })).body;
    const res = await api(stack, 'PATCH', '/v3/users/user-1/', { apiKey: tenant.apiKey, body: { display_name: 'New', phone: 'bad' } });
    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual([expect.objectContaining({ field: 'phone', code: 'invalid_phone' })]);
    const after = (await api(stack, 'GET', '/v3/users/user-1/', { apiKey: tenant.apiKey })).body;
    expect(after).toEqual(before);
  });

  test('a tag with a comma in a patch is a 400 invalid_tags and changes nothing', async () => {
    const before = (await api(stack, 'GET', '/v3/users/user-1/', { apiKey: tenant.apiKey })).body;
    const res = await api(stack, 'PATCH', '/v3/users/user-1/', { apiKey: tenant.apiKey, body: { display_name: 'New', tags: ['a', 'b,c'] } });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({
      code: 'invalid_field',
      details: [{ field: 'tags', code: 'invalid_tags', message: 'a tag may not hold a comma ("b,c")' }],
    });
    expect((await api(stack, 'GET', '/v3/users/user-1/', { apiKey: tenant.apiKey })).body).toEqual(before);
  });

  test('an unknown user is a 404', async () => {
    expect((await api(stack, 'GET', '/v3/users/nobody/', { apiKey: tenant.apiKey })).status).toBe(404);
  });
});

describe('GET /v3/users/', () => {
  let app: TestTenant;
  beforeAll(async () => {
    app = await createTenant(stack.database.db);
    const create = (body: object) => api(stack, 'POST', '/v3/users/create/', { apiKey: app.apiKey, body });
    await create({ vendor_data: 'L-1', country: 'ESP', status: 'ACTIVE', email: 'maria@example.com' });
    await create({ vendor_data: 'L-2', country: 'FRA', status: 'FLAGGED', display_name: 'Jean 100%' });
    await create({ vendor_data: 'L-3', country: 'ESP', status: 'BLOCKED', phone: '+34911222333' });
    await create({ vendor_data: 'L-4', full_name: 'Maria_Lopez' });
  });

  test('pages newest first with a cursor', async () => {
    const first = await api(stack, 'GET', '/v3/users/?limit=3', { apiKey: app.apiKey });
    expect(first.status).toBe(200);
    expect(first.body.results.map((u: { vendor_data: string }) => u.vendor_data)).toEqual(['L-4', 'L-3', 'L-2']);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const second = await api(stack, 'GET', `/v3/users/?limit=3&cursor=${first.body.next_cursor}`, { apiKey: app.apiKey });
    expect(second.body.results.map((u: { vendor_data: string }) => u.vendor_data)).toEqual(['L-1']);
    expect(second.body.next_cursor).toBeNull();
  });

  test('filters by status, country and search', async () => {
    const names = async (query: string) =>
      (await api(stack, 'GET', `/v3/users/?${query}`, { apiKey: app.apiKey })).body.results
        .map((u: { vendor_data: string }) => u.vendor_data)
        .sort();
    expect(await names('status=flagged')).toEqual(['L-2']);
    expect(await names('country=esp')).toEqual(['L-1', 'L-3']);
    expect(await names('search=MARIA')).toEqual(['L-1', 'L-4']);
    expect(await names('search=100%25')).toEqual(['L-2']);
    expect(await names('search=_')).toEqual(['L-4']);
    expect(await names('search=%2B3491')).toEqual(['L-3']);
    expect(await names('country=ESP&status=BLOCKED')).toEqual(['L-3']);
  });

  test.each(['limit=0', 'limit=201', 'limit=abc', 'cursor=garbage', 'status=nope', 'country=ZZZ'])(
    '%s is a 400',
    async (query) => {
      const res = await api(stack, 'GET', `/v3/users/?${query}`, { apiKey: app.apiKey });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toMatch(/^invalid_/);
    },
  );
});
