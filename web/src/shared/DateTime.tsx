import { formatDateTime } from './format';

/** A time shown in the operator's locale, with the exact UTC value as a tooltip and machine-readable attribute. */
export function DateTime({ value }: { value: string | null | undefined }) {
  if (!value) return <span className="muted">—</span>;
  return (
    <time dateTime={value} title={value}>
      {formatDateTime(value)}
    </time>
  );
}
