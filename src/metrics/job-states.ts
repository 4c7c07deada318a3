import { sql } from 'drizzle-orm';
import { Gauge, type Registry } from 'prom-client';
import { EXPORT_STATUSES, IMPORT_STATUSES } from '../../drizzle/schema';
import type { Db } from '../db/client';
import type { Logger } from '../logger';

/**
 * The jobs as the database holds them, read when /metrics is scraped (the API's): how many imports and exports are in
 * each status now, and how long the longest-idle import of a status that should move (VALIDATING, RUNNING,
 * UNDOING) has gone without progress (`imports.progress_at`, the CLI's `imports stuck`). The worker's counters say
 * what happened since it started; these say what is waiting or stuck, whichever process started it, and survive a
 * restart. Labels are fixed sets: never an id.
 */

/** The statuses in which an import should make progress on its own (not waiting for an operator, not PAUSED). */
const MOVING_IMPORT_STATUSES = ['VALIDATING', 'RUNNING', 'UNDOING'] as const;

const STATES_SQL = sql`
  SELECT 'import' AS kind, status, count(*)::int AS jobs,
    CASE WHEN status IN (${sql.join(MOVING_IMPORT_STATUSES.map((s) => sql`${s}`), sql`, `)})
      THEN EXTRACT(EPOCH FROM now() - min(progress_at)) ELSE 0 END::float8 AS idle_seconds
  FROM imports GROUP BY status
  UNION ALL
  SELECT 'export', status, count(*)::int, 0 FROM exports GROUP BY status`;

type StateRow = {
  kind: 'import' | 'export';
  status: string;
  jobs: number;
  idle_seconds: number;
};

/** How often a failing read is logged (a scrape every 15 s while the database is down would log each time). */
const LOG_FAILURE_EVERY_MS = 60_000;

/** Registers kyc_jobs, kyc_import_idle_seconds and kyc_job_states_up in `registry`, read from `db` at each scrape. */
export function registerJobStateMetrics(registry: Registry, db: Db, logger?: Logger): void {
  // A scrape collects every metric at once (prom-client starts all their collects in one tick): they share one read.
  let reading: Promise<StateRow[] | undefined> | undefined;
  let loggedAt = 0;
  const read = () =>
    (reading ??= db
      .execute<StateRow>(STATES_SQL)
      .then(
        (result) => result.rows,
        (err: unknown) => {
          // The database is down (readyz says so too): the scrape still answers, with the process's own metrics.
          if (Date.now() - loggedAt >= LOG_FAILURE_EVERY_MS) {
            loggedAt = Date.now();
            logger?.warn({ err }, 'metrics: the jobs could not be read from the database (kyc_job_states_up 0)');
          }
          return undefined;
        },
      )
      .finally(() => {
        reading = undefined;
      }));

  new Gauge({
    name: 'kyc_job_states_up',
    help: 'Whether this scrape could read the jobs from the database (1) or not (0: kyc_jobs and kyc_import_idle_seconds are left out).',
    registers: [registry],
    async collect() {
      this.set((await read()) ? 1 : 0);
    },
  });
  new Gauge({
    name: 'kyc_jobs',
    help: 'Imports and exports in the database, by kind and current status.',
    labelNames: ['kind', 'status'] as const,
    registers: [registry],
    async collect() {
      const rows = await read();
      this.reset();
      if (!rows) return;
      // Every status is a series, 0 when no job is in it, so that an alert sees the series before the first job.
      for (const status of IMPORT_STATUSES) this.set({ kind: 'import', status }, 0);
      for (const status of EXPORT_STATUSES) this.set({ kind: 'export', status }, 0);
      for (const row of rows) this.set({ kind: row.kind, status: row.status }, row.jobs);
    },
  });
  new Gauge({
    name: 'kyc_import_idle_seconds',
    help: 'Seconds since the longest-idle import in VALIDATING, RUNNING or UNDOING last made progress (0: none is).',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      const rows = await read();
      this.reset();
      if (!rows) return;
      for (const status of MOVING_IMPORT_STATUSES) {
        const row = rows.find((r) => r.kind === 'import' && r.status === status);
        this.set({ status }, Math.max(0, Number(row?.idle_seconds ?? 0)));
      }
    },
  });
}
