import countries from 'i18n-iso-countries';
import en from 'i18n-iso-countries/langs/en.json';

countries.registerLocale(en);

export interface Country {
  code: string;
  name: string;
}

/**
 * The officially assigned alpha-3 codes with their English short names, by name. User-assigned codes (X.., e.g.
 * Kosovo's XKK) are left out: the API accepts only assigned ones.
 */
export const COUNTRIES: Country[] = Object.keys(countries.getAlpha3Codes())
  .filter((code) => !code.startsWith('X'))
  .map((code) => ({ code, name: countries.getName(code, 'en') ?? code }))
  .sort((a, b) => a.name.localeCompare(b.name, 'en'));

const byCode = new Map(COUNTRIES.map((c) => [c.code, c.name]));

export function countryName(code: string): string {
  return byCode.get(code.toUpperCase()) ?? code;
}
