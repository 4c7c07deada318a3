import type { Pool } from 'pg';

/**
 * The snapshot time of an incremental export: a time T such that every user row with `updated_at <= T` is committed
 * and visible to any read made from now on, so that the run reading `changed_after < updated_at <= T` and the next
 * one reading `T < updated_at <= ...` together miss no change and hold none twice.
 *
 * Why a wait is needed: every writer of `users.updated_at` (src/users/queries.ts, src/imports/chunks.ts; a new user's
 * created_at and updated_at are both the column default) writes `now()`, the writing transaction's START time, and
 * the column keeps milliseconds (Postgres rounds to the nearest one). A transaction that started before T but commits
 * after the export has read its rows would write an updated_at <= T that this run does not see and the next run
 * (which reads after T) skips: a gap. So:
 *  - T is `date_trunc('milliseconds', clock_timestamp())`: on a millisecond (the column's precision, so T compares
 *    exactly with what is stored and round-trips through JavaScript), and now, so that a run holds every change
 *    committed before it started, as a normal export would (API.md: "each run is a normal export"). It was a second
 *    in the past, which left the changes of the last second before a run to the next one: a user created just before
 *    a schedule's first run was not in its file.
 *  - Then we wait until no other session of this database has a transaction with `xact_start < T + 1 ms`: one that
 *    started up to half a millisecond after T may have had its now() rounded down to T. Once none is left, every row
 *    with updated_at <= T is committed (or rolled back); a transaction starting after this moment has xact_start
 *    after T + 1 ms (it is later than the clock_timestamp() T was taken from), so it writes an updated_at > T, which
 *    the next run holds.
 * pg_stat_activity is read in a transaction of its own each time (its contents are cached per transaction), and needs
 * a role that sees other sessions' xact_start (a superuser, or pg_read_all_stats): README, "Export schedules".
 *
 * Throws when old transactions are still open after `maxWaitMs` (the activity's retry then takes a new snapshot).
 */
export async function takeIncrementalSnapshot(
  pool: Pool,
  options: { maxWaitMs: number; pollMs?: number; onWait?: () => void },
): Promise<Date> {
  const { rows } = await pool.query<{ t: string }>(
    `SELECT to_char(date_trunc('milliseconds', clock_timestamp()) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS t`,
  );
  const snapshot = rows[0].t;
  const deadline = Date.now() + options.maxWaitMs;
  for (;;) {
    const { rows: open } = await pool.query<{ n: string; oldest: Date | null }>(
      `SELECT count(*) AS n, min(xact_start) AS oldest FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
          AND xact_start < $1::timestamptz + interval '1 millisecond'`,
      [snapshot],
    );
    if (Number(open[0].n) === 0) return new Date(snapshot);
    if (Date.now() > deadline) {
      throw new Error(
        `${open[0].n} database transactions that started before the snapshot ${snapshot} are still open (the oldest since ${open[0].oldest?.toISOString()})`,
      );
    }
    options.onWait?.();
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 100));
  }
}
