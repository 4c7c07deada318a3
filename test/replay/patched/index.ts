// The same change as test/replay/incompatible/, shipped the way the README says: behind patched(). Runs recorded
// before it take the old branch on replay; new runs take the new one.
import { patched } from '@temporalio/workflow';
import { importUsersWorkflow as shipped } from '../../../workflows/import-users';
import type { ImportUsersInput, ImportUsersResult } from '../../../workflows/import-definitions';

export * from '../../workflows';

export async function importUsersWorkflow(input: ImportUsersInput): Promise<ImportUsersResult> {
  return shipped(patched('one-chunk-per-child') ? { ...input, chunksPerChild: 1 } : input);
}
