import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, query } from '../../app/api';
import type { ExportObject, Page } from '../../app/types';
import type { ExportSpec } from './ExportSpecFields';
import { exportPollInterval } from '../../shared/statuses';
import { useJobMutation } from '../../shared/useJobMutation';

const base = '/console/users/exports';

export const exportKeys = {
  one: (id: string) => ['exports', 'one', id] as const,
  list: (status: string, cursor: string | undefined) => ['exports', 'list', status, cursor ?? ''] as const,
};

export function useExport(id: string) {
  return useQuery({
    queryKey: exportKeys.one(id),
    queryFn: ({ signal }) => api<ExportObject>(`${base}/${encodeURIComponent(id)}`, { signal }),
    refetchInterval: (q) => (q.state.error ? false : exportPollInterval(q.state.data?.status)),
  });
}

export function useExportList(status: string, cursor: string | undefined) {
  return useQuery({
    queryKey: exportKeys.list(status, cursor),
    queryFn: ({ signal }) => api<Page<ExportObject>>(`${base}${query({ status, limit: 50, cursor })}`, { signal }),
    placeholderData: keepPreviousData,
    refetchInterval: (q) => (q.state.data?.results.some((e) => exportPollInterval(e.status) !== false) ? 3000 : false),
  });
}

/** The body of `POST /console/users/exports`: see ExportSpec (the format options are sent only when not their defaults). */
export type ExportRequest = ExportSpec;

export function useStartExport() {
  return useJobMutation('exports', (body: ExportRequest) => api<ExportObject>(base, { method: 'POST', json: body }));
}

export function useNewLink(id: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: () => api<ExportObject>(`${base}/${encodeURIComponent(id)}/link`, { method: 'POST' }),
    onSuccess: (exp) => qc.setQueryData(exportKeys.one(id), exp),
  });
}

/** cancel (QUEUED / RUNNING), retry (FAILED): each answers 202 with the export object. */
export function useExportAction(id: string, action: 'cancel' | 'retry') {
  return useJobMutation('exports', () => api<ExportObject>(`${base}/${encodeURIComponent(id)}/${action}`, { method: 'POST' }));
}

/** `DELETE .../links` (204): every link of the export stops working at once. */
export function useRevokeLinks(id: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: () => api<void>(`${base}/${encodeURIComponent(id)}/links`, { method: 'DELETE' }),
    onSuccess: () => void qc.invalidateQueries({ queryKey: exportKeys.one(id) }),
  });
}
