import { cronProblem, exportScheduleCreateSchema, exportSchedulePatchSchema, parseEvery } from '../../src/exports/schedule-spec';

/** When an export schedule runs: `every` durations and five-field cron expressions, and the bodies that carry them. */

test('every: <number><unit> pieces', () => {
  expect(parseEvery('2s')).toBe(2000);
  expect(parseEvery('1h30m')).toBe(5_400_000);
  expect(parseEvery(' 1D ')).toBe(86_400_000);
  expect(parseEvery('1w')).toBe(604_800_000);
  expect(parseEvery('250ms')).toBe(250);
  for (const bad of ['', 'soon', '1', 'h', '1.5h', '-1h', '1h 30m', '1y']) expect(parseEvery(bad)).toBeUndefined();
});

test('cron: five fields within their ranges', () => {
  for (const ok of ['0 2 * * *', '*/15 * * * *', '0 0 1 JAN *', '30 6 * * MON-FRI', '0 0,12 1-15/2 * 0', '0 0 * * 7']) {
    expect(cronProblem(ok)).toBeUndefined();
  }
  for (const bad of ['', '0 2 * *', '0 2 * * * *', '60 * * * *', '* 24 * * *', '* * 0 * *', '* * * 13 *', '* * * * 8', '5-1 * * * *', '*/0 * * * *', 'a b c d e', '@daily']) {
    expect(cronProblem(bad)).toEqual(expect.any(String));
  }
});

test('a body names exactly one of every and cron; a patch at most one', () => {
  const codes = (r: { success: boolean; error?: { issues: readonly object[] } }) =>
    r.success ? [] : r.error!.issues.map((i) => ('params' in i ? (i.params as { code?: string } | undefined)?.code : undefined));
  expect(exportScheduleCreateSchema.safeParse({ name: 'n', every: '1d' }).success).toBe(true);
  expect(exportScheduleCreateSchema.safeParse({ name: 'n', cron: ' 0  2 * * * ' }).data?.cron).toBe('0 2 * * *');
  expect(codes(exportScheduleCreateSchema.safeParse({ name: 'n' }))).toContain('required');
  expect(codes(exportScheduleCreateSchema.safeParse({ name: 'n', every: '1d', cron: '0 2 * * *' }))).toContain('invalid_schedule');
  expect(codes(exportScheduleCreateSchema.safeParse({ name: 'n', every: '999ms' }))).toContain('invalid_every');
  expect(codes(exportScheduleCreateSchema.safeParse({ name: 'n', every: '367d' }))).toContain('invalid_every');
  expect(exportSchedulePatchSchema.safeParse({}).success).toBe(true);
  expect(exportSchedulePatchSchema.safeParse({ paused: true }).data).toEqual({ paused: true });
  expect(codes(exportSchedulePatchSchema.safeParse({ every: '1d', cron: '0 2 * * *' }))).toContain('invalid_schedule');
});
