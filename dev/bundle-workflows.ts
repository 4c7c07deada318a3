import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';

/**
 * `npm run bundle:workflows -- <file>`: bundles workflows/ once, ahead of the worker, so the worker process does
 * not carry webpack (a worker that bundles at start sits ~130 MB higher). The launcher runs it before it starts the
 * worker; the Dockerfile runs it at build time. The worker takes the file through WORKFLOW_BUNDLE_PATH.
 */
async function run(): Promise<void> {
  const out = process.argv[2];
  if (!out) throw new Error('usage: npm run bundle:workflows -- <output file>');
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    logger: { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
  });
  await mkdir(path.dirname(path.resolve(out)), { recursive: true });
  await writeFile(out, code);
  process.stdout.write(`workflow bundle written to ${out} (${code.length} bytes)\n`);
}

run().catch((err: unknown) => {
  process.stderr.write(`bundling the workflows failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
