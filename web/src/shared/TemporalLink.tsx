import { useMe } from '../app/session';

/** "Open in Temporal Web UI" for a job's workflow, when the API tells where the UI is. */
export function TemporalLink({ workflowId }: { workflowId: string | null | undefined }) {
  const me = useMe();
  const ui = me.temporal_ui;
  if (!workflowId) return <span className="muted">no workflow yet</span>;
  if (!ui?.url) return <code>{workflowId}</code>;
  const base = ui.url.replace(/\/+$/, '');
  // The UI opens the latest run of a workflow id (checked against the dev server's UI 2.42).
  const href = `${base}/namespaces/${encodeURIComponent(ui.namespace || 'default')}/workflows/${encodeURIComponent(workflowId)}`;
  return (
    <span>
      <a href={href} target="_blank" rel="noopener noreferrer">
        Open in Temporal Web UI
      </a>{' '}
      <span className="muted">
        (<code>{workflowId}</code>, opens in a new tab)
      </span>
    </span>
  );
}
