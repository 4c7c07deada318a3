import { fieldProblems, phoneCountry, rules, userCreateSchema, userPatchSchema, vendorDataKey } from '../../src/users/fields';

const code = (result: { ok: boolean; error?: { code: string } }) => (result.ok ? 'ok' : result.error!.code);

describe('user field rules', () => {
  test('vendor_data: byte length, control characters, normalisation', () => {
    expect(code(rules.vendorData('a'.repeat(2000)))).toBe('ok');
    expect(code(rules.vendorData('a'.repeat(2001)))).toBe('too_long');
    // 1000 two-byte characters are 2000 bytes; one more is over.
    expect(code(rules.vendorData('é'.repeat(1000)))).toBe('ok');
    expect(code(rules.vendorData('é'.repeat(1000) + 'a'))).toBe('too_long');
    expect(code(rules.vendorData('user\u0000one'))).toBe('invalid_characters');
    expect(code(rules.vendorData('user\tone'))).toBe('invalid_characters');
    expect(code(rules.vendorData('user\u0085one'))).toBe('invalid_characters');
    expect(vendorDataKey(' USER-1 ')).toBe('user-1');
    expect(vendorDataKey('user-1')).toBe(vendorDataKey('  User-1'));
  });

  test('names count characters, not bytes', () => {
    expect(code(rules.displayName('ü'.repeat(255)))).toBe('ok');
    expect(code(rules.displayName('a'.repeat(256)))).toBe('too_long');
    expect(code(rules.displayName('😀'.repeat(255)))).toBe('ok');
    // 510 UTF-16 units, 255 characters: counted as characters; one more character is over.
    expect(code(rules.displayName(`${'😀'.repeat(254)}a`))).toBe('ok');
    expect(code(rules.displayName('😀'.repeat(256)))).toBe('too_long');
    expect(code(rules.fullName('a'.repeat(512)))).toBe('ok');
    expect(code(rules.fullName('a'.repeat(513)))).toBe('too_long');
  });

  test.each([
    ['ana@example.com', 'ok'],
    ['ana.b+tag@sub.example.co', 'ok'],
    ['ana@example', 'invalid_email'],
    ['ana example@x.com', 'invalid_email'],
    ['@example.com', 'invalid_email'],
    ['ana@@example.com', 'invalid_email'],
    ['ana..b@example.com', 'invalid_email'],
    [`${'a'.repeat(245)}@example.com`, 'too_long'],
  ])('email %s -> %s', (value, expected) => {
    expect(code(rules.email(value))).toBe(expected);
  });

  test.each([
    ['+34600111222', 'ok'],
    ['+12', 'ok'],
    ['+123456789012345', 'ok'],
    ['+1234567890123456', 'invalid_phone'],
    ['+0600111222', 'invalid_phone'],
    ['34600111222', 'invalid_phone'],
    ['+34 600 111 222', 'ok'],
    ['+34 600 11 12 2x', 'invalid_phone'],
    ['600 +34 111 222', 'invalid_phone'],
    ['+1', 'invalid_phone'],
  ])('phone %s -> %s', (value, expected) => {
    expect(code(rules.phone(value))).toBe(expected);
  });

  test('country: officially assigned alpha-3, any case, stored upper case (another case reported as normalised)', () => {
    expect(rules.country('ESP')).toEqual({ ok: true, value: 'ESP' });
    expect(rules.country('esp')).toEqual({ ok: true, value: 'ESP', normalized: true });
    expect(code(rules.country('XKX'))).toBe('invalid_country');
    expect(code(rules.country('AAA'))).toBe('invalid_country');
  });

  test('country: alpha-2 and English names (any case) become alpha-3, reported as normalised', () => {
    expect(rules.country('ES')).toEqual({ ok: true, value: 'ESP', normalized: true });
    expect(rules.country('es')).toEqual({ ok: true, value: 'ESP', normalized: true });
    expect(rules.country('Spain')).toEqual({ ok: true, value: 'ESP', normalized: true });
    expect(rules.country('sPAIN')).toEqual({ ok: true, value: 'ESP', normalized: true });
    expect(rules.country('United Kingdom')).toEqual({ ok: true, value: 'GBR', normalized: true });
    expect(rules.country('united states of america')).toEqual({ ok: true, value: 'USA', normalized: true });
    // XK (Kosovo) is user-assigned, like XKX; an unknown name is refused.
    expect(code(rules.country('XK'))).toBe('invalid_country');
    expect(code(rules.country('Atlantis'))).toBe('invalid_country');
    expect(code(rules.country('E'))).toBe('invalid_country');
  });

  test.each([
    ['+34 600-11-12-22', '+34600111222'],
    ['+34.600.111.222', '+34600111222'],
    ['+1 (415) 555-2671', '+14155552671'],
    ['+44 20 7946 0958', '+442079460958'],
    ['(+34) 600 11 12 22', '+34600111222'],
    ['( +34 ) 600-11-12-22', '+34600111222'],
  ])('phone %s is written with separators: normalised to %s', (value, expected) => {
    expect(rules.phone(value)).toEqual({ ok: true, value: expected, normalized: true });
  });

  test('phone: E.164 as is takes the cheap path and is not reported as normalised', () => {
    expect(rules.phone('+34600111222')).toEqual({ ok: true, value: '+34600111222' });
    expect(rules.phone('+34600111222', 'ES')).toEqual({ ok: true, value: '+34600111222' });
  });

  test('phone: a national number needs a default country', () => {
    expect(code(rules.phone('600 11 12 22'))).toBe('invalid_phone');
    expect(rules.phone('600 11 12 22', 'ES')).toEqual({ ok: true, value: '+34600111222', normalized: true });
    expect(rules.phone('07700 900123', 'GB')).toEqual({ ok: true, value: '+447700900123', normalized: true });
    expect(rules.phone('(415) 555-2671', 'US')).toEqual({ ok: true, value: '+14155552671', normalized: true });
    expect(rules.phone('0034 600 111 222', 'ES')).toEqual({ ok: true, value: '+34600111222', normalized: true });
    expect(code(rules.phone('12', 'ES'))).toBe('invalid_phone');
    expect(code(rules.phone('call me', 'ES'))).toBe('invalid_phone');
  });

  test('phone: scientific notation says the spreadsheet damaged it, without quoting the number', () => {
    for (const value of ['3.46E+10', '3,46E+10', '3.46e10', '3E+11']) {
      const result = rules.phone(value, 'ES');
      expect(result).toMatchObject({ ok: false, error: { code: 'invalid_phone' } });
      if (!result.ok) expect(result.error.message).toMatch(/scientific notation.*spreadsheet/);
      // Messages reach roles that may not see phones (errors.csv for DEVELOPER and READER).
      if (!result.ok) expect(result.error.message).not.toContain(value);
    }
  });

  test('phoneCountry: the default_phone_country option as alpha-2', () => {
    expect(phoneCountry('es')).toBe('ES');
    expect(phoneCountry('ESP')).toBe('ES');
    expect(phoneCountry('gbr')).toBe('GB');
    expect(phoneCountry('XX')).toBeUndefined();
    expect(phoneCountry('XKX')).toBeUndefined();
  });

  test('status: any case, stored upper case (another case reported as normalised)', () => {
    expect(rules.status('FLAGGED')).toEqual({ ok: true, value: 'FLAGGED' });
    expect(rules.status('flagged')).toEqual({ ok: true, value: 'FLAGGED', normalized: true });
    expect(code(rules.status('deleted'))).toBe('invalid_status');
  });

  test('tags: trimmed, deduplicated keeping the first place, bounded', () => {
    expect(rules.tags([' vip ', 'b', 'vip', 'a'])).toEqual({ ok: true, value: ['vip', 'b', 'a'] });
    expect(code(rules.tags(['a', ' ']))).toBe('invalid_tags');
    expect(code(rules.tags(['a'.repeat(65)]))).toBe('invalid_tags');
    expect(code(rules.tags(['😀'.repeat(64)]))).toBe('ok');
    expect(code(rules.tags(['😀'.repeat(65)]))).toBe('invalid_tags');
    expect(code(rules.tags(Array.from({ length: 50 }, (_, i) => `t${i}`)))).toBe('ok');
    expect(code(rules.tags(Array.from({ length: 51 }, (_, i) => `t${i}`)))).toBe('invalid_tags');
    // 51 given, 50 distinct: allowed, since duplicates are dropped first.
    expect(code(rules.tags([...Array.from({ length: 50 }, (_, i) => `t${i}`), 't0']))).toBe('ok');
  });

  test('tags: a tag may not hold a comma (the CSV cell joins tags with one)', () => {
    expect(rules.tags(['a,b'])).toEqual({ ok: false, error: { code: 'invalid_tags', message: 'a tag may not hold a comma ("a,b")' } });
    expect(code(rules.tags(['ok', ' x, ']))).toBe('invalid_tags');
    expect(code(rules.tags([',']))).toBe('invalid_tags');
    // Other punctuation is fine.
    expect(rules.tags(['a;b', 'c.d', "'=e"])).toEqual({ ok: true, value: ['a;b', 'c.d', "'=e"] });
  });

  test('metadata: an object of at most 16 KiB', () => {
    expect(code(rules.metadataJson('{"a":1}'))).toBe('ok');
    expect(code(rules.metadataJson('[1,2]'))).toBe('invalid_metadata_json');
    expect(code(rules.metadataJson('42'))).toBe('invalid_metadata_json');
    expect(code(rules.metadataJson('null'))).toBe('invalid_metadata_json');
    expect(code(rules.metadataJson('{"a":'))).toBe('invalid_metadata_json');
    // Plain text (no backslash, few brackets, short) takes a shortcut; each limit still holds on either side of it.
    expect(code(rules.metadataJson('{"a":"\\u0000"}'))).toBe('invalid_metadata_json');
    expect(code(rules.metadataJson('{"a":"\\ud800"}'))).toBe('invalid_metadata_json');
    expect(code(rules.metadataJson(`{"a":${'['.repeat(64)}${']'.repeat(64)}}`))).toBe('invalid_metadata_json');
    expect(code(rules.metadataJson(`{"a":${'['.repeat(63)}${']'.repeat(63)}}`))).toBe('ok');
    expect(code(rules.metadataJson(`{"a":[${Array(2000).fill('1e20').join(',')}]}`))).toBe('invalid_metadata_json');
    expect(code(rules.metadataJson(`{"a":[${Array(200).fill('1e20').join(',')}]}`))).toBe('ok');
    expect(code(rules.metadata({ big: 'x'.repeat(16 * 1024) }))).toBe('invalid_metadata_json');
    expect(code(rules.metadata({ big: 'x'.repeat(16 * 1024 - 20) }))).toBe('ok');
  });

  test('a NUL character, which Postgres cannot store, is refused in every field', () => {
    expect(code(rules.displayName('a\u0000b'))).toBe('invalid_characters');
    expect(code(rules.fullName('a\u0000b'))).toBe('invalid_characters');
    expect(code(rules.tags(['a\u0000b']))).toBe('invalid_tags');
    expect(code(rules.metadata({ 'k\u0000': 1 }))).toBe('invalid_metadata_json');
    expect(code(rules.metadata({ k: 'v\u0000' }))).toBe('invalid_metadata_json');
  });

  test('a lone surrogate is refused like a NUL; a pair (an emoji) is text', () => {
    expect(code(rules.displayName('a\ud800b'))).toBe('invalid_characters');
    expect(code(rules.vendorData('a\udc00'))).toBe('invalid_characters');
    expect(code(rules.tags(['\ud800']))).toBe('invalid_tags');
    expect(code(rules.metadata({ k: ['\udfff'] }))).toBe('invalid_metadata_json');
    expect(code(rules.displayName('a\ud83d\ude00b'))).toBe('ok');
  });

  test('metadata nests at most 64 levels, checked without recursion (5,000 levels would overflow JSON.stringify)', () => {
    const nested = (depth: number) => JSON.parse(`${'{"a":'.repeat(depth - 1)}{}${'}'.repeat(depth - 1)}`);
    expect(code(rules.metadata(nested(64)))).toBe('ok');
    expect(code(rules.metadata(nested(65)))).toBe('invalid_metadata_json');
    expect(code(rules.metadataJson(`${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`))).toBe('invalid_metadata_json');
    expect(code(rules.metadataJson(`{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}`))).toBe('invalid_metadata_json');
  });

  test('date_of_birth: a real past date', () => {
    expect(code(rules.dateOfBirth('1990-02-28'))).toBe('ok');
    expect(code(rules.dateOfBirth('1990-02-30'))).toBe('invalid_date');
    expect(code(rules.dateOfBirth('28/02/1990'))).toBe('invalid_date');
    expect(code(rules.dateOfBirth('2999-01-01'))).toBe('invalid_date');
  });
});

