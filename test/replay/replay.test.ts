import { bundleWorkflowCode, DefaultLogger, Worker, type ReplayResult } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import * as shippedWorkflows from '../../workflows';
import * as testWorkflows from '../workflows';
import { createLogger } from '../../src/logger';
import { installTemporalRuntime } from '../../src/temporal/runtime';
import { testEnv } from '../helpers/stack';
import { loadHistories, type LoadedHistory } from './histories';

/**
 * Deploy safety: every recorded history (test/replay/histories/, `npm run replay:record`) replays against the
 * workflows as they are now, bundled from the sources by the global setup as the test workers bundle them
 * (test/workflows/: the production workflows plus the test-only system check, whose history is replayed too); and a
 * deliberately incompatible variant of the import workflow is caught.
 */

jest.setTimeout(120_000);

const histories = loadHistories();

// The SDK's logs at WARN and above, as the other tests have them (not the replay worker's state changes).
installTemporalRuntime(createLogger({ logLevel: 'warn' }, 'temporal'));

/** Replays the histories against a bundle; one result per history, in order. */
async function replay(code: { codePath: string } | { code: string }, list: LoadedHistory[]): Promise<Map<string, ReplayResult>> {
  const results = new Map<string, ReplayResult>();
  const replayed = Worker.runReplayHistories({ workflowBundle: code, replayName: 'deploy-safety' }, list);
  let i = 0;
  for await (const result of replayed) results.set(list[i++].name, result);
  return results;
}

const describeError = (result: ReplayResult | undefined) =>
  result?.error ? `${result.error.name}: ${result.error.message}` : undefined;

test('the recorded histories cover every workflow the worker runs, and the test bundle holds every recorded type', () => {
  const recorded = new Set(histories.map((h) => h.workflowType));
  const missing = Object.keys(shippedWorkflows).filter((name) => !recorded.has(name));
  expect(missing).toEqual([]);
  expect(histories.length).toBeGreaterThanOrEqual(Object.keys(shippedWorkflows).length);
  // The bundle replayed below is the test workers' (a superset of production's); a history of a type it lacks would fail.
  expect([...recorded].filter((name) => !(name in testWorkflows))).toEqual([]);
  expect(Object.keys(shippedWorkflows).every((name) => name in testWorkflows)).toBe(true);
});

test('every recorded history replays against the current workflow code', async () => {
  const results = await replay({ codePath: testEnv().workflowBundlePath }, histories);
  const outcome = Object.fromEntries(histories.map((h) => [h.name, describeError(results.get(h.name)) ?? 'ok']));
  expect(outcome).toEqual(Object.fromEntries(histories.map((h) => [h.name, 'ok'])));
});

// The variants are bundled while the first replay runs.
const bundle = (dir: string) => {
  const bundled = bundleWorkflowCode({ workflowsPath: require.resolve(dir), logger: new DefaultLogger('WARN') });
  bundled.catch(() => undefined);
  return bundled;
};
let incompatibleBundle: Promise<{ code: string }>;
let patchedBundle: Promise<{ code: string }>;
beforeAll(() => {
  incompatibleBundle = bundle('./incompatible');
  patchedBundle = bundle('./patched');
});

test('an incompatible change is caught: a different number of chunks per child workflow', async () => {
  const { code } = await incompatibleBundle;
  const results = await replay({ code }, histories);
  // Exactly the import runs that started a child workflow of several chunks fail, with a nondeterminism error about
  // the child; every other history (other workflows, imports that ended before writing, retries of a single chunk)
  // still replays.
  const startedBatch = (h: LoadedHistory) =>
    (h.history.events ?? []).some((e) => {
      const batch = /-chunks-(\d+)-(\d+)$/.exec(e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId ?? '');
      return batch !== null && batch[1] !== batch[2];
    });
  const expectedToFail = histories.filter((h) => h.workflowType === 'importUsersWorkflow' && startedBatch(h));
  expect(expectedToFail.length).toBeGreaterThanOrEqual(4);
  const failed = histories.filter((h) => results.get(h.name)?.error).map((h) => h.name);
  expect(failed).toEqual(expectedToFail.map((h) => h.name));
  for (const h of expectedToFail) {
    const error = results.get(h.name)?.error;
    expect(error).toBeInstanceOf(DeterminismViolationError);
    expect(error?.message).toMatch(/Nondeterminism error: Child workflow id of scheduled event '.*-chunks-1-\d+' does not match child workflow id of command '.*-chunks-1-1'/);
  }
});

test('the same change behind patched() replays every recorded history', async () => {
  const { code } = await patchedBundle;
  const results = await replay({ code }, histories);
  const outcome = Object.fromEntries(histories.map((h) => [h.name, describeError(results.get(h.name)) ?? 'ok']));
  expect(outcome).toEqual(Object.fromEntries(histories.map((h) => [h.name, 'ok'])));
});
