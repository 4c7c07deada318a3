import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, query } from '../../app/api';
import type { Page } from '../../app/types';

const base = '/console/webhooks';

/** The events of API.md "Webhooks", in the order the form lists them. */
export const WEBHOOK_EVENTS = [
  'import.awaiting_confirmation',
  'import.awaiting_approval',
  'import.completed',
  'import.failed',
  'import.undone',
  'export.completed',
  'export.failed',
] as const;

export interface Webhook {
  id: string;
  url: string;
  events: string[];
  created_at: string;
}

export interface CreatedWebhook extends Webhook {
  secret: string;
}

export interface WebhookDelivery {
  id: string;
  event_id: string;
  event_type: string;
  attempt: number;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
  created_at: string;
}

export const webhookKeys = {
  list: (cursor: string | undefined) => ['webhooks', 'list', cursor ?? ''] as const,
  deliveries: (id: string, cursor: string | undefined) => ['webhooks', 'deliveries', id, cursor ?? ''] as const,
};

export function useWebhooks(cursor: string | undefined) {
  return useQuery({
    queryKey: webhookKeys.list(cursor),
    queryFn: ({ signal }) => api<Page<Webhook>>(`${base}${query({ limit: 50, cursor })}`, { signal }),
    placeholderData: keepPreviousData,
  });
}

/** The delivery log, polled every 3 s while the page is open (attempts keep coming while deliveries retry). */
export function useDeliveries(id: string, cursor: string | undefined) {
  return useQuery({
    queryKey: webhookKeys.deliveries(id, cursor),
    queryFn: ({ signal }) => api<Page<WebhookDelivery>>(`${base}/${encodeURIComponent(id)}/deliveries${query({ limit: 50, cursor })}`, { signal }),
    placeholderData: keepPreviousData,
    refetchInterval: (q) => (q.state.error || cursor ? false : 3000),
  });
}

export function useCreateWebhook() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: { url: string; events: string[] }) => api<CreatedWebhook>(base, { method: 'POST', json: body }),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['webhooks', 'list'] }),
  });
}

export function useDeleteWebhook() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => api<void>(`${base}/${encodeURIComponent(id)}`, { method: 'DELETE' }),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['webhooks'] }),
  });
}
