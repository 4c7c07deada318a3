import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, query } from '../../app/api';
import type { ImportObject, Page, PreviewRow, SavedMapping } from '../../app/types';
import { rememberFile, uploadForm, type UploadOptions } from './uploadOptions';
import { importPollInterval, IMPORT_TERMINAL } from '../../shared/statuses';
import { useJobMutation } from '../../shared/useJobMutation';

export const PREVIEW_PAGE_SIZE = 50;

export const importKeys = {
  all: ['imports'] as const,
  one: (id: string) => ['imports', 'one', id] as const,
  rows: (id: string, action: string, cursor: string | undefined) => ['imports', 'rows', id, action, cursor ?? ''] as const,
  list: (cursor: string | undefined) => ['imports', 'list', cursor ?? ''] as const,
};

const base = '/console/users/imports';

/** The import, polled while it moves by itself; `pollUntil` (ms epoch) forces polling for a while after an action. */
export function useImport(id: string, pollUntil = 0) {
  return useQuery({
    queryKey: importKeys.one(id),
    queryFn: ({ signal }) => api<ImportObject>(`${base}/${encodeURIComponent(id)}`, { signal }),
    refetchInterval: (q) => {
      if (q.state.error) return false;
      const interval = importPollInterval(q.state.data?.status);
      if (interval === false && Date.now() < pollUntil) return 1000;
      return interval;
    },
  });
}

export function useImportRows(id: string, action: string, cursor: string | undefined, enabled = true) {
  return useQuery({
    queryKey: importKeys.rows(id, action, cursor),
    queryFn: ({ signal }) =>
      api<Page<PreviewRow>>(`${base}/${encodeURIComponent(id)}/rows${query({ action, limit: PREVIEW_PAGE_SIZE, cursor })}`, { signal }),
    placeholderData: keepPreviousData,
    staleTime: 60_000,
    enabled,
  });
}

export function useImportList(cursor: string | undefined) {
  return useQuery({
    queryKey: importKeys.list(cursor),
    queryFn: ({ signal }) => api<Page<ImportObject>>(`${base}${query({ limit: 50, cursor })}`, { signal }),
    placeholderData: keepPreviousData,
    // Keep the statuses of running imports fresh while the history is open.
    refetchInterval: (q) => (q.state.data?.results.some((i) => !IMPORT_TERMINAL.has(i.status) && i.status !== 'AWAITING_CONFIRMATION') ? 3000 : false),
  });
}

export function useUpload() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ file, options = {} }: { file: File; options?: UploadOptions }) =>
      api<ImportObject>(base, { method: 'POST', form: uploadForm(file, options) }),
    onSuccess: (imp, { file, options = {} }) => {
      rememberFile(imp.id, file, options);
      qc.setQueryData(importKeys.one(imp.id), imp);
      if (options.save_mapping) void qc.invalidateQueries({ queryKey: mappingKeys.all });
      void qc.invalidateQueries({ queryKey: ['imports', 'list'] });
    },
  });
}

/** confirm, cancel, retry, pause, resume, approve, reject, undo: each answers 202 with the import object. */
export type ImportActionName = 'confirm' | 'cancel' | 'retry' | 'pause' | 'resume' | 'approve' | 'reject' | 'undo';

export function useImportAction(id: string, action: ImportActionName) {
  return useJobMutation('imports', (body?: Record<string, unknown>) =>
    api<ImportObject>(`${base}/${encodeURIComponent(id)}/${action}`, { method: 'POST', ...(body ? { json: body } : {}) }),
  );
}

/** `PATCH {chunk_concurrency}`: how many chunks a running or paused import writes at once (1 to 16). */
export function useChunkConcurrency(id: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (chunkConcurrency: number) =>
      api<ImportObject>(`${base}/${encodeURIComponent(id)}`, { method: 'PATCH', json: { chunk_concurrency: chunkConcurrency } }),
    onSuccess: (imp) => qc.setQueryData(importKeys.one(id), imp),
  });
}

export const mappingKeys = { all: ['import-mappings'] as const };

/** The application's saved mappings (roles with mappings.manage). */
export function useSavedMappings(enabled: boolean) {
  return useQuery({
    queryKey: mappingKeys.all,
    queryFn: ({ signal }) => api<Page<SavedMapping>>('/console/users/import-mappings', { signal }),
    // A mapping is saved when the file is read, after the upload answers: read the list afresh each time it shows.
    refetchOnMount: 'always',
    enabled,
  });
}

export function useDeleteMapping() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => api<void>(`/console/users/import-mappings/${encodeURIComponent(id)}`, { method: 'DELETE' }),
    onSettled: () => void qc.invalidateQueries({ queryKey: mappingKeys.all }),
  });
}
