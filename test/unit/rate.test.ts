import { writeRate } from '../../src/rate';
import { describeRate } from '../../workflows/definitions';

const since = new Date('2026-12-02T10:00:00Z');
const at = (seconds: number) => new Date(since.getTime() + seconds * 1000);

describe('writeRate', () => {
  test('rows written since the base over the seconds since, and the rows left over that rate, rounded up', () => {
    expect(writeRate({ running: true, since, now: at(4), baseRows: 100, rows: 150, remainingRows: 51 })).toEqual({ rows_per_second: 12.5, eta_seconds: 5 });
  });

  test('null until a row has been written since the base, when not running, and without a base', () => {
    const none = { rows_per_second: null, eta_seconds: null };
    expect(writeRate({ running: true, since, now: at(10), baseRows: 100, rows: 100, remainingRows: 10 })).toEqual(none);
    expect(writeRate({ running: false, since, now: at(10), baseRows: 0, rows: 100, remainingRows: 10 })).toEqual(none);
    expect(writeRate({ running: true, since: null, now: at(10), baseRows: 0, rows: 100, remainingRows: 10 })).toEqual(none);
    expect(writeRate({ running: true, since, now: since, baseRows: 0, rows: 100, remainingRows: 10 })).toEqual(none);
  });

  test('no ETA when the rows left are unknown; never negative', () => {
    expect(writeRate({ running: true, since, now: at(2), baseRows: 0, rows: 10, remainingRows: null })).toEqual({ rows_per_second: 5, eta_seconds: null });
    expect(writeRate({ running: true, since, now: at(2), baseRows: 0, rows: 10, remainingRows: -3 }).eta_seconds).toBe(0);
  });
});

test('describeRate: a phrase for the current details, empty without a rate', () => {
  expect(describeRate({ rows_per_second: 12.5, eta_seconds: 5 })).toBe('; 12.5 rows/s, about 5 s left');
  expect(describeRate({ rows_per_second: 800, eta_seconds: 600 })).toBe('; 800 rows/s, about 10 min left');
  expect(describeRate({ rows_per_second: 3, eta_seconds: null })).toBe('; 3 rows/s');
  expect(describeRate({ rows_per_second: null, eta_seconds: null })).toBe('');
  expect(describeRate(undefined)).toBe('');
});
