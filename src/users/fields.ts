import { z } from 'zod';
import { USER_STATUSES, type UserStatus } from '../../drizzle/schema';
import { hasUnstorable, jsonProblem, MAX_JSON_DEPTH, unstorableReason } from '../text';
import { isSupportedCountry, parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/min';
import { alpha2OfAlpha3, alpha3OfAlpha2, alpha3OfName, COUNTRY_CODES } from './countries';

/**
 * The user field rules of API.md, written once. The public API validates its JSON through the zod schemas at the
 * bottom, which are built from these rules; CSV import calls the same rules cell by cell (after splitting `tags`
 * and parsing `metadata_json`), so both paths accept and refuse exactly the same values with the same codes.
 */

export const ROW_ERROR_CODES = [
  'required',
  'too_long',
  'invalid_characters',
  'invalid_email',
  'invalid_phone',
  'invalid_country',
  'invalid_status',
  'invalid_tags',
  'invalid_metadata_json',
  'invalid_date',
  'invalid_type',
  'duplicate_in_file',
  'already_exists',
  'not_found',
  // Import reading (src/imports/read-file.ts): a CSV row longer than its header, an NDJSON line that is no object.
  'too_many_fields',
  'invalid_json_line',
] as const;
export type RowErrorCode = (typeof ROW_ERROR_CODES)[number];

interface RuleError {
  code: RowErrorCode;
  message: string;
}
/**
 * `normalized`: the value was rewritten into its stored form beyond trimming (a country given as alpha-2, as a name or
 * as alpha-3 in lower case, a phone written with separators or as a national number, a status in another letter
 * case); an import's preview reports it, so that nothing is read differently from the file without saying so.
 */
export type RuleResult<T> = { ok: true; value: T; normalized?: boolean } | { ok: false; error: RuleError };

const ok = <T>(value: T): RuleResult<T> => ({ ok: true, value });
const normalized = <T>(value: T): RuleResult<T> => ({ ok: true, value, normalized: true });
const fail = (code: RowErrorCode, message: string): RuleResult<never> => ({ ok: false, error: { code, message } });

export const LIMITS = {
  vendorDataBytes: 2000,
  displayNameChars: 255,
  fullNameChars: 512,
  emailChars: 254,
  tagChars: 64,
  tagsCount: 50,
  metadataBytes: 16 * 1024,
} as const;

// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;
const EMAIL = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;
const E164 = /^\+[1-9][0-9]{1,14}$/;
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
/** What a spreadsheet shows for a long number it holds as a figure: `3.46E+10`, `3,46E+10`. */
const SCIENTIFIC = /^[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+$/;
/** A phone as people write it: digits, spaces, dots, dashes and brackets, with a `+` first or inside a first bracket (`(+34) 600…`). */
const PHONE_TEXT = /^[(\u00a0 ]*\+?[0-9 .()\-\u00a0]+$/;
const PHONE_SEPARATORS = /[ .()\-\u00a0]/g;

/** A country as libphonenumber names it (ISO alpha-2). */
export type PhoneCountry = CountryCode;

/** The option `default_phone_country` (alpha-2 or alpha-3, any case) as libphonenumber's alpha-2; undefined if unknown. */
export function phoneCountry(code: string): PhoneCountry | undefined {
  const upper = code.trim().toUpperCase();
  const alpha2 = upper.length === 3 ? alpha2OfAlpha3(upper) : alpha3OfAlpha2(upper) !== undefined ? upper : undefined;
  return alpha2 !== undefined && isSupportedCountry(alpha2) ? alpha2 : undefined;
}

/** Length in characters (code points), as a person counts them. */
export function charLength(value: string): number {
  let n = 0;
  for (const _ of value) n++;
  return n;
}

/**
 * Whether `value` has more than `max` characters (code points). A string's UTF-16 length is never below its code
 * point count, so the count is only taken for a string longer than `max` units. Three or more values of every imported
 * row are checked: counting each one's code points was a tenth of the row rules' time (the import benchmark's
 * 100,000 rows, best of 30, three alternating runs: 220-234 ms with the count, 186-210 ms without).
 */
function longerThan(value: string, max: number): boolean {
  return value.length > max && charLength(value) > max;
}

/** The key a user is found by: trimmed and lower-cased, so `USER-1` and ` user-1 ` are one user. */
export function vendorDataKey(vendorData: string): string {
  return vendorData.trim().toLowerCase();
}

/** Postgres cannot store U+0000 or a lone surrogate in text or jsonb; refused in every field, never passed on to fail there. */
function checkTextLength(value: string, max: number, label: string): RuleResult<string> {
  if (hasUnstorable(value)) return fail('invalid_characters', `${label} contains ${unstorableReason(value)}, which cannot be stored`);
  return longerThan(value, max) ? fail('too_long', `${label} is longer than ${max} characters`) : ok(value);
}

/** Each rule takes a trimmed, non-empty value ("not given" is decided before a rule is called). */
export const rules = {
  vendorData(value: string): RuleResult<string> {
    if (Buffer.byteLength(value, 'utf8') > LIMITS.vendorDataBytes) {
      return fail('too_long', `vendor_data is longer than ${LIMITS.vendorDataBytes} bytes of UTF-8`);
    }
    if (CONTROL_CHARACTERS.test(value) || hasUnstorable(value)) {
      return fail('invalid_characters', 'vendor_data contains control characters or a character that cannot be stored');
    }
    return ok(value);
  },
  displayName: (value: string) => checkTextLength(value, LIMITS.displayNameChars, 'display_name'),
  fullName: (value: string) => checkTextLength(value, LIMITS.fullNameChars, 'full_name'),
  email(value: string): RuleResult<string> {
    if (value.length > LIMITS.emailChars) return fail('too_long', `email is longer than ${LIMITS.emailChars} characters`);
    const at = value.lastIndexOf('@');
    if (!EMAIL.test(value) || at > 64 || value.includes('..')) return fail('invalid_email', 'email is not a valid address');
    return ok(value);
  },
  /**
   * E.164 as is (the cheap path: no parsing); else separators (spaces, dots, dashes, brackets) dropped; else, with a
   * default country (alpha-2, see phoneCountry), a national number read as that country's by libphonenumber.
   */
  phone(value: string, defaultCountry?: PhoneCountry): RuleResult<string> {
    if (E164.test(value)) return ok(value);
    if (SCIENTIFIC.test(value)) {
      return fail(
        'invalid_phone',
        // The damaged number is not quoted: a message is shown to roles that may not see phones (the cell is in `raw`).
        'phone is in scientific notation: a spreadsheet turned the number into a rounded figure and lost digits; format the column as text and export the file again',
      );
    }
    if (PHONE_TEXT.test(value)) {
      const compact = value.replace(PHONE_SEPARATORS, '');
      if (E164.test(compact)) return normalized(compact);
      if (defaultCountry !== undefined && !compact.startsWith('+')) {
        const parsed = parsePhoneNumberFromString(compact, defaultCountry);
        if (parsed?.isPossible() && E164.test(parsed.number)) return normalized(parsed.number);
      }
    }
    return fail(
      'invalid_phone',
      defaultCountry === undefined
        ? 'phone must be E.164: "+" then 2 to 15 digits, the first not 0 (e.g. +34600111222); spaces, dots, dashes and brackets are allowed'
        : `phone is neither E.164 ("+" then 2 to 15 digits) nor a possible national number of ${defaultCountry}`,
    );
  },
  /** Alpha-3 in any letter case (the cheap path), else alpha-2, else an English name (any letter case). */
  country(value: string): RuleResult<string> {
    const code = value.toUpperCase();
    if (code.length === 3 && COUNTRY_CODES.has(code)) return code === value ? ok(code) : normalized(code);
    const alpha3 = code.length === 2 ? alpha3OfAlpha2(code) : alpha3OfName(value);
    return alpha3 !== undefined
      ? normalized(alpha3)
      : fail('invalid_country', `country "${truncate(value)}" is not an ISO 3166-1 alpha-3 or alpha-2 code or an English country name`);
  },
  status(value: string): RuleResult<UserStatus> {
    const status = value.toUpperCase() as UserStatus;
    if (!USER_STATUSES.includes(status)) {
      return fail('invalid_status', `status must be one of ${USER_STATUSES.join(', ')}`);
    }
    return status === value ? ok(status) : normalized(status);
  },
  dateOfBirth(value: string): RuleResult<string> {
    const match = ISO_DATE.exec(value);
    if (match) {
      const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
      const date = new Date(Date.UTC(year, month - 1, day));
      const real = date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
      if (real && year >= 1900 && date.getTime() <= Date.now()) return ok(value);
    }
    return fail('invalid_date', 'date_of_birth must be a past date written YYYY-MM-DD');
  },
  /**
   * A list of tags: each trimmed, 1 to 64 characters, no comma (the CSV cell joins them with `,`: a comma would come
   * back as two tags); duplicates dropped, first keeps its place; at most 50.
   */
  tags(values: readonly string[]): RuleResult<string[]> {
    const seen = new Set<string>();
    for (const raw of values) {
      const tag = raw.trim();
      if (tag === '') return fail('invalid_tags', 'a tag is empty');
      if (tag.includes(',')) return fail('invalid_tags', `a tag may not hold a comma ("${truncate(tag)}")`);
      if (hasUnstorable(tag)) return fail('invalid_tags', `a tag contains ${unstorableReason(tag)}, which cannot be stored`);
      if (longerThan(tag, LIMITS.tagChars)) return fail('invalid_tags', `a tag is longer than ${LIMITS.tagChars} characters`);
      seen.add(tag);
    }
    if (seen.size > LIMITS.tagsCount) return fail('invalid_tags', `more than ${LIMITS.tagsCount} tags`);
    return ok([...seen]);
  },
  /**
   * A JSON object (not an array, not a scalar), nested at most 64 levels, that Postgres can store (no NUL, no lone
   * surrogate in a key or string), at most 16 KiB serialised. The nesting is checked first, without recursion:
   * JSON.stringify (and jsonb) would overflow the stack on an object nested thousands deep.
   */
  metadata(value: unknown): RuleResult<Record<string, unknown>> {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      return fail('invalid_metadata_json', 'metadata must be a JSON object');
    }
    const problem = jsonProblem(value, MAX_JSON_DEPTH);
    if (problem?.kind === 'too_deep') return fail('invalid_metadata_json', `metadata is nested deeper than ${MAX_JSON_DEPTH} levels`);
    if (problem?.kind === 'unstorable') {
      return fail('invalid_metadata_json', `metadata holds ${problem.reason} at ${problem.path.join('.')}, which cannot be stored`);
    }
    const serialised = JSON.stringify(value);
    if (Buffer.byteLength(serialised, 'utf8') > LIMITS.metadataBytes) {
      return fail('invalid_metadata_json', `metadata is larger than ${LIMITS.metadataBytes / 1024} KiB`);
    }
    return ok(value as Record<string, unknown>);
  },
  /** The CSV form of metadata: the cell's text parsed as JSON, then the metadata rule. */
  metadataJson(text: string): RuleResult<Record<string, unknown>> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return fail('invalid_metadata_json', 'metadata_json is not valid JSON');
    }
    if (isPlainJsonText(text)) {
      // Nothing the metadata rule looks for can be in it (see isPlainJsonText): only the shape is left to check.
      return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
        ? ok(parsed as Record<string, unknown>)
        : fail('invalid_metadata_json', 'metadata must be a JSON object');
    }
    return rules.metadata(parsed);
  },
};

