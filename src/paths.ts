import fs from 'node:fs';
import path from 'node:path';

/**
 * The project's root folder (the one holding its package.json), found from this module's own place, so that the
 * same code finds drizzle/migrations and web/dist whether it runs from the sources (tsx: src/paths.ts) or compiled
 * (`npm run build`: dist/src/paths.js).
 */
function findProjectRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest) && (JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: string }).name === 'kyc-user-bulk') return dir;
    if (path.dirname(dir) === dir) throw new Error(`no kyc-user-bulk package.json above ${from}`);
  }
}

export const PROJECT_ROOT = findProjectRoot(__dirname);

/** Whether this process runs the compiled build (dist/) rather than the TypeScript sources. */
export const RUNS_COMPILED = __filename.endsWith('.js');

/** Where `npm run build` writes the workflow bundle; a compiled worker loads it when it is there and WORKFLOW_BUNDLE_PATH is unset. */
export const BUILT_WORKFLOW_BUNDLE = path.join(PROJECT_ROOT, 'dist/workflow-bundle.js');
