import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, query } from '../../app/api';
import type { ExportSchedule, Page } from '../../app/types';
import type { ExportSpec } from '../exports/ExportSpecFields';

const base = '/console/users/export-schedules';

export function useScheduleList(cursor: string | undefined, enabled: boolean) {
  return useQuery({
    enabled,
    queryKey: ['schedules', 'list', cursor ?? ''],
    queryFn: ({ signal }) => api<Page<ExportSchedule>>(`${base}${query({ limit: 50, cursor })}`, { signal }),
    placeholderData: keepPreviousData,
  });
}

/** The body of `POST /console/users/export-schedules`: exactly one of every and cron, and what each run exports. */
export interface ScheduleRequest extends ExportSpec {
  name: string;
  every?: string;
  cron?: string;
  incremental: boolean;
}

function useInvalidating<T, V>(fn: (vars: V) => Promise<T>) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: fn,
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['schedules'] }),
  });
}

export function useCreateSchedule() {
  return useInvalidating((body: ScheduleRequest) => api<ExportSchedule>(base, { method: 'POST', json: body }));
}

export function useSetPaused() {
  return useInvalidating(({ id, paused }: { id: string; paused: boolean }) =>
    api<ExportSchedule>(`${base}/${encodeURIComponent(id)}`, { method: 'PATCH', json: { paused } }),
  );
}

export function useDeleteSchedule() {
  return useInvalidating((id: string) => api<void>(`${base}/${encodeURIComponent(id)}`, { method: 'DELETE' }));
}
