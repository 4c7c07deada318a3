import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, query } from '../../app/api';
import type { ExportFilters, ExportSchedule, Page } from '../../app/types';
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

/**
 * The body of `PATCH /console/users/export-schedules/{id}`, the fields API.md lets a PATCH change: only those sent
 * change; every or cron replaces the other one; filters replace the schedule's filters whole (`{}`: none).
 */
export interface SchedulePatch {
  paused?: boolean;
  every?: string;
  cron?: string;
  filters?: ExportFilters;
  columns?: string[];
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

function patchSchedule(id: string, patch: SchedulePatch): Promise<ExportSchedule> {
  return api<ExportSchedule>(`${base}/${encodeURIComponent(id)}`, { method: 'PATCH', json: patch });
}

export function useSetPaused() {
  return useInvalidating(({ id, paused }: { id: string; paused: boolean }) => patchSchedule(id, { paused }));
}

export function useUpdateSchedule() {
  return useInvalidating(({ id, patch }: { id: string; patch: SchedulePatch }) => patchSchedule(id, patch));
}

export function useDeleteSchedule() {
  return useInvalidating((id: string) => api<void>(`${base}/${encodeURIComponent(id)}`, { method: 'DELETE' }));
}
