/**
 * The 249 officially assigned ISO 3166-1 alpha-3 codes (user-assigned codes such as XKX are not among them).
 */
export const COUNTRY_CODES: ReadonlySet<string> = new Set(
  'ABW AFG AGO AIA ALA ALB AND ARE ARG ARM ASM ATA ATF ATG AUS AUT AZE BDI BEL BEN BES BFA BGD BGR BHR BHS BIH BLM BLR BLZ BMU BOL BRA BRB BRN BTN BVT BWA CAF CAN CCK CHE CHL CHN CIV CMR COD COG COK COL COM CPV CRI CUB CUW CXR CYM CYP CZE DEU DJI DMA DNK DOM DZA ECU EGY ERI ESH ESP EST ETH FIN FJI FLK FRA FRO FSM GAB GBR GEO GGY GHA GIB GIN GLP GMB GNB GNQ GRC GRD GRL GTM GUF GUM GUY HKG HMD HND HRV HTI HUN IDN IMN IND IOT IRL IRN IRQ ISL ISR ITA JAM JEY JOR JPN KAZ KEN KGZ KHM KIR KNA KOR KWT LAO LBN LBR LBY LCA LIE LKA LSO LTU LUX LVA MAC MAF MAR MCO MDA MDG MDV MEX MHL MKD MLI MLT MMR MNE MNG MNP MOZ MRT MSR MTQ MUS MWI MYS MYT NAM NCL NER NFK NGA NIC NIU NLD NOR NPL NRU NZL OMN PAK PAN PCN PER PHL PLW PNG POL PRI PRK PRT PRY PSE PYF QAT REU ROU RUS RWA SAU SDN SEN SGP SGS SHN SJM SLB SLE SLV SMR SOM SPM SRB SSD STP SUR SVK SVN SWE SWZ SXM SYC SYR TCA TCD TGO THA TJK TKL TKM TLS TON TTO TUN TUR TUV TWN TZA UGA UKR UMI URY USA UZB VAT VCT VEN VGB VIR VNM VUT WLF WSM YEM ZAF ZMB ZWE'.split(' '),
);

// Only the English names are loaded (the package's default entry point registers every language it ships).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const isoCountries = require('i18n-iso-countries/index') as typeof import('i18n-iso-countries');
// eslint-disable-next-line @typescript-eslint/no-require-imports
isoCountries.registerLocale(require('i18n-iso-countries/langs/en.json'));

/** Alpha-2 -> alpha-3, for the officially assigned codes only (XK, a user-assigned code, is not among them). */
const ALPHA2_TO_ALPHA3 = new Map<string, string>();
/** English names, lower case -> alpha-3: the short name and the other names the package lists (e.g. "USA"). */
const NAME_TO_ALPHA3 = new Map<string, string>();
for (const [alpha2, names] of Object.entries(isoCountries.getNames('en', { select: 'all' }))) {
  const alpha3 = isoCountries.alpha2ToAlpha3(alpha2);
  if (alpha3 === undefined || !COUNTRY_CODES.has(alpha3)) continue;
  ALPHA2_TO_ALPHA3.set(alpha2, alpha3);
  for (const name of names) NAME_TO_ALPHA3.set(name.toLowerCase(), alpha3);
}

/** An officially assigned alpha-2 code (upper case) as alpha-3; undefined when it is not one. */
export function alpha3OfAlpha2(code: string): string | undefined {
  return ALPHA2_TO_ALPHA3.get(code);
}

/** An English country name, in any letter case, as alpha-3; undefined when it names no country. */
export function alpha3OfName(name: string): string | undefined {
  return NAME_TO_ALPHA3.get(name.toLowerCase().replace(/\s+/g, ' '));
}

/** An alpha-3 code (upper case) as alpha-2 (what libphonenumber takes); undefined when it is not one. */
export function alpha2OfAlpha3(code: string): string | undefined {
  return COUNTRY_CODES.has(code) ? isoCountries.alpha3ToAlpha2(code) : undefined;
}
