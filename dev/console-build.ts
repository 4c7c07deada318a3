import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

/**
 * Development machinery: builds the operator console (web/) into web/dist with Vite when the build is missing or
 * older than its sources, so `npm start` and `npm test` serve a current console with no extra step. Production
 * images build it once (`npm run build:web`).
 */

const ROOT = path.resolve(__dirname, '..');
const WEB = path.join(ROOT, 'web');
export const CONSOLE_DIST = path.join(WEB, 'dist');

function newestSourceMtime(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'dist' || entry.name === 'node_modules') continue;
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSourceMtime(full) : fs.statSync(full).mtimeMs);
  }
  return newest;
}

/** Whether web/dist is missing or older than a file of web/ or the lock file. */
export function consoleBuildIsStale(): boolean {
  const index = path.join(CONSOLE_DIST, 'index.html');
  if (!fs.existsSync(index)) return true;
  const built = fs.statSync(index).mtimeMs;
  return newestSourceMtime(WEB) > built || fs.statSync(path.join(ROOT, 'package-lock.json')).mtimeMs > built;
}

/** Runs `vite build` for the console (about 5 s here). */
export async function buildConsole(): Promise<void> {
  const vite = path.join(path.dirname(require.resolve('vite/package.json')), 'bin', 'vite.js');
  await promisify(execFile)(process.execPath, [vite, 'build', '--config', path.join(WEB, 'vite.config.mts')], {
    cwd: ROOT,
    maxBuffer: 16 * 1024 * 1024,
  });
}

/** Builds the console unless web/dist is current; `log` says what it does. Returns web/dist. */
export async function ensureConsoleBuilt(log: (message: string) => void): Promise<string> {
  if (consoleBuildIsStale()) {
    log('building the console (web/)...');
    await buildConsole();
  }
  return CONSOLE_DIST;
}

if (require.main === module) {
  buildConsole().catch((err: unknown) => {
    process.stderr.write(`console build failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
