import { z } from 'zod';
import { phoneCountry } from '../users/fields';

/**
 * The upload options of "Files from other systems" (API.md): every optional multipart field beside `file`, checked
 * with one schema. A bad value is 400 invalid_field naming the field, and nothing is stored. The import object shows
 * them back under `options`, with what was detected filled in (format, encoding, delimiter).
 */

export const IMPORT_FORMATS = ['csv', 'xlsx', 'ndjson'] as const;
export const IMPORT_ENCODINGS = ['utf-8', 'utf-16le', 'utf-16be', 'windows-1252', 'iso-8859-1'] as const;
export const IMPORT_DELIMITERS = [',', ';', '\t', '|'] as const;
export const IMPORT_PRESETS = ['auth0', 'okta', 'clerk'] as const;
export const IMPORT_MODES = ['upsert', 'create_only', 'update_only'] as const;
export const EMPTY_CELLS_MODES = ['keep', 'clear'] as const;
export const TAGS_MODES = ['replace', 'add'] as const;
export const METADATA_MODES = ['merge', 'replace'] as const;

export type ImportFormat = (typeof IMPORT_FORMATS)[number];
export type ImportEncoding = (typeof IMPORT_ENCODINGS)[number];
export type ImportDelimiter = (typeof IMPORT_DELIMITERS)[number];

const lowerEnum = <T extends readonly [string, ...string[]]>(values: T) =>
  z.preprocess((v) => (typeof v === 'string' ? v.trim().toLowerCase() : v), z.enum(values));
const booleanText = z.preprocess((v) => (typeof v === 'string' ? v.trim().toLowerCase() : v), z.enum(['true', 'false'])).transform((v) => v === 'true');

/** A mapping field: a JSON object `{"<header in the file>": "<template column>" | null}`. */
const mappingText = z.string().meta({ description: 'JSON object {"<header in the file>": "<template column>" or null}' }).transform((text, ctx) => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'mapping must be a JSON object {"<header in the file>": "<template column>" or null}' });
    return z.NEVER;
  }
  const result = z.record(z.string().max(256), z.string().max(64).nullable()).safeParse(parsed);
  if (!result.success || Array.isArray(parsed)) {
    ctx.addIssue({ code: 'custom', message: 'mapping must be a JSON object {"<header in the file>": "<template column>" or null}' });
    return z.NEVER;
  }
  return result.data;
});

export const importOptionsSchema = z.strictObject({
  format: lowerEnum(IMPORT_FORMATS).optional(),
  sheet: z.string().trim().min(1).max(255).optional(),
  encoding: lowerEnum(IMPORT_ENCODINGS).optional(),
  delimiter: z.preprocess((v) => (v === '\\t' || v === 'tab' ? '\t' : v), z.enum(IMPORT_DELIMITERS)).optional(),
  mapping: mappingText.optional(),
  preset: lowerEnum(IMPORT_PRESETS).optional(),
  save_mapping: booleanText.optional(),
  default_phone_country: z
    .string()
    .trim()
    .regex(/^[A-Za-z]{2,3}$/, 'an ISO 3166-1 alpha-2 or alpha-3 code')
    .meta({ description: 'ISO 3166-1 alpha-2 or alpha-3' })
    .transform((v) => v.toUpperCase())
    .refine((v) => phoneCountry(v) !== undefined, 'an ISO 3166-1 alpha-2 or alpha-3 code of a country with phone numbers')
    .optional(),
  mode: lowerEnum(IMPORT_MODES).optional(),
  empty_cells: lowerEnum(EMPTY_CELLS_MODES).optional(),
  tags_mode: lowerEnum(TAGS_MODES).optional(),
  metadata_mode: lowerEnum(METADATA_MODES).optional(),
});

export type ImportOptions = z.output<typeof importOptionsSchema>;

/** What reading a file needs of the options: the format, encoding and delimiter given (undefined: detect them). */
export interface ReadOptions {
  format?: ImportFormat;
  sheet?: string;
  encoding?: ImportEncoding;
  delimiter?: ImportDelimiter;
}

/** What was detected or given, as the import object shows it under `options` (with the other options given). */
export interface DetectedSource {
  format: ImportFormat;
  encoding: ImportEncoding | null;
  delimiter: ImportDelimiter | null;
  sheet: string | null;
}