describe('the public API schema is built from the same rules', () => {
  test('valid input is normalised', () => {
    const parsed = userCreateSchema.parse({
      vendor_data: '  USER-1 ',
      country: 'esp',
      status: 'blocked',
      tags: ['a', 'a', ' b'],
      email: '',
    });
    expect(parsed).toEqual({ vendor_data: 'USER-1', country: 'ESP', status: 'BLOCKED', tags: ['a', 'b'], email: undefined });
  });

  test('each broken field is reported with its rule code', () => {
    const result = userCreateSchema.safeParse({
      vendor_data: '   ',
      email: 'nope',
      phone: '123',
      country: 'Atlantis',
      status: 'gone',
      tags: [''],
      metadata: [1],
      nickname: 'x',
    });
    expect(result.success).toBe(false);
    const problems = fieldProblems(result.error!, { metadata: [1] });
    const byField = Object.fromEntries(problems.map((p) => [p.field, p.code]));
    expect(byField).toEqual({
      vendor_data: 'required',
      email: 'invalid_email',
      phone: 'invalid_phone',
      country: 'invalid_country',
      status: 'invalid_status',
      tags: 'invalid_tags',
      metadata: 'invalid_metadata_json',
      nickname: 'unknown_field',
    });
  });

  test('a tag with a comma is invalid_tags, in a create and in a patch', () => {
    const created = userCreateSchema.safeParse({ vendor_data: 'v', tags: ['fine', 'not,fine'] });
    expect(created.success).toBe(false);
    expect(fieldProblems(created.error!, {})).toEqual([{ field: 'tags', code: 'invalid_tags', message: 'a tag may not hold a comma ("not,fine")' }]);
    const patched = userPatchSchema.safeParse({ tags: ['x,'] });
    expect(patched.success).toBe(false);
    expect(fieldProblems(patched.error!, {}).map((p) => [p.field, p.code])).toEqual([['tags', 'invalid_tags']]);
  });

  test('a missing vendor_data is required; wrong types are invalid_type', () => {
    const result = userCreateSchema.safeParse({ display_name: 5 });
    const problems = fieldProblems(result.error!, { display_name: 5 });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ field: 'vendor_data', code: 'required' }),
        expect.objectContaining({ field: 'display_name', code: 'invalid_type' }),
      ]),
    );
  });

  test('the API normalises like an import (no default phone country there)', () => {
    expect(userCreateSchema.parse({ vendor_data: 'v', country: 'Spain', phone: '+34 600-11-12-22' })).toMatchObject({
      country: 'ESP',
      phone: '+34600111222',
    });
    expect(userPatchSchema.parse({ country: 'es' })).toEqual({ country: 'ESP' });
    expect(userCreateSchema.safeParse({ vendor_data: 'v', phone: '600 11 12 22' }).success).toBe(false);
  });

  test('a patch may clear an optional field with null', () => {
    expect(userPatchSchema.parse({ email: null, display_name: 'X' })).toEqual({ email: null, display_name: 'X' });
  });
});
