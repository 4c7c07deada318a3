import fs from 'node:fs';
import path from 'node:path';
import type { HistoryAndWorkflowId } from '@temporalio/client';
import { historyFromJSON, type History } from '@temporalio/common/lib/proto-utils';

/**
 * The recorded workflow histories (test fixtures, committed): one folder per recording (`npm run replay:record`),
 * each with its histories in Temporal's JSON form (what `temporal workflow show --output json` and the Web UI's
 * download give) and a manifest, since a history does not hold its workflow id and the import workflow uses it.
 */

export const HISTORIES_DIR = path.join(__dirname, 'histories');
export const MANIFEST = 'manifest.json';

export interface RecordedHistory {
  /** The file in the recording's folder: `<workflow type>-<scenario>.json`. */
  file: string;
  workflowType: string;
  workflowId: string;
  scenario: string;
  /** How the run ended (COMPLETED, CANCELLED, CONTINUED_AS_NEW, ...). */
  status: string;
  events: number;
}

export interface LoadedHistory extends RecordedHistory, HistoryAndWorkflowId {
  /** `<recording>/<file>`. */
  name: string;
  history: History;
}

/** Every recorded history of every recording, in folder and file order. */
export function loadHistories(dir = HISTORIES_DIR): LoadedHistory[] {
  const loaded: LoadedHistory[] = [];
  for (const recording of fs.readdirSync(dir).sort()) {
    const folder = path.join(dir, recording);
    if (!fs.statSync(folder).isDirectory()) continue;
    const manifest = JSON.parse(fs.readFileSync(path.join(folder, MANIFEST), 'utf8')) as RecordedHistory[];
    const files = fs.readdirSync(folder).filter((f) => f.endsWith('.json') && f !== MANIFEST).sort();
    const listed = new Set(manifest.map((m) => m.file));
    const unlisted = files.filter((f) => !listed.has(f));
    if (unlisted.length > 0) throw new Error(`${recording}: ${unlisted.join(', ')} not in ${MANIFEST}`);
    for (const entry of manifest) {
      const history = historyFromJSON(JSON.parse(fs.readFileSync(path.join(folder, entry.file), 'utf8')));
      loaded.push({ ...entry, name: `${recording}/${entry.file}`, history });
    }
  }
  return loaded;
}
