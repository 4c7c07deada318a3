/** Import statuses after which nothing changes by itself. */
export const IMPORT_TERMINAL = new Set(['COMPLETED', 'COMPLETED_WITH_ERRORS', 'REJECTED', 'FAILED', 'CANCELLED', 'EXPIRED', 'UNDONE']);
/** Statuses that wait for a person: no fast polling. */
export const IMPORT_WAITING = new Set(['AWAITING_CONFIRMATION']);
export const IMPORT_SLOW_POLL = new Set(['AWAITING_APPROVAL']);
export const IMPORT_CANCELLABLE = new Set(['VALIDATING', 'AWAITING_CONFIRMATION', 'AWAITING_APPROVAL', 'RUNNING', 'PAUSED']);

export const EXPORT_STATUSES = ['QUEUED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'EXPIRED'] as const;
export const EXPORT_TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'EXPIRED']);

/** How often (ms) to poll an import in this status, or false. */
export function importPollInterval(status: string | undefined): number | false {
  if (!status || IMPORT_TERMINAL.has(status) || IMPORT_WAITING.has(status)) return false;
  if (IMPORT_SLOW_POLL.has(status)) return 5000;
  return 1000;
}

export function exportPollInterval(status: string | undefined): number | false {
  if (!status || EXPORT_TERMINAL.has(status)) return false;
  return 1000;
}
