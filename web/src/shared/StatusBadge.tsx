const TONES: Record<string, string> = {
  COMPLETED: 'success',
  SUCCESS: 'success',
  UNDONE: 'success',
  COMPLETED_WITH_ERRORS: 'warning',
  AWAITING_CONFIRMATION: 'warning',
  AWAITING_APPROVAL: 'warning',
  PAUSED: 'warning',
  EXPIRED: 'neutral',
  CANCELLED: 'neutral',
  REJECTED: 'danger',
  FAILED: 'danger',
  FAILURE: 'danger',
  VALIDATING: 'info',
  QUEUED: 'info',
  RUNNING: 'info',
  UNDOING: 'info',
  create: 'success',
  update: 'info',
  unchanged: 'neutral',
  invalid: 'danger',
};

/** A status as the API spells it (unknown ones get the neutral look). */
export function StatusBadge({ status, testId }: { status: string; testId?: string }) {
  return (
    <span className={`badge badge-${TONES[status] ?? 'neutral'}`} data-testid={testId}>
      {status}
    </span>
  );
}
