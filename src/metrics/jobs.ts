import { Counter, Histogram, type Registry } from 'prom-client';

/** The jobs the worker runs (label `kind`). */
export type JobKind = 'import' | 'export' | 'undo';

/**
 * What rows_written counts (label `action`): an import's created / updated / unchanged rows, an undo's restored /
 * deleted users and conflicts (users left alone), an export's rows written to its file.
 */
export type RowAction = 'created' | 'updated' | 'unchanged' | 'restored' | 'deleted' | 'conflict' | 'exported';

/**
 * The worker's job metrics, counted by the activities where a job, a chunk or a range ends (handed to them in
 * ActivityDeps). Labels are fixed sets (kind, status, action): never an id, an email or other personal data.
 */
export interface JobMetrics {
  jobStarted(kind: JobKind): void;
  /** `status` is the job's final status as API.md names it (COMPLETED, FAILED, ...); `seconds` its duration. */
  jobFinished(kind: JobKind, status: string, seconds?: number): void;
  rowsWritten(action: RowAction, count: number): void;
  /** A chunk recorded FAILED after its retries (import), or an attempt of an undo chunk that failed. */
  chunkFailed(kind: 'import' | 'undo'): void;
  /** An attempt of an export range activity that failed (it is retried; the export fails once they run out). */
  exportRangeFailed(): void;
}

/** Registers the job metrics (README, "Metrics") in `registry`. */
export function createJobMetrics(registry: Registry): JobMetrics {
  const started = new Counter({
    name: 'kyc_jobs_started_total',
    help: 'Jobs the worker started, by kind (import, export, undo).',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const finished = new Counter({
    name: 'kyc_jobs_finished_total',
    help: 'Jobs that ended, by kind and final status.',
    labelNames: ['kind', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'kyc_job_duration_seconds',
    help: 'Duration of the jobs that ended, from creation (undo: its request) to the end, by kind and final status.',
    labelNames: ['kind', 'status'] as const,
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600],
    registers: [registry],
  });
  const rows = new Counter({
    name: 'kyc_rows_written_total',
    help: 'Rows written by jobs, by action (created, updated, unchanged, restored, deleted, conflict, exported).',
    labelNames: ['action'] as const,
    registers: [registry],
  });
  const chunkFailures = new Counter({
    name: 'kyc_chunk_failures_total',
    help: 'Import chunks recorded FAILED after their retries, and failed attempts of undo chunks, by kind.',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const rangeFailures = new Counter({
    name: 'kyc_export_range_failures_total',
    help: 'Failed attempts of export range activities.',
    registers: [registry],
  });
  // Zero series from the start, so that rate() and alerts see a counter before its first increment.
  for (const kind of ['import', 'export', 'undo'] as const) started.inc({ kind }, 0);
  for (const action of ['created', 'updated', 'unchanged'] as const) rows.inc({ action }, 0);
  chunkFailures.inc({ kind: 'import' }, 0);
  rangeFailures.inc(0);
  return {
    jobStarted: (kind) => started.inc({ kind }),
    jobFinished: (kind, status, seconds) => {
      finished.inc({ kind, status });
      if (seconds !== undefined && Number.isFinite(seconds) && seconds >= 0) duration.observe({ kind, status }, seconds);
    },
    rowsWritten: (action, count) => {
      if (count > 0) rows.inc({ action }, count);
    },
    chunkFailed: (kind) => chunkFailures.inc({ kind }),
    exportRangeFailed: () => rangeFailures.inc(),
  };
}

/** Seconds from `from` to `to` (now when absent), or undefined without a start. */
export function secondsBetween(from: Date | null | undefined, to?: Date | null): number | undefined {
  if (!from) return undefined;
  return ((to ?? new Date()).getTime() - from.getTime()) / 1000;
}
