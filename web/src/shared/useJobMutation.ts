import { useMutation, useQueryClient } from '@tanstack/react-query';

/**
 * A mutation whose answer is a job (an import or an export object): the answer replaces the cached job (its
 * `['<kind>', 'one', id]` query), which is then read afresh (the workflow may have moved on since it answered), and
 * every page of the job history is refreshed.
 */
export function useJobMutation<TJob extends { id: string }, TVariables = void>(
  kind: 'imports' | 'exports',
  mutationFn: (variables: TVariables) => Promise<TJob>,
) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn,
    onSuccess: (job) => {
      qc.setQueryData([kind, 'one', job.id], job);
      void qc.invalidateQueries({ queryKey: [kind, 'one', job.id] });
      void qc.invalidateQueries({ queryKey: [kind, 'list'] });
    },
  });
}
