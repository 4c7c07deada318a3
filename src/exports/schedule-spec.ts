import { z } from 'zod';
import { EXPORT_FORMATS, type ExportFormat } from '../../drizzle/schema';
import { exportColumnsSchema, exportFiltersSchema } from './filters';

/**
 * The bodies of `POST` and `PATCH /console/users/export-schedules`, and the two ways a schedule says when it runs:
 * `every` (a duration: `90s`, `15m`, `1h`, `1d`, `1h30m`) or `cron` (five fields, UTC). Every problem is a zod issue
 * with a stable `params.code`, reported as 400 `invalid_field` like the export's own body.
 */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
export const EVERY_MIN_MS = 1000;
export const EVERY_MAX_MS = 366 * UNIT_MS.d;

/** A duration as `<number><unit>` pieces (ms, s, m, h, d, w), in milliseconds; undefined when it is not one. */
export function parseEvery(text: string): number | undefined {
  const trimmed = text.trim().toLowerCase();
  if (!/^(\d+(ms|s|m|h|d|w))+$/.test(trimmed)) return undefined;
  let total = 0;
  for (const [, n, unit] of trimmed.matchAll(/(\d+)(ms|s|m|h|d|w)/g)) total += Number(n) * UNIT_MS[unit];
  return total;
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
const CRON_FIELDS = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS, base: 1 },
  { name: 'day of week', min: 0, max: 7, names: DAYS, base: 0 },
] as const;

/** Why a five-field cron expression is not one (minute hour day-of-month month day-of-week), else undefined. */
export function cronProblem(text: string): string | undefined {
  const fields = text.trim().split(/\s+/);
  if (fields.length !== 5) return 'a cron expression has five fields: minute hour day-of-month month day-of-week';
  for (let i = 0; i < 5; i++) {
    const spec = CRON_FIELDS[i];
    const value = (token: string): number | undefined => {
      const upper = token.toUpperCase();
      if ('names' in spec) {
        const at = (spec.names as readonly string[]).indexOf(upper);
        if (at >= 0) return at + spec.base;
      }
      return /^\d+$/.test(token) ? Number(token) : undefined;
    };
    for (const item of fields[i].split(',')) {
      const match = /^(\*|([A-Za-z0-9]+)(?:-([A-Za-z0-9]+))?)(?:\/(\d+))?$/.exec(item);
      const bad = `the ${spec.name} field "${fields[i]}" is not valid (${spec.min}-${spec.max}, *, a-b, */n, lists with commas)`;
      if (!match) return bad;
      if (match[4] !== undefined && Number(match[4]) < 1) return bad;
      if (match[1] === '*') continue;
      const from = value(match[2]);
      const to = match[3] === undefined ? from : value(match[3]);
      if (from === undefined || to === undefined || from < spec.min || to > spec.max || from > to) return bad;
    }
  }
  return undefined;
}

const issue = (ctx: z.RefinementCtx, code: string, message: string, path: (string | number)[] = []) =>
  ctx.addIssue({ code: 'custom', message, params: { code }, path });

const everySchema = z
  .string()
  .transform((value, ctx) => {
    const ms = parseEvery(value);
    if (ms === undefined || ms < EVERY_MIN_MS || ms > EVERY_MAX_MS) {
      issue(ctx, 'invalid_every', 'every must be a duration from 1s to 366d, e.g. "15m", "1h", "1d", "1h30m"');
      return z.NEVER;
    }
    return value.trim().toLowerCase();
  })
  .meta({ description: 'a duration: <number><unit> pieces, units ms s m h d w (e.g. "1h", "1d", "1h30m"); at least 1s' });

const cronSchema = z
  .string()
  .transform((value, ctx) => {
    const problem = cronProblem(value);
    if (problem) {
      issue(ctx, 'invalid_cron', problem);
      return z.NEVER;
    }
    return value.trim().split(/\s+/).join(' ');
  })
  .meta({ description: 'five cron fields, in UTC: minute hour day-of-month month day-of-week (e.g. "0 2 * * *")' });

const nameSchema = z
  .string()
  .transform((v) => v.trim())
  .refine((v) => v.length >= 1 && v.length <= 200, { message: 'name is 1 to 200 characters', params: { code: 'invalid_name' } })
  .meta({ description: 'shown in the console and, as the Schedule summary, in the Temporal Web UI' });

const booleanField = (name: string) =>
  z
    .unknown()
    .transform((value, ctx) => {
      if (typeof value !== 'boolean') {
        issue(ctx, `invalid_${name}`, `${name} must be true or false`);
        return z.NEVER;
      }
      return value;
    })
    .meta({ type: 'boolean' });

/**
 * `every` or `cron` as a body gives it: null stands for "not given", as the schedule object shows the one not used
 * (`{"every": "1d", "cron": null}` sent back as it was read, or a PATCH moving from every to cron).
 */
const orNull = <T>(schema: z.ZodType<T>) => schema.nullish().transform((value) => value ?? undefined);

/** Exactly one of every and cron (a PATCH may give neither). */
function oneSpec(required: boolean) {
  return (body: { every?: string; cron?: string }, ctx: z.RefinementCtx) => {
    if (body.every !== undefined && body.cron !== undefined) issue(ctx, 'invalid_schedule', 'give either every or cron, not both', ['every']);
    else if (required && body.every === undefined && body.cron === undefined) issue(ctx, 'required', 'give every (e.g. "1d") or cron (e.g. "0 2 * * *")', ['every']);
  };
}

export const exportScheduleCreateSchema = z
  .strictObject({
    name: nameSchema,
    filters: exportFiltersSchema.optional(),
    columns: exportColumnsSchema.optional(),
    format: z
      .unknown()
      .transform((value, ctx) => {
        if (!EXPORT_FORMATS.includes(value as ExportFormat)) {
          issue(ctx, 'invalid_format', `format must be one of ${EXPORT_FORMATS.join(', ')}`);
          return z.NEVER;
        }
        return value as ExportFormat;
      })
      .meta({ type: 'string', enum: [...EXPORT_FORMATS] })
      .optional(),
    gzip: booleanField('gzip').optional(),
    excel_bom: booleanField('excel_bom').optional(),
    every: orNull(everySchema),
    cron: orNull(cronSchema),
    paused: booleanField('paused').meta({ description: 'true: created paused (no run until unpaused)' }).optional(),
    incremental: booleanField('incremental').meta({ description: 'true: each run holds only the users created or updated since the last completed run' }).optional(),
  })
  .superRefine(oneSpec(true));
export type ExportScheduleCreate = z.infer<typeof exportScheduleCreateSchema>;

export const exportSchedulePatchSchema = z
  .strictObject({
    name: nameSchema.optional(),
    paused: booleanField('paused').optional(),
    every: orNull(everySchema),
    cron: orNull(cronSchema),
    filters: exportFiltersSchema.optional(),
    columns: exportColumnsSchema.optional(),
  })
  .superRefine(oneSpec(false));
export type ExportSchedulePatch = z.infer<typeof exportSchedulePatchSchema>;
