import type { ImportColumn } from './columns';

/**
 * How the headers of other systems' files are read as template columns: the built-in synonyms and the vendor
 * presets, kept here as data. A header is compared with letter case, spaces, `-` and `_` ignored.
 */

/** Two pseudo-columns that only exist on the way in: together (or alone) they make `full_name`. */
export const NAME_PARTS = ['first_name', 'last_name'] as const;
type NamePart = (typeof NAME_PARTS)[number];
export type MappedColumn = ImportColumn | NamePart;

/** `First Name`, `first-name`, `FIRST_NAME` → `firstname`. */
export function headerKey(header: string): string {
  return header.toLowerCase().replace(/[\s_-]+/g, '');
}

/** Built-in synonyms (API.md lists the first of each); keys are headerKey()s. */
export const SYNONYMS: Readonly<Record<string, MappedColumn>> = Object.fromEntries(
  (
    [
      ['vendor_data', ['external_id', 'user_id', 'customer_id', 'client_id', 'account_id']],
      ['display_name', ['nickname', 'username', 'screen_name']],
      ['full_name', ['name', 'legal_name']],
      ['email', ['email_address', 'e-mail', 'e-mail_address', 'primary_email', 'primary_email_address']],
      ['phone', ['phone_number', 'mobile', 'mobile_phone', 'mobile_number', 'telephone', 'primary_phone_number']],
      ['country', ['country_code', 'country_of_residence']],
      ['status', ['user_status', 'account_status']],
      ['tags', ['labels', 'label', 'segments']],
      ['metadata_json', ['metadata', 'custom_data', 'user_metadata']],
      ['first_name', ['first_name', 'given_name', 'forename']],
      ['last_name', ['last_name', 'family_name', 'surname']],
    ] as const
  ).flatMap(([column, names]) => names.map((name) => [headerKey(name), column as MappedColumn])),
);

/**
 * The vendor presets, from the columns their documented exports write. A header the preset names maps to the
 * column (or is ignored: null); any other header of the file goes on to the synonyms. Keys are headerKey()s.
 * - auth0: the users export job's CSV fields (user_id, email, name, given_name, family_name, nickname,
 *   phone_number, user_metadata, app_metadata, email_verified, picture, identities, created_at, ...).
 * - okta: the user profile attributes of its CSV files (login, firstName, lastName, email, secondEmail,
 *   mobilePhone, primaryPhone, displayName, nickName, countryCode, status, id, ...).
 * - clerk: the dashboard's users CSV (id, first_name, last_name, username, primary_email_address,
 *   primary_phone_number, verified/unverified email addresses and phone numbers, totp_secret, password_digest,
 *   password_hasher).
 */
export const PRESETS: Readonly<Record<'auth0' | 'okta' | 'clerk', Readonly<Record<string, MappedColumn | null>>>> = {
  auth0: keyed({
    user_id: 'vendor_data',
    email: 'email',
    name: 'full_name',
    given_name: null,
    family_name: null,
    nickname: 'display_name',
    phone_number: 'phone',
    user_metadata: 'metadata_json',
    app_metadata: null,
    email_verified: null,
    phone_verified: null,
    picture: null,
    identities: null,
    username: null,
    last_login: null,
    logins_count: null,
    blocked: null,
  }),
  okta: keyed({
    login: 'vendor_data',
    username: 'vendor_data',
    firstName: 'first_name',
    lastName: 'last_name',
    email: 'email',
    primaryEmail: 'email',
    displayName: 'display_name',
    mobilePhone: 'phone',
    primaryPhone: null,
    secondEmail: null,
    countryCode: 'country',
    status: null,
    id: null,
    nickName: null,
    middleName: null,
    title: null,
    locale: null,
    timezone: null,
  }),
  clerk: keyed({
    id: 'vendor_data',
    first_name: 'first_name',
    last_name: 'last_name',
    username: 'display_name',
    primary_email_address: 'email',
    primary_phone_number: 'phone',
    verified_email_addresses: null,
    unverified_email_addresses: null,
    verified_phone_numbers: null,
    unverified_phone_numbers: null,
    totp_secret: null,
    password_digest: null,
    password_hasher: null,
  }),
};

function keyed(map: Record<string, MappedColumn | null>): Record<string, MappedColumn | null> {
  return Object.fromEntries(Object.entries(map).map(([header, column]) => [headerKey(header), column]));
}

/** The saved mapping of a set of headers is found by this key: the headers' keys, sorted, joined. */
export function headerSetKey(headers: readonly string[]): string {
  return [...headers].map((h) => headerKey(h.trim())).sort().join('\u001f');
}
