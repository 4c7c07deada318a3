import { z } from 'zod';

/**
 * The write rate of a running job (API.md "Progress and metrics"), from durable progress only: the rows the database
 * holds as written since the job last went (back) to RUNNING (`since`, with `baseRows` written before it), over the
 * time from then to the database's `now`. Not a worker's memory: any API process gives the same answer, and a worker
 * restart changes nothing. Null when the job is not running, and until a row has been written since `since`.
 */
export interface RateInput {
  running: boolean;
  since: Date | null;
  now: Date;
  /** Rows written when `since` was set. */
  baseRows: number;
  /** Rows written now. */
  rows: number;
  /** Rows still to write (null when unknown: no ETA). */
  remainingRows: number | null;
}

export interface Rate {
  rows_per_second: number | null;
  eta_seconds: number | null;
}

export const rateFieldsSchema = {
  rows_per_second: z
    .number()
    .min(0)
    .nullable()
    .meta({ description: 'rows written per second since the job last went to RUNNING; null until measurable and when not running' }),
  eta_seconds: z.int().min(0).nullable().meta({ description: 'rows left / rows_per_second, rounded up; null with rows_per_second' }),
};

const NO_RATE: Rate = { rows_per_second: null, eta_seconds: null };

export function writeRate(input: RateInput): Rate {
  if (!input.running || !input.since) return NO_RATE;
  const written = input.rows - input.baseRows;
  const seconds = (input.now.getTime() - input.since.getTime()) / 1000;
  if (written <= 0 || seconds <= 0) return NO_RATE;
  const perSecond = written / seconds;
  const eta = input.remainingRows === null ? null : Math.ceil(Math.max(0, input.remainingRows) / perSecond);
  return { rows_per_second: Math.round(perSecond * 100) / 100, eta_seconds: eta };
}
