// The negative replay test's workflows: the test workers' bundle (test/workflows/index.ts), except that importUsersWorkflow
// is the shipped code run with one chunk per child workflow instead of a hundred, as if DEFAULT_CHUNKS_PER_CHILD had
// been changed without a patched(). Runs that started children under the old value cannot replay against it.
import { importUsersWorkflow as shipped } from '../../../workflows/import-users';
import type { ImportUsersInput, ImportUsersResult } from '../../../workflows/import-definitions';

export * from '../../workflows';

export async function importUsersWorkflow(input: ImportUsersInput): Promise<ImportUsersResult> {
  return shipped({ ...input, chunksPerChild: 1 });
}
