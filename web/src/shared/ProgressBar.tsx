/** A progress bar: `value` 0..1, or null for "working, no measure yet". */
export function ProgressBar({ value, label, valueText, testId }: { value: number | null; label: string; valueText?: string; testId?: string }) {
  const percent = value === null ? null : Math.round(Math.min(1, Math.max(0, value)) * 1000) / 10;
  return (
    <div
      className={`progress ${percent === null ? 'progress-indeterminate' : ''}`}
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={percent ?? undefined}
      aria-valuetext={valueText ?? (percent === null ? undefined : `${percent}%`)}
      data-testid={testId}
    >
      <div className="progress-fill" style={percent === null ? undefined : { width: `${percent}%` }} />
    </div>
  );
}