/**
 * Whether JSON text is too plain to break the metadata rule once parsed: no backslash (so every parsed key and string
 * is a piece of the text, and the text holds no NUL or lone surrogate), fewer than MAX_JSON_DEPTH brackets, and
 * short enough that its serialised form cannot pass the size limit (a number may grow ~5x, `1e20`, a character to 3
 * bytes). The metadata cell of every row of an import goes through the rule: this skips the walk and the second
 * serialisation, which took ~6% of the staging's CPU on 100,000 rows.
 */
function isPlainJsonText(text: string): boolean {
  if (text.length > LIMITS.metadataBytes / 16 || text.includes('\\') || hasUnstorable(text)) return false;
  return text.length < 2 * MAX_JSON_DEPTH || (text.match(/[[{]/g)?.length ?? 0) <= MAX_JSON_DEPTH;
}

function truncate(value: string, max = 40): string {
  return value.length > max ? `${value.slice(0, max)}…` : value;
}

/** Splits the CSV form of tags (a comma-separated cell). */
export function splitTagsCell(cell: string): string[] {
  return cell.split(',');
}

// ---- zod schemas for the public API, built from the rules above ----

/** A zod field that trims a string and applies a rule; its issues carry the rule's code in `params.code`. */
function stringField<T>(rule: (value: string) => RuleResult<T>, options: { emptyIsRequired?: boolean } = {}) {
  return z.string().transform((raw, ctx): T => {
    const value = raw.trim();
    if (value === '' && options.emptyIsRequired) {
      ctx.addIssue({ code: 'custom', message: 'this field is required', params: { code: 'required' } });
      return z.NEVER;
    }
    const result = rule(value);
    if (!result.ok) {
      ctx.addIssue({ code: 'custom', message: result.error.message, params: { code: result.error.code } });
      return z.NEVER;
    }
    return result.value;
  });
}

function valueField<I, T>(input: z.ZodType<I>, rule: (value: I) => RuleResult<T>) {
  return input.transform((value, ctx): T => {
    const result = rule(value);
    if (!result.ok) {
      ctx.addIssue({ code: 'custom', message: result.error.message, params: { code: result.error.code } });
      return z.NEVER;
    }
    return result.value;
  });
}

/** An optional text field: an empty string means "not given", like an empty CSV cell; null clears it (PATCH). */
const optionalText = <T>(rule: (value: string) => RuleResult<T>) =>
  z
    .string()
    .nullable()
    .optional()
    .transform((raw, ctx): T | null | undefined => {
      if (raw === undefined || raw === null) return raw;
      const value = raw.trim();
      if (value === '') return undefined;
      const result = rule(value);
      if (!result.ok) {
        ctx.addIssue({ code: 'custom', message: result.error.message, params: { code: result.error.code } });
        return z.NEVER;
      }
      return result.value;
    });

const userFieldSchemas = {
  vendor_data: stringField(rules.vendorData, { emptyIsRequired: true }),
  display_name: optionalText(rules.displayName),
  full_name: optionalText(rules.fullName),
  date_of_birth: optionalText(rules.dateOfBirth),
  email: optionalText(rules.email),
  phone: optionalText(rules.phone),
  country: optionalText(rules.country),
  status: stringField(rules.status),
  tags: valueField(z.array(z.string()), rules.tags),
  // Any JSON value reaches the rule, so an array or a scalar is invalid_metadata_json (API.md), as in a CSV cell.
  metadata: valueField(z.unknown(), rules.metadata),
};

/**
 * The user object's fields that only the service writes (API.md: "the four counters, are never changed by ... the
 * public API"). A body may hold them, as the user read with GET does, and they are ignored, as the same columns of an
 * import file are; any other field the API does not take is `unknown_field`.
 */
const READ_ONLY_USER_FIELDS = ['id', 'verified_fields', 'session_count', 'approved_count', 'declined_count', 'in_review_count', 'created_at', 'updated_at'] as const;
type ReadOnlyUserField = (typeof READ_ONLY_USER_FIELDS)[number];
const readOnlyFields = Object.fromEntries(
  READ_ONLY_USER_FIELDS.map((field) => [field, z.unknown().optional().meta({ description: 'read-only: accepted and ignored' })]),
) as Record<ReadOnlyUserField, z.ZodOptional<z.ZodUnknown>>;

function withoutReadOnly<T extends Record<string, unknown>>(body: T): Omit<T, ReadOnlyUserField> {
  const copy: Record<string, unknown> = { ...body };
  for (const field of READ_ONLY_USER_FIELDS) delete copy[field];
  return copy as Omit<T, ReadOnlyUserField>;
}

const userCreateFields = z.strictObject({
  vendor_data: userFieldSchemas.vendor_data,
  display_name: userFieldSchemas.display_name,
  full_name: userFieldSchemas.full_name,
  date_of_birth: userFieldSchemas.date_of_birth,
  email: userFieldSchemas.email,
  phone: userFieldSchemas.phone,
  country: userFieldSchemas.country,
  status: userFieldSchemas.status.optional(),
  tags: userFieldSchemas.tags.optional(),
  metadata: userFieldSchemas.metadata.optional(),
  ...readOnlyFields,
});
export const userCreateSchema = userCreateFields.transform(withoutReadOnly);
export type UserCreateInput = z.infer<typeof userCreateSchema>;

export const userPatchSchema = userCreateFields.partial().transform(withoutReadOnly);
export type UserPatchInput = z.infer<typeof userPatchSchema>;

export interface FieldProblem {
  field: string;
  code: string;
  message: string;
}

/**
 * The user fields with a row error code of their own: a JSON value of the wrong type there gets that code (API.md:
 * "a broken field: 400 invalid_field ... using the row error codes"), as a cell the rule refuses would; `tags: "vip"`
 * or `tags: ["a", 5]` is invalid_tags on `tags`. The plain text fields have none and keep invalid_type.
 */
const WRONG_TYPE_CODES: Partial<Record<string, { code: RowErrorCode; expected: string }>> = {
  email: { code: 'invalid_email', expected: 'an email address as text' },
  phone: { code: 'invalid_phone', expected: 'a phone number as text' },
  country: { code: 'invalid_country', expected: 'a country code or name as text' },
  status: { code: 'invalid_status', expected: `one of ${USER_STATUSES.join(', ')}` },
  tags: { code: 'invalid_tags', expected: 'a list of text tags' },
  date_of_birth: { code: 'invalid_date', expected: 'a YYYY-MM-DD date as text' },
};

/** fieldProblems for the user schemas (userCreateSchema, userPatchSchema), with WRONG_TYPE_CODES applied. */
export function userFieldProblems(error: z.ZodError, input: unknown): FieldProblem[] {
  const problems: FieldProblem[] = [];
  for (const problem of fieldProblems(error, input)) {
    const top = problem.field.split('.')[0];
    const wrongType = problem.code === 'invalid_type' ? WRONG_TYPE_CODES[top] : undefined;
    if (wrongType === undefined) {
      problems.push(problem);
    } else if (!problems.some((p) => p.field === top && p.code === wrongType.code)) {
      problems.push({ field: top, code: wrongType.code, message: `${top} must be ${wrongType.expected}` });
    }
  }
  return problems;
}

/** Turns zod issues into API.md's `details: [{field, code, message}]`, using the rule codes. */
export function fieldProblems(error: z.ZodError, input: unknown): FieldProblem[] {
  const given = (key: PropertyKey) => typeof input === 'object' && input !== null && key in input;
  const problems: FieldProblem[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        problems.push({ field: [...issue.path, key].join('.'), code: 'unknown_field', message: `unknown field "${key}"` });
      }
      continue;
    }
    const field = issue.path.length > 0 ? issue.path.map(String).join('.') : '(body)';
    const params = issue.code === 'custom' ? (issue.params as { code?: string } | undefined) : undefined;
    if (params?.code) {
      problems.push({ field, code: params.code, message: issue.message });
    } else if (issue.code === 'invalid_type' && issue.path.length === 1 && !given(issue.path[0])) {
      problems.push({ field, code: 'required', message: `${field} is required` });
    } else {
      problems.push({ field, code: 'invalid_type', message: `${field}: ${issue.message}` });
    }
  }
  return problems;
}
